#include "persistence/named_queries.hpp"

#include <map>
#include <sstream>

namespace ogf::persistence {

namespace {

/// A block as written: its kind, name, body lines and where it starts.
struct block {
  bool fragment = false;
  std::string name;
  std::string body;
  std::string where; ///< "file:line" of its header
};

constexpr const char name_prefix[] = "-- name:";
constexpr const char fragment_prefix[] = "-- fragment:";

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

std::string trimmed(const std::string& s) {
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return {};
  auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

bool is_name(const std::string& s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw named_query_error(where + ": " + what);
}

/// Splits one file into its blocks.
void read_blocks(const sql_file& file, std::vector<block>& out) {
  std::istringstream in(file.text);
  std::string line;
  block* current = nullptr;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    auto where = file.name + ":" + std::to_string(n);
    bool is_fragment = starts_with(line, fragment_prefix);
    if (is_fragment || starts_with(line, name_prefix)) {
      auto name = trimmed(line.substr(is_fragment ? sizeof fragment_prefix - 1
                                                  : sizeof name_prefix - 1));
      if (!is_name(name))
        fail(where, "bad name '" + name + "' (snake_case expected)");
      current = &out.emplace_back(block{is_fragment, name, {}, where});
      continue;
    }
    auto text = trimmed(line);
    if (text.empty() || starts_with(text, "--"))
      continue; // blank lines and comments: the reasoning, not the SQL
    if (current == nullptr)
      fail(where, "SQL before the first '-- name:' or '-- fragment:' line");
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    if (!current->body.empty())
      current->body += '\n';
    current->body += line;
  }
}

/// `b`'s body with every `{{fragment}}` replaced by that fragment's text.
std::string substituted(const block& b,
                        const std::map<std::string, std::string>& fragments) {
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    auto open = b.body.find("{{", pos);
    if (open == std::string::npos)
      break;
    auto close = b.body.find("}}", open + 2);
    if (close == std::string::npos)
      fail(b.where, "'{{' without '}}' in " + b.name);
    auto name = b.body.substr(open + 2, close - open - 2);
    auto it = fragments.find(name);
    if (it == fragments.end())
      fail(b.where, "unknown fragment '{{" + name + "}}' in " + b.name);
    out.append(b.body, pos, open - pos);
    out += it->second;
    pos = close + 2;
  }
  out.append(b.body, pos, std::string::npos);
  return out;
}

} // namespace

std::vector<named_query>
parse_named_queries(const std::vector<sql_file>& files) {
  std::vector<block> blocks;
  for (const auto& f : files)
    read_blocks(f, blocks);
  std::map<std::string, std::string> fragments;
  std::map<std::string, std::string> seen; // name -> where, over both kinds
  for (auto& b : blocks) {
    auto [it, fresh] = seen.emplace(b.name, b.where);
    if (!fresh)
      fail(b.where,
           "duplicate name '" + b.name + "' (first at " + it->second + ")");
    if (!b.fragment) {
      // One trailing ';' ends a statement; the prepared text has none.
      if (!b.body.empty() && b.body.back() == ';')
        b.body.pop_back();
      b.body = trimmed(b.body);
    }
    if (b.body.empty())
      fail(b.where, "empty " +
                        std::string(b.fragment ? "fragment " : "query ") +
                        b.name);
    if (b.fragment) {
      if (b.body.find("{{") != std::string::npos)
        fail(b.where, "fragment " + b.name + " uses a fragment (no nesting)");
      fragments.emplace(b.name, b.body);
    }
  }
  std::vector<named_query> out;
  for (const auto& b : blocks)
    if (!b.fragment)
      out.push_back({b.name, substituted(b, fragments), b.where});
  return out;
}

} // namespace ogf::persistence
