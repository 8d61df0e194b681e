// SQL injection guard: reads the production sources and fails when SQL text
// is built from anything but constants. Request data must reach the database
// only as parameters of the named, prepared queries (persistence/sql/*.sql,
// prepared by persistence/batch_store.cpp), never inside the statement text.
//
// What is checked, with comments and string contents understood:
// - every exec / exec0 / exec1 / exec_n / exec_params* call and every
//   prepare() passes SQL text made of string literals only, except the few
//   built statements listed in `allowed_built_sql` below, each with the
//   reason it is safe;
// - every named query in persistence/sql/ takes its input as $n parameters
//   only (no other placeholder syntax, no dynamic SQL, no gap in $1..$n);
// - every prepared-statement call names its statement with a literal that
//   persistence/sql/ defines, and passes as many arguments as the statement
//   has parameters.
// A new built statement fails this test until it is parameterised, or (if
// it truly cannot be, like NOTIFY or SET) reviewed and added to the list.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "persistence/named_queries.hpp"

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
    {"persistence/batch_store.cpp", "q.sql",
     "prepare_all(): each statement of persistence/sql/*.sql, embedded at "
     "build time; this test checks those files"},
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

/// `text` with its string literals blanked out.
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
  return rest;
}

/// True for text made of string literals only (adjacent ones, parentheses).
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

/// The named queries of persistence/sql/*.sql, read from the source tree
/// (the same files the build embeds), fragments substituted.
const std::vector<ogf::persistence::named_query>& named_queries() {
  static const auto queries = [] {
    std::vector<ogf::persistence::sql_file> files;
    for (const auto& e :
         fs::directory_iterator(fs::path(OGF_SOURCE_DIR) / "persistence/sql"))
      if (e.path().extension() == ".sql")
        files.push_back({e.path().filename().string(), read_file(e.path())});
    std::sort(files.begin(), files.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    return ogf::persistence::parse_named_queries(files);
  }();
  return queries;
}

/// `sql` without its comments, string literals ('...') and quoted
/// identifiers ("..."): what is left is the statement's syntax. Dollar
/// quotes ($$...$$) are left in: a function body is code, and is checked.
std::string sql_syntax(const std::string& sql) {
  std::string out;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      i = std::min(sql.find('\n', i), sql.size()) - 1;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      i = std::min(sql.find("*/", i + 2), sql.size() - 2) + 1;
    } else if (c == '\'' || c == '"') {
      auto end = sql.find(c, i + 1);
      i = end == std::string::npos ? sql.size() : end;
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

/// Highest $n of `sql` (0: no parameters); `problems` gets everything that
/// is not plain SQL with $n parameters: a gap in $1..$n, another
/// placeholder syntax (?, :name, %s, {{...}}, ${...}), or dynamic SQL.
int parameters_of(const std::string& sql, std::vector<std::string>& problems) {
  auto syntax = sql_syntax(sql);
  std::set<int> used;
  static const std::regex param(R"(\$([0-9]+))");
  for (std::sregex_iterator it(syntax.begin(), syntax.end(), param), last;
       it != last; ++it)
    used.insert(std::stoi((*it)[1]));
  int highest = used.empty() ? 0 : *used.rbegin();
  for (int n = 1; n <= highest; ++n)
    if (!used.count(n))
      problems.push_back("$" + std::to_string(n) + " unused below $" +
                         std::to_string(highest));
  static const std::pair<std::regex, const char*> forbidden[] = {
      {std::regex(R"(\?)"), "'?' placeholder"},
      {std::regex(R"((^|[^:]):[A-Za-z_])"), "':name' placeholder"},
      {std::regex(R"(%[sdIL])"), "printf-style placeholder"},
      {std::regex(R"(\{\{|\$\{)"), "template placeholder"},
      {std::regex(
           R"(\bEXECUTE\b|\bformat\s*\(|\bquote_(ident|literal|nullable)\b)",
           std::regex::icase),
       "dynamic SQL"},
  };
  for (const auto& [re, what] : forbidden)
    if (std::regex_search(syntax, re))
      problems.push_back(what);
  return highest;
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

TEST_CASE("the SQL scan finds text built with + or from variables or "
          "macros, and ignores literals, parameters and comments") {
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
  REQUIRE(found.size() == 5);
  CHECK(found[0].text == R"("SELECT * FROM t WHERE id = '" + id + "'")");
  CHECK(found[0].where == "sample.cpp:2");
  CHECK(found[1].text == "query");
  // SQL lives in persistence/sql/: a macro hides what it expands to.
  CHECK(found[2].text == R"("SELECT a " "FROM t " OGF_COLUMNS)");
  CHECK(found[3].text == R"("SELECT " + column + " FROM t")");
  CHECK(found[4].text == R"("SELECT ')' " + std::string(name))");
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

TEST_CASE("the parameter scan finds gaps, other placeholders and dynamic "
          "SQL, and ignores casts, literals and comments") {
  auto problems = [](const std::string& sql) {
    std::vector<std::string> found;
    parameters_of(sql, found);
    return found;
  };
  std::vector<std::string> none;
  CHECK(problems("SELECT $1::uuid, '?', \"a:b\", $2 -- :x %s\n") == none);
  CHECK(problems("SELECT 1 /* ${x} */") == none);
  std::vector<std::string> p;
  CHECK(parameters_of("SELECT $2, $1, 'x $9'", p) == 2);
  CHECK(problems("SELECT $1, $3") ==
        std::vector<std::string>{"$2 unused below $3"});
  CHECK(problems("SELECT * FROM t WHERE id = ?") ==
        std::vector<std::string>{"'?' placeholder"});
  CHECK(problems("SELECT * FROM t WHERE id = :id") ==
        std::vector<std::string>{"':name' placeholder"});
  CHECK(problems("SELECT * FROM t WHERE id = %s") ==
        std::vector<std::string>{"printf-style placeholder"});
  CHECK(problems("SELECT ${cols} FROM t") ==
        std::vector<std::string>{"template placeholder"});
  CHECK(problems("SELECT format('SELECT %I', $1)") ==
        std::vector<std::string>{"dynamic SQL"});
  CHECK(problems("DO $$ BEGIN EXECUTE 'x'; END $$") ==
        std::vector<std::string>{"dynamic SQL"});
  CHECK(problems("SELECT run(1) FROM t; execute p") ==
        std::vector<std::string>{"dynamic SQL"});
}

TEST_CASE("the named queries in persistence/sql/ take input as $n "
          "parameters only") {
  const auto& queries = named_queries();
  CHECK(queries.size() >= 20);
  int parameterised = 0;
  for (const auto& q : queries) {
    std::vector<std::string> problems;
    if (parameters_of(q.sql, problems) > 0)
      ++parameterised;
    for (const auto& p : problems)
      UNSCOPED_INFO(q.file << " " << q.name << ": " << p);
    CHECK(problems.empty());
  }
  CHECK(parameterised >= 20); // the scan still finds the parameters
}

TEST_CASE("prepared statements are called by literal names persistence/sql/ "
          "defines, with one argument per parameter") {
  std::map<std::string, int> parameters; // name -> highest $n
  for (const auto& q : named_queries()) {
    std::vector<std::string> ignored;
    parameters[q.name] = parameters_of(q.sql, ignored);
  }
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
      auto known = parameters.find(name.substr(1, name.size() - 2));
      if (known == parameters.end()) {
        bad.push_back({where, name + " is not in persistence/sql/"});
        continue;
      }
      auto given = static_cast<int>(args.size() - name_arg - 1);
      if (given != known->second)
        bad.push_back({where, name + " takes " + std::to_string(known->second) +
                                  " parameters, called with " +
                                  std::to_string(given)});
    }
  }
  for (const auto& f : bad)
    UNSCOPED_INFO(f.where << ": " << f.text);
  CHECK(bad.empty());
  CHECK(calls >= 20);
}
