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
  /// "\n" or the file's own line end); for JSON {"activities":[...]} with
  /// each element's text as in the file (numbers keep their digits).
  std::string body;
  /// "text/csv" or "application/json".
  std::string content_type;
  /// 1-based number of the chunk's first row in the file: data records
  /// for CSV (the header and blank lines not counted, as the server counts
  /// rows), array elements for JSON.
  std::int64_t first_row = 1;
  /// For each row of the chunk, the 1-based line of the file where it
  /// starts (CSV records may span lines; JSON elements start where their
  /// '{' is).
  std::vector<std::int64_t> lines;
  /// The `id` of each row, as text; empty when the row has none (the
  /// server will name it).
  std::vector<std::string> ids;
  /// How far into the file this chunk ends, in bytes (for a progress bar
  /// by bytes).
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
/// CSV: RFC 4180 as the server reads it (domain/validation.hpp,
/// parse_activities_csv): quoted fields may hold commas, "" and line
/// breaks; CRLF or LF; a UTF-8 BOM is skipped; blank lines are skipped and
/// not counted as rows. The header record is repeated at the top of every
/// chunk. JSON: a top-level array of activity objects, or an object with
/// an "activities" array (other keys are an error); parsed with nlohmann's
/// SAX parser from the stream.
std::uint64_t
read_activity_file(const std::string& path, const chunk_limits& limits,
                   const std::function<bool(const activity_chunk&)>& on_chunk);

/// The same from a stream; `name` decides the format and names the file in
/// errors.
void read_activities(
    std::istream& in, const std::string& name, const chunk_limits& limits,
    const std::function<bool(const activity_chunk&)>& on_chunk);

/// Activity ids of `--ids-file` (or `--ids`): separated by line breaks
/// and/or commas, surrounding spaces and tabs trimmed, empty entries and
/// lines starting with '#' skipped. Duplicates are kept (the caller
/// decides).
std::vector<std::string> read_id_list(std::istream& in);

} // namespace ogf::client
