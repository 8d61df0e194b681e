// docs/cli.md says what `--help` says: every flag a client command has is
// described in that command's section (or, for the flags they share, in
// "Connecting"), and a section names no flag its command does not have
// (but serve's, which it may point at).
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include "support/process.hpp"
#include "support/system_helpers.hpp"

using namespace ogf::testing;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> client_commands = {
    "upload", "submit", "watch",  "list",   "get",
    "cancel", "retry",  "delete", "results"};

std::string read_doc() {
  std::ifstream in(std::string(OGF_SOURCE_DIR) + "/docs/cli.md");
  REQUIRE(in);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The text under the heading that starts with `heading`, up to the next
/// heading of the same or a higher level.
std::string section(const std::string& doc, const std::string& heading) {
  auto at = doc.find("\n" + heading);
  REQUIRE(at != std::string::npos);
  auto level = heading.find_first_not_of('#');
  auto end = at + 1;
  for (;;) {
    end = doc.find("\n#", end + 1);
    if (end == std::string::npos)
      break;
    auto next_level = doc.find_first_not_of('#', end + 1) - (end + 1);
    if (next_level <= level)
      break;
  }
  return doc.substr(at,
                    end == std::string::npos ? std::string::npos : end - at);
}

/// The long flags of a --help text ("--server", "--json", ...), but
/// --help itself.
std::set<std::string> help_flags(const std::string& help) {
  std::set<std::string> flags;
  static const std::regex flag(R"((?:^|[ ,])(--[a-z][a-z0-9-]*))");
  std::istringstream lines(help);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("  -", 0) != 0)
      continue; // descriptions may mention other flags
    std::smatch m;
    if (std::regex_search(line, m, flag) && m[1] != "--help")
      flags.insert(m[1]);
  }
  return flags;
}

/// The section of `command`: the "### " heading that names it in
/// backquotes ("### `cancel ID`, `retry ID`, `delete ID`" is retry's too).
std::string command_section(const std::string& doc,
                            const std::string& command) {
  std::istringstream lines(doc);
  std::string line;
  while (std::getline(lines, line))
    if (line.rfind("### ", 0) == 0 &&
        (line.find("`" + command + " ") != std::string::npos ||
         line.find("`" + command + "`") != std::string::npos))
      return section(doc, line);
  FAIL("docs/cli.md has no section for " << command);
  return {};
}

/// The flags a doc text names in backquotes.
std::set<std::string> doc_flags(const std::string& text) {
  std::set<std::string> flags;
  static const std::regex flag(R"(`(--[a-z][a-z0-9-]*))");
  for (std::sregex_iterator it(text.begin(), text.end(), flag), end; it != end;
       ++it)
    flags.insert((*it)[1]);
  return flags;
}

} // namespace

TEST_CASE("docs/cli.md describes every flag of every client command and no "
          "other",
          "[cli]") {
  temp_dir dir{"ogf-cli-docs"};
  auto doc = read_doc();
  auto common = doc_flags(section(doc, "## Connecting"));
  REQUIRE(common.size() >= 7);
  // A section may point at a flag of serve's (--max-body-bytes).
  auto serve_help = run_to_exit({server_binary(), "serve", "--help"}, {},
                                dir.path.string(), 30s);
  REQUIRE(serve_help.exit_code == 0);
  auto serve_flags = help_flags(serve_help.out);
  for (const auto& command : client_commands) {
    auto r = run_to_exit({server_binary(), command, "--help"}, {},
                         dir.path.string(), 30s);
    INFO(command << " --help:\n" << r.out);
    REQUIRE(r.exit_code == 0);
    auto help = help_flags(r.out);
    CHECK(help.size() >= common.size());
    auto own = doc_flags(command_section(doc, command));
    // Flags of a section shared by several commands ("cancel, retry,
    // delete") belong to each of them.
    for (const auto& flag : help) {
      INFO(flag);
      CHECK((common.count(flag) == 1 || own.count(flag) == 1));
    }
    for (const auto& flag : own) {
      INFO("the doc names " << flag << " under " << command);
      CHECK((help.count(flag) == 1 || serve_flags.count(flag) == 1));
    }
    // Every OGF_ variable --help shows is in the doc.
    static const std::regex env(R"(Env:(OGF_[A-Z_]+))");
    for (std::sregex_iterator it(r.out.begin(), r.out.end(), env), end;
         it != end; ++it) {
      INFO((*it)[1]);
      CHECK(doc.find("`" + (*it)[1].str() + "`") != std::string::npos);
    }
  }
}
