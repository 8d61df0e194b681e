#include "domain/exact_json.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace ogf::domain {

namespace {

using json = nlohmann::json;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Builds the DOM from nlohmann's SAX events, with raw numbers for what a
// double would round, and refuses what parse_json_exact promises to refuse.
// Iterative (a stack of open containers), like nlohmann's own DOM builder.
class exact_dom_builder {
public:
  explicit exact_dom_builder(std::size_t max_depth) : max_depth_(max_depth) {}

  bool null() { return put(json(nullptr)); }
  bool boolean(bool v) { return put(json(v)); }
  bool number_integer(json::number_integer_t v) { return put(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return put(json(v)); }
  bool number_float(json::number_float_t, const std::string& text) {
    // `text` is the number as the client wrote it (the lexer's token).
    return put(raw_number(text));
  }
  bool string(std::string& v) { return put(json(std::move(v))); }
  bool binary(json::binary_t& v) { return put(json::binary(std::move(v))); }

  bool start_object(std::size_t) { return open(json::object()); }
  bool key(std::string& k) {
    // The object holds every member read so far: a key it already has is
    // named twice.
    const auto& members = open_.back()->get_ref<const json::object_t&>();
    if (members.count(k) != 0) {
      std::string shown;
      for (std::size_t i = 0; i < k.size() && i < 40; ++i)
        shown += k[i] >= 0x20 && k[i] < 0x7F ? k[i] : '?';
      if (k.size() > 40)
        shown += "...";
      message_ = "names the key \"" + shown + "\" twice in one object";
      return false;
    }
    key_ = std::move(k);
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_array() { return close(); }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) {
    // 406: a number that does not fit a double ("1e999").
    message_ = ex.id == 406 ? "is not valid JSON (a number is out of range)"
                            : "is not valid JSON (error at byte " +
                                  std::to_string(position) + ")";
    return false;
  }

  json& root() { return root_; }
  const std::string& message() const { return message_; }

private:
  // Places a finished value and returns where it now lives.
  json* put(json v) {
    if (open_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& parent = *open_.back();
    if (parent.is_array()) {
      auto& elements = parent.get_ref<json::array_t&>();
      elements.push_back(std::move(v));
      return &elements.back();
    }
    auto& members = parent.get_ref<json::object_t&>();
    return &members.emplace(std::move(key_), std::move(v)).first->second;
  }

  bool open(json container) {
    if (open_.size() >= max_depth_) {
      message_ = "nests arrays and objects deeper than " +
                 std::to_string(max_depth_) + " levels";
      return false;
    }
    // Only the innermost open container grows, so the pointers to its
    // ancestors stay valid.
    open_.push_back(put(std::move(container)));
    return true;
  }

  bool close() {
    open_.pop_back();
    return true;
  }

  std::size_t max_depth_;
  json root_;
  std::vector<json*> open_;
  std::string key_;
  std::string message_;
};

// A string as a JSON string literal. Plain printable ASCII, by far the
// common case (ids, statuses, times), is copied as it is; anything else is
// left to nlohmann's escaping and its U+FFFD for invalid UTF-8.
void write_string(std::string& out, const std::string& s) {
  const bool plain = std::all_of(s.begin(), s.end(), [](char c) {
    return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
  });
  if (plain) {
    out += '"';
    out += s;
    out += '"';
    return;
  }
  out += json(s).dump(-1, ' ', false, json::error_handler_t::replace);
}

void write(std::string& out, const json& v) {
  switch (v.type()) {
  case json::value_t::object: {
    out += '{';
    bool first = true;
    for (const auto& [key, value] : v.get_ref<const json::object_t&>()) {
      if (!first)
        out += ',';
      first = false;
      write_string(out, key);
      out += ':';
      write(out, value);
    }
    out += '}';
    return;
  }
  case json::value_t::array: {
    out += '[';
    bool first = true;
    for (const auto& element : v.get_ref<const json::array_t&>()) {
      if (!first)
        out += ',';
      first = false;
      write(out, element);
    }
    out += ']';
    return;
  }
  case json::value_t::binary:
    if (auto text = raw_number_text(v)) {
      out += *text;
      return;
    }
    break;
  case json::value_t::string:
    write_string(out, v.get_ref<const std::string&>());
    return;
  case json::value_t::discarded:
    out += "null";
    return;
  default:
    break;
  }
  out += v.dump(-1, ' ', false, json::error_handler_t::replace);
}

} // namespace

bool is_json_number(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&] {
    const auto start = i;
    while (i < s.size() && is_digit(s[i]))
      ++i;
    return i - start;
  };
  if (i < s.size() && s[i] == '-')
    ++i;
  if (i < s.size() && s[i] == '0')
    ++i;
  else if (digits() == 0)
    return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (digits() == 0)
      return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-'))
      ++i;
    if (digits() == 0)
      return false;
  }
  return i == s.size();
}

json raw_number(std::string_view text) {
  if (!is_json_number(text))
    return nullptr;
  return json::binary(json::binary_t::container_type(text.begin(), text.end()),
                      raw_number_subtype);
}

std::optional<std::string_view> raw_number_text(const json& v) {
  if (!v.is_binary())
    return std::nullopt;
  const auto& bytes = v.get_binary();
  if (!bytes.has_subtype() || bytes.subtype() != raw_number_subtype)
    return std::nullopt;
  return std::string_view{reinterpret_cast<const char*>(bytes.data()),
                          bytes.size()};
}

result<json> parse_json_exact(std::string_view text, std::size_t max_depth) {
  exact_dom_builder builder(max_depth);
  const bool ok = json::sax_parse(text.begin(), text.end(), &builder);
  if (!ok)
    return input_error{code_invalid_json, "",
                       builder.message().empty() ? "is not valid JSON"
                                                 : builder.message(),
                       nullptr};
  return std::move(builder.root());
}

std::string dump_exact(const json& v) {
  std::string out;
  write(out, v);
  return out;
}

} // namespace ogf::domain
