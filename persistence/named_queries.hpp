// The store's SQL, as SQL: every statement lives in persistence/sql/*.sql,
// embedded into the library at build time (like migrations/), and is
// prepared by name once per connection.
//
// A file is a sequence of blocks, each opened by a line
//
//   -- name: <statement_name>     a statement, prepared under that name
//   -- fragment: <fragment_name>  text shared by statements
//
// and running to the next such line. Whole-line `--` comments inside a
// block (the reasoning behind a statement, right after its name line) are
// dropped; before the first block a file may hold only comments. One
// trailing `;` ends a statement. A statement says `{{fragment_name}}` where
// a fragment's text goes; fragments are shared by all files and do not
// nest. Names are snake_case ([a-z0-9_]) and unique over all files.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace ogf::persistence {

/// One file of persistence/sql/, as embedded at build time.
struct sql_file {
  std::string name; ///< e.g. "engine.sql"
  std::string text;
};

/// Every file of persistence/sql/ (sorted by name). Defined in generated
/// code (cmake/embed_sql_files.cmake).
const std::vector<sql_file>& embedded_sql_files();

/// One named statement, fragments substituted.
struct named_query {
  std::string name; ///< the prepared statement's name, e.g. "claim"
  std::string sql;  ///< the text to prepare, without comments or `;`
  std::string file; ///< where it is defined, e.g. "engine.sql:12"
};

/// Thrown by parse_named_queries for a malformed file: text before the
/// first block, a bad or duplicate name, an empty block, an unknown or
/// nested fragment, an unclosed `{{`. The message names file and line.
struct named_query_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The statements of `files`, in file order and then in order of
/// appearance. Throws named_query_error.
std::vector<named_query>
parse_named_queries(const std::vector<sql_file>& files);

} // namespace ogf::persistence
