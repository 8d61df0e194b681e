// libFuzzer target over everything domain/ does with client input: request
// bodies (submit, activities as JSON and CSV, factors), query strings,
// tenant headers, idempotency keys, page tokens and Authorization headers. The
// first byte picks the parser, the rest is the input, prepared the way the HTTP
// layer prepares it (JSON bodies are read with parse_json_exact, query strings
// are split and percent-decoded like cpp-httplib).
//
// Besides crashes (ASan, UBSan, uncaught exceptions, stack overflow), it
// checks what the validators promise: an accepted value satisfies the rules,
// and a refusal has a known code, a message, and text that is valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "domain/api_key.hpp"
#include "domain/exact_json.hpp"
#include "domain/page_token.hpp"
#include "domain/validation.hpp"

namespace ogf::fuzz {
/// The real unit table (fuzz_unit_check.cpp: units.hpp cannot share a TU
/// with validation.hpp).
bool is_known_unit(std::string_view unit);
} // namespace ogf::fuzz

namespace {

using nlohmann::json;
namespace d = ogf::domain;

/// A broken promise: abort so libFuzzer records the input.
#define FUZZ_EXPECT(cond)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      __builtin_printf("promise broken: %s (%s:%d)\n", #cond, __FILE__,        \
                       __LINE__);                                              \
      std::abort();                                                            \
    }                                                                          \
  } while (0)

enum parser : std::uint8_t {
  submit_body,
  activities_json,
  activities_csv,
  factors_json,
  list_query,
  items_query,
  tenant_header,
  idempotency_key,
  page_tokens,
  authorization,
  parser_count
};

/// Valid UTF-8 as nlohmann/json's strict dump sees it.
bool is_utf8(const std::string& s) {
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::type_error&) {
    return false;
  }
}

/// What every refusal must look like.
void check_refusal(const d::input_error& e) {
  FUZZ_EXPECT(e.code == d::code_invalid_json ||
              e.code == d::code_validation_error ||
              e.code == d::code_unknown_field);
  FUZZ_EXPECT(!e.message.empty());
  FUZZ_EXPECT(is_utf8(e.message));
  FUZZ_EXPECT(is_utf8(e.field));
  FUZZ_EXPECT(e.details.is_null() || e.details.is_object());
  auto details = d::error_details(e);
  FUZZ_EXPECT(details.is_null() || details.is_object());
  // The server writes the body with error_handler_t::replace; a strict dump
  // proves nothing needed replacing.
  (void)details.dump();
}

template <class T, class Check>
void check(const d::result<T>& r, Check on_value) {
  if (r)
    on_value(*r);
  else
    check_refusal(r.error());
}

/// The body as the server parses it (http/handlers.cpp parse_body), or
/// discarded. A refusal must look like every other refusal, and an accepted
/// value must print and read back to the same text: raw numbers keep their
/// digits, and no key can have been named twice.
json parse_body(std::string_view text) {
  auto parsed = d::parse_json_exact(text, d::max_json_depth);
  if (!parsed) {
    check_refusal(parsed.error());
    return json(json::value_t::discarded);
  }
  const auto printed = d::dump_exact(*parsed);
  auto again = d::parse_json_exact(printed, d::max_json_depth);
  FUZZ_EXPECT(again);
  FUZZ_EXPECT(d::dump_exact(*again) == printed);
  return std::move(*parsed);
}

void check_activity(const d::activity& a) {
  FUZZ_EXPECT(d::is_valid_activity_id(a.id));
  FUZZ_EXPECT(d::is_valid_activity_type(a.activity_type));
  FUZZ_EXPECT(d::is_valid_region(a.region));
  FUZZ_EXPECT(ogf::fuzz::is_known_unit(a.unit));
  FUZZ_EXPECT(a.period_start <= a.period_end);
  FUZZ_EXPECT(a.metadata.is_object());
  FUZZ_EXPECT(!a.quantity.empty());
  FUZZ_EXPECT(d::dump_exact(a.metadata).size() <= d::max_metadata_bytes);
}

std::string percent_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 &&
        hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

/// `a=1&b=2&a=3`, split and decoded like cpp-httplib's parse_query_text.
d::query_params split_query(std::string_view text) {
  d::query_params out;
  while (!text.empty()) {
    auto amp = text.find('&');
    auto pair = text.substr(0, amp);
    auto eq = pair.find('=');
    if (!pair.empty())
      out.emplace(percent_decode(pair.substr(0, eq)),
                  eq == std::string_view::npos
                      ? std::string{}
                      : percent_decode(pair.substr(eq + 1)));
    if (amp == std::string_view::npos)
      break;
    text.remove_prefix(amp + 1);
  }
  return out;
}

bool only_chars(std::string_view s, bool (*ok)(char)) {
  for (char c : s)
    if (!ok(c))
      return false;
  return true;
}

void run(parser which, std::string_view input) {
  const d::unit_check units = ogf::fuzz::is_known_unit;
  switch (which) {
  case submit_body: {
    auto body = parse_body(input);
    if (body.is_discarded())
      return;
    check(
        d::parse_submit_request(body, 3, 100), [](const d::submit_request& r) {
          FUZZ_EXPECT(!r.activity_ids.empty() && r.activity_ids.size() <= 100);
          for (const auto& id : r.activity_ids)
            FUZZ_EXPECT(d::is_valid_activity_id(id));
          FUZZ_EXPECT(r.priority >= 1 && r.priority <= 10);
          FUZZ_EXPECT(r.max_retries >= 0 && r.max_retries <= 10);
          FUZZ_EXPECT(r.metadata.is_object());
          FUZZ_EXPECT(d::dump_exact(r.metadata).size() <=
                      d::max_metadata_bytes);
        });
    return;
  }
  case activities_json: {
    auto body = parse_body(input);
    if (body.is_discarded())
      return;
    check(d::parse_activities_json(body, units), [](const auto& rows) {
      FUZZ_EXPECT(!rows.empty());
      for (const auto& a : rows)
        check_activity(a);
    });
    return;
  }
  case activities_csv:
    check(d::parse_activities_csv(input, units), [](const auto& rows) {
      FUZZ_EXPECT(!rows.empty());
      for (const auto& a : rows)
        check_activity(a);
    });
    return;
  case factors_json: {
    auto body = parse_body(input);
    if (body.is_discarded())
      return;
    check(d::parse_factors_json(body, units), [](const auto& rows) {
      FUZZ_EXPECT(!rows.empty());
      for (const auto& f : rows) {
        FUZZ_EXPECT(d::is_valid_activity_id(f.id));
        FUZZ_EXPECT(f.scope >= 1 && f.scope <= 3);
        FUZZ_EXPECT(ogf::fuzz::is_known_unit(f.unit));
        FUZZ_EXPECT(!f.builtin);
      }
    });
    return;
  }
  case list_query:
    check(d::parse_list_query(split_query(input)), [](const d::list_query& q) {
      FUZZ_EXPECT(q.limit >= 1 && q.limit <= 100);
      FUZZ_EXPECT(!q.priority || (*q.priority >= 1 && *q.priority <= 10));
      FUZZ_EXPECT(!(q.offset && q.page_token));
      FUZZ_EXPECT(!q.offset || *q.offset >= 0);
      FUZZ_EXPECT(q.page_token.has_value() == q.after.has_value());
    });
    return;
  case items_query:
    check(d::parse_items_query(split_query(input)),
          [](const d::items_query& q) {
            FUZZ_EXPECT(q.limit >= 1 && q.limit <= 1000);
            FUZZ_EXPECT(!q.after_activity_id ||
                        d::is_valid_activity_id(*q.after_activity_id));
          });
    return;
  case tenant_header:
    if (d::validate_tenant_header(input)) {
      FUZZ_EXPECT(!input.empty() && input.size() <= 64);
      FUZZ_EXPECT(only_chars(input, [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               (c >= '0' && c <= '9') || c == '_' || c == '-';
      }));
    }
    return;
  case idempotency_key:
    if (d::validate_idempotency_key(input)) {
      FUZZ_EXPECT(!input.empty() && input.size() <= 255);
      FUZZ_EXPECT(
          only_chars(input, [](char c) { return c >= 0x20 && c < 0x7F; }));
    }
    return;
  case page_tokens:
    // Strict decoding: a token that decodes is the only encoding of its
    // value, so re-encoding gives the same text back.
    if (auto cursor = d::decode_batch_page_token(input)) {
      FUZZ_EXPECT(d::is_valid_uuid(cursor->id));
      FUZZ_EXPECT(d::encode_batch_page_token(*cursor) == input);
    }
    if (auto after = d::decode_item_page_token(input)) {
      FUZZ_EXPECT(d::is_valid_activity_id(*after));
      FUZZ_EXPECT(d::encode_item_page_token(*after) == input);
    }
    if (auto id = d::normalize_uuid(input))
      FUZZ_EXPECT(d::is_valid_uuid(*id));
    return;
  case authorization: {
    // An accepted header holds exactly one well-formed token, which
    // formats back to the text after the scheme.
    auto t = d::parse_authorization(input);
    if (!t)
      return;
    FUZZ_EXPECT(t->key_id.size() == 16 && t->secret.size() == 64);
    auto text = d::format_token(*t);
    FUZZ_EXPECT(d::parse_token(text).has_value());
    FUZZ_EXPECT(input.find(text) != std::string::npos);
    return;
  }
  case parser_count:
    return;
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  if (size == 0)
    return 0;
  auto which = static_cast<parser>(data[0] % parser_count);
  run(which,
      std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  return 0;
}
