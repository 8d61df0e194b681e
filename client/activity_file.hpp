// Reading a user's activities file (CSV with the API's column names, or
// JSON) a piece at a time for `upload` and `submit --csv` (CONTRACT §5):
// a 1 GB file is never held in memory at once. Each piece becomes one
// request body of POST /api/v1/activities, and remembers where its rows
// are in the file so that the server's row error can be named in the
// user's file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ogf::client {

/// One request's worth of activities.
struct activity_chunk {
  /// The request body: for CSV the file's header record and then the
  /// chunk's records, byte for byte as in the file (each record ending in
  /// "\n" or the file's own line end; the BOM and blank lines are left
  /// out); for JSON {"activities":[...]} with each element re-serialised
  /// compactly from the parser's tokens (numbers keep their digits, strings
  /// their value).
  std::string body;
  /// "text/csv" or "application/json".
  std::string content_type;
  /// 1-based number of the chunk's first row in the file: data records
  /// for CSV (the header and blank lines not counted, as the server counts
  /// rows), array elements for JSON. The server's details.row is 1-based
  /// for a CSV body (file row = first_row + row - 1, its line
  /// lines[row - 1]) but the 0-based array index for a JSON body (file row
  /// = first_row + row, its line lines[row]).
  std::int64_t first_row = 1;
  /// For each row of the chunk, the 1-based line of the file where it
  /// starts (CSV records may span lines; JSON elements start where their
  /// '{' is).
  std::vector<std::int64_t> lines;
  /// The `id` of each row, as text: the CSV "id" cell unquoted, or a JSON
  /// element's top-level "id" when it is a string; empty when the row has
  /// none (the server will name it).
  std::vector<std::string> ids;
  /// How far into the file this chunk ends, in bytes, BOM included (for a
  /// progress bar by bytes): just after its last row; the last chunk's is
  /// the file's size.
  std::uint64_t end_offset = 0;
};

/// The file cannot be read as activities: unreadable, not CSV or JSON by
/// its name, a CSV quote never closed, JSON that is not an array of
/// objects or {"activities": [...]}. what() names the file and the line.
class activity_file_error : public std::runtime_error {
public:
  activity_file_error(const std::string& what, std::int64_t line)
      : std::runtime_error(what), line_(line) {}
  /// 1-based line of the problem; 0 when not about a place in the file.
  std::int64_t line() const { return line_; }

private:
  std::int64_t line_;
};

/// Limits of one chunk: at most `max_rows` rows and, unless one row alone
/// is larger, at most `max_bytes` of body.
struct chunk_limits {
  std::size_t max_rows = 10000;
  std::size_t max_bytes = 3 * 1024 * 1024;
};

/// Reads `path` (".csv" or ".json" by its extension, case-insensitive;
/// anything else is an activity_file_error) and calls `on_chunk` for each
/// chunk in file order, holding at most about one chunk in memory. Stops
/// early when on_chunk returns false. Returns the file's size in bytes.
/// A file without rows (empty, header only, "[]") gives no chunk.
/// Errors say "<path>: <what>" or "<path>:<line>: <what>" on one line.
/// CSV: RFC 4180 as the server reads it (domain/validation.hpp,
/// parse_activities_csv): quoted fields may hold commas, "" and line
/// breaks; CRLF or LF; a UTF-8 BOM is skipped; blank lines are skipped and
/// not counted as rows. The header record is repeated at the top of every
/// chunk. Syntax the server refuses inside a record (a quote in an
/// unquoted field, text after a closing quote) is passed on for the server
/// to name by its row; only a quote still open at the end of the file is
/// an error here. JSON: a top-level array of activity objects, or an object
/// with an "activities" array (other keys are an error, found when reached,
/// so earlier chunks may have been handed over already); parsed with
/// nlohmann's SAX parser from the stream. Elements that are not objects are
/// passed on for the server to name.
std::uint64_t
read_activity_file(const std::string& path, const chunk_limits& limits,
                   const std::function<bool(const activity_chunk&)>& on_chunk);

/// The same from a stream; `name` decides the format and names the file in
/// errors.
void read_activities(
    std::istream& in, const std::string& name, const chunk_limits& limits,
    const std::function<bool(const activity_chunk&)>& on_chunk);

/// Activity ids of `--ids-file` (or `--ids`): separated by line breaks
/// (LF or CRLF) and/or commas, surrounding spaces and tabs trimmed, empty
/// entries and lines starting with '#' (after blanks) skipped, a leading
/// UTF-8 BOM ignored. Duplicates are kept (the caller decides).
std::vector<std::string> read_id_list(std::istream& in);

} // namespace ogf::client
