// SQL injection guard: reads the production sources and fails when SQL text
// is built from anything but constants. Request data must reach the database
// only as parameters of the named, prepared queries
// (persistence/batch_store.cpp), never inside the statement text.
//
// What is checked, with comments and string contents understood:
// - every exec / exec0 / exec1 / exec_n / exec_params* call and every
//   prepare() passes SQL text made of string literals (and OGF_* macros of
//   literals) only, except the few built statements listed in
//   `allowed_built_sql` below, each with the reason it is safe;
// - the named-query table holds literals only;
// - every prepared-statement call names its statement with a literal that
//   the table defines.
// A new built statement fails this test until it is parameterised, or (if
// it truly cannot be, like NOTIFY or SET) reviewed and added to the list.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace fs = std::filesystem;

namespace {

/// Built SQL that was reviewed: file, the argument's text (whitespace
/// collapsed), and why it is safe.
struct reviewed {
  const char* file;
  const char* text;
  const char* why;
};

const reviewed allowed_built_sql[] = {
    {"persistence/batch_store.cpp",
     "\"SET statement_timeout = \" + "
     "std::to_string(cfg_.statement_timeout.count())",
     "a number from the configuration; SET takes no parameters"},
    {"persistence/batch_store.cpp",
     "\"SET lock_timeout = \" + std::to_string(cfg_.lock_timeout.count())",
     "a number from the configuration; SET takes no parameters"},
    {"persistence/batch_store.cpp", "std::string(\"NOTIFY \") + notify_channel",
     "notify_channel is a constexpr identifier; NOTIFY takes no parameters"},
    {"persistence/batch_store.cpp", "sql",
     "prepare_all(): the text of each row of the named-query table, which "
     "this test checks holds literals only"},
    {"persistence/migrations.cpp", "m.up_sql",
     "migrations/*.sql, embedded into the binary at build time"},
    {"persistence/migrations.cpp", "it->down_sql",
     "migrations/*.sql, embedded into the binary at build time"},
};

/// Statement-name arguments that are not literals, by file.
const std::set<std::pair<std::string, std::string>> allowed_names = {
    // exec_checked / exec_checked1 forward their caller's literal name.
    {"persistence/batch_store.cpp", "name"},
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// `src` with comments blanked out (newlines kept, so line numbers hold);
/// string and character literals are kept as they are.
std::string without_comments(const std::string& src) {
  std::string out = src;
  for (std::size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    if (c == '"' || c == '\'') {
      if (c == '"' && i > 0 && out[i - 1] == 'R') { // raw string R"x(...)x"
        auto open = out.find('(', i);
        auto delim = ")" + out.substr(i + 1, open - i - 1) + "\"";
        i = out.find(delim, open) + delim.size() - 1;
        continue;
      }
      for (++i; i < out.size() && out[i] != c; ++i)
        if (out[i] == '\\')
          ++i;
    } else if (c == '/' && i + 1 < out.size() && out[i + 1] == '/') {
      for (; i < out.size() && out[i] != '\n'; ++i)
        out[i] = ' ';
    } else if (c == '/' && i + 1 < out.size() && out[i + 1] == '*') {
      auto end = out.find("*/", i + 2);
      end = end == std::string::npos ? out.size() : end + 2;
      for (; i < end; ++i)
        if (out[i] != '\n')
          out[i] = ' ';
      --i;
    }
  }
  return out;
}

/// Index just past the literal starting at `i` (a '"' or '\'').
std::size_t skip_literal(const std::string& s, std::size_t i) {
  char q = s[i];
  for (++i; i < s.size() && s[i] != q; ++i)
    if (s[i] == '\\')
      ++i;
  return i + 1;
}

/// The top-level arguments of the call whose '(' is at `open`.
std::vector<std::string> call_arguments(const std::string& s,
                                        std::size_t open) {
  std::vector<std::string> args;
  std::string current;
  int depth = 0;
  for (std::size_t i = open + 1; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"' || c == '\'') {
      auto end = skip_literal(s, i);
      current += s.substr(i, end - i);
      i = end - 1;
      continue;
    }
    if (c == '(' || c == '{' || c == '[') {
      ++depth;
    } else if (c == ')' || c == '}' || c == ']') {
      if (depth == 0) {
        args.push_back(current);
        return args;
      }
      --depth;
    } else if (c == ',' && depth == 0) {
      args.push_back(current);
      current.clear();
      continue;
    }
    current += c;
  }
  return args;
}

/// Whitespace runs (outside literals) collapsed to one space, trimmed.
std::string normalized(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"' || c == '\'') {
      auto end = skip_literal(text, i);
      out += text.substr(i, end - i);
      i = end - 1;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (!out.empty() && out.back() != ' ')
        out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

/// `text` with its string literals and OGF_* macro names (macros of this
/// project expand to literals) blanked out.
std::string without_literals(const std::string& text) {
  std::string rest;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '"') {
      i = skip_literal(text, i) - 1;
      rest += ' ';
    } else {
      rest += text[i];
    }
  }
  static const std::regex macro(R"(\bOGF_[A-Z_]+\b)");
  return std::regex_replace(rest, macro, " ");
}

/// True for text made of string literals only (adjacent ones, OGF_* macros
/// of literals, parentheses).
bool only_literals(const std::string& text) {
  return text.find('"') != std::string::npos &&
         without_literals(text).find_first_not_of(" \t\n()") ==
             std::string::npos;
}

int line_of(const std::string& src, std::size_t pos) {
  return 1 + static_cast<int>(std::count(src.begin(), src.begin() + pos, '\n'));
}

struct finding {
  std::string where; ///< file:line
  std::string text;
};

/// Production sources: every directory whose code ships in the binary.
std::vector<fs::path> production_sources() {
  std::vector<fs::path> out;
  const fs::path root = OGF_SOURCE_DIR;
  for (const char* dir :
       {"app", "actors", "common", "domain", "http", "persistence"})
    for (const auto& e : fs::recursive_directory_iterator(root / dir))
      if (e.path().extension() == ".cpp" || e.path().extension() == ".hpp")
        out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string source_name(const fs::path& p) {
  return fs::relative(p, OGF_SOURCE_DIR).generic_string();
}

/// The named-query table of batch_store.cpp: its text (comments removed)
/// and the statement names it defines.
std::pair<std::string, std::set<std::string>> query_table() {
  auto src = without_comments(
      read_file(fs::path(OGF_SOURCE_DIR) / "persistence/batch_store.cpp"));
  auto start = src.find("queries[] = {");
  REQUIRE(start != std::string::npos);
  auto body = src.substr(start + 12);
  std::size_t depth = 0, end = 0;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '"' || body[i] == '\'') {
      i = skip_literal(body, i) - 1;
    } else if (body[i] == '{') {
      ++depth;
    } else if (body[i] == '}' && --depth == 0) {
      end = i + 1;
      break;
    }
  }
  body = body.substr(0, end);
  std::set<std::string> names;
  static const std::regex name_re(R"re(\{\s*"([a-z_0-9]+)"\s*,)re");
  for (std::sregex_iterator it(body.begin(), body.end(), name_re), last;
       it != last; ++it)
    names.insert((*it)[1]);
  return {body, names};
}

/// Calls in `src` (a file's text) whose SQL is not literal, with the text
/// of that argument; `calls` counts the calls with SQL text.
std::vector<finding> built_sql(const std::string& file, const std::string& raw,
                               int& calls) {
  static const std::regex sql_call(
      R"(\b(exec|exec0|exec1|exec_n|exec_params|exec_params0|exec_params1|exec_params_n|prepare)\s*\()");
  std::vector<finding> out;
  auto src = without_comments(raw);
  for (std::sregex_iterator it(src.begin(), src.end(), sql_call), last;
       it != last; ++it) {
    auto open = static_cast<std::size_t>(it->position() + it->length() - 1);
    auto args = call_arguments(src, open);
    // prepare(name, sql): the text is the second argument.
    std::size_t text_arg = (*it)[1] == "prepare" ? 1 : 0;
    if (args.size() <= text_arg)
      continue; // a declaration or a call without text
    ++calls;
    auto text = normalized(args[text_arg]);
    if (!only_literals(text))
      out.push_back({file + ":" + std::to_string(line_of(src, open)), text});
  }
  return out;
}

} // namespace

TEST_CASE("the SQL scan finds text built with + or from variables, and "
          "ignores literals, parameters and comments") {
  const std::string sample = R"(
    tx.exec("SELECT * FROM t WHERE id = '" + id + "'");
    tx.exec(query);
    auto r = tx.exec1(
        "SELECT a "
        "FROM t " OGF_COLUMNS);
    tx.exec_params("SELECT $1, '+'", id);
    conn.prepare("by_id", "SELECT " + column + " FROM t");
    conn.prepare("ok", "SELECT 1");
    tx.exec("SELECT 1" /* + evil */);
    // tx.exec("a" + b);
    tx.exec("SELECT ')' " + std::string(name));
  )";
  int calls = 0;
  auto found = built_sql("sample.cpp", sample, calls);
  CHECK(calls == 8);
  REQUIRE(found.size() == 4);
  CHECK(found[0].text == R"("SELECT * FROM t WHERE id = '" + id + "'")");
  CHECK(found[0].where == "sample.cpp:2");
  CHECK(found[1].text == "query");
  CHECK(found[2].text == R"("SELECT " + column + " FROM t")");
  CHECK(found[3].text == R"("SELECT ')' " + std::string(name))");
}

TEST_CASE("SQL text is never built from request data: every executed or "
          "prepared statement is a literal or a reviewed construction") {
  std::vector<finding> unreviewed;
  std::set<std::string> reviewed_seen;
  int calls = 0;
  for (const auto& path : production_sources()) {
    auto file = source_name(path);
    for (const auto& f : built_sql(file, read_file(path), calls)) {
      bool ok =
          std::any_of(std::begin(allowed_built_sql),
                      std::end(allowed_built_sql), [&](const reviewed& r) {
                        return file == r.file && f.text == r.text;
                      });
      if (ok)
        reviewed_seen.insert(file + ": " + f.text);
      else
        unreviewed.push_back(f);
    }
  }
  for (const auto& f : unreviewed)
    UNSCOPED_INFO("SQL text built at " << f.where << ": " << f.text);
  CHECK(unreviewed.empty());
  CHECK(calls >= 15); // the scan still finds the statements
  // Every reviewed construction still exists (a stale list hides nothing).
  for (const auto& r : allowed_built_sql) {
    INFO(r.file << ": " << r.text << " (" << r.why << ")");
    CHECK(reviewed_seen.count(std::string(r.file) + ": " + r.text) == 1);
  }
}

TEST_CASE("the named-query table holds string literals only") {
  auto [table, names] = query_table();
  CHECK(names.size() >= 20);
  // Without its literals and OGF_* macros (which expand to literals) only
  // braces and commas are left: no variables, calls or '+'.
  auto rest = without_literals(table);
  INFO(rest);
  CHECK(rest.find_first_not_of(" \t\n{},()") == std::string::npos);
}

TEST_CASE("prepared statements are called by literal names the query table "
          "defines") {
  auto names = query_table().second;
  static const std::regex named_call(
      R"(\b(exec_checked1?|exec_prepared|exec_prepared0|exec_prepared1|exec_prepared_n)\s*\()");
  std::vector<finding> bad;
  int calls = 0;
  for (const auto& path : production_sources()) {
    auto file = source_name(path);
    auto src = without_comments(read_file(path));
    for (std::sregex_iterator it(src.begin(), src.end(), named_call), last;
         it != last; ++it) {
      auto open = static_cast<std::size_t>(it->position() + it->length() - 1);
      auto args = call_arguments(src, open);
      // exec_checked(tx, "name", ...); tx.exec_prepared("name", ...)
      std::size_t name_arg =
          std::string((*it)[1]).rfind("exec_checked", 0) == 0 ? 1 : 0;
      if (args.size() <= name_arg)
        continue;
      auto name = normalized(args[name_arg]);
      if (name.find("pqxx::transaction_base&") != std::string::npos ||
          name.rfind("const char*", 0) == 0)
        continue; // the wrappers' own definitions
      ++calls;
      auto where = file + ":" + std::to_string(line_of(src, open));
      if (allowed_names.count({file, name}))
        continue;
      if (name.size() < 2 || name.front() != '"' || name.back() != '"') {
        bad.push_back({where, name + " is not a literal"});
        continue;
      }
      if (!names.count(name.substr(1, name.size() - 2)))
        bad.push_back({where, name + " is not in the query table"});
    }
  }
  for (const auto& f : bad)
    UNSCOPED_INFO(f.where << ": " << f.text);
  CHECK(bad.empty());
  CHECK(calls >= 20);
}
