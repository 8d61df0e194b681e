// Every Catch2 test case must run under ctest: catch_discover_tests turns
// each name into a ctest test whose command line is a Catch filter. A ';'
// splits the name into two ctest tests that each match nothing (and pass
// without running anything); a leading '-' is taken for a flag, a leading
// '~' negates, '*' is a wildcard and '[' ']' make a tag. Several tests once
// "passed" that way without ever running.
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

namespace fs = std::filesystem;

TEST_CASE("every test case name can be run by ctest as a Catch filter") {
  const std::regex test_case(R"re(TEST_CASE\(((?:\s*"(?:[^"\\]|\\.)*")+))re");
  const std::regex piece(R"re("((?:[^"\\]|\\.)*)")re");
  int names = 0;
  for (const auto& entry :
       fs::recursive_directory_iterator(OGF_SOURCE_DIR "/tests")) {
    if (entry.path().extension() != ".cpp")
      continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    auto source = text.str();
    for (std::sregex_iterator it(source.begin(), source.end(), test_case), end;
         it != end; ++it) {
      std::string literal = (*it)[1];
      std::string name;
      for (std::sregex_iterator p(literal.begin(), literal.end(), piece);
           p != std::sregex_iterator(); ++p)
        name += (*p)[1];
      INFO(entry.path().filename().string() << ": \"" << name << "\"");
      ++names;
      CHECK(name.find(';') == std::string::npos);
      CHECK(name.find_first_of("[]*") == std::string::npos);
      CHECK(!name.empty());
      CHECK(name.front() != '-');
      CHECK(name.front() != '~');
    }
  }
  CHECK(names > 300);
}
