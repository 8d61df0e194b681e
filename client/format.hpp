// Output for people and scripts of the client commands (CONTRACT §5):
// numbers with thousands separators, durations like "1m 05s", progress
// bars sized to a terminal, plain progress lines for pipes, tables that
// fit 80 columns and RFC 4180 CSV fields. Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ogf::client {

/// `n` with a comma every three digits: 12000 -> "12,000", -1234 ->
/// "-1,234".
std::string format_count(std::int64_t n);

/// A decimal number's text (JSON number syntax, as the API sends
/// emissions: "1234567.891234", "0", "1e3") rounded half away from zero to
/// `decimals` digits after the point and grouped: "1,234,567.89". Works on
/// the text, so no digit is lost to a double. Text that is not a number is
/// returned unchanged.
std::string format_decimal(std::string_view number_text, int decimals = 2);

/// Emissions for people: format_decimal(text, 2) + " kg CO2e".
std::string format_kg(std::string_view number_text);

/// A duration for people, rounded to whole seconds: 0 -> "0s", 45 ->
/// "45s", 65 -> "1m 05s", 3725 -> "1h 02m", 93600 -> "1d 02h". Negative
/// values count as 0.
std::string format_duration(double seconds);

/// A rate for people: "0/s", "12.5/s" below 100, "1,234/s" from 100.
std::string format_rate(double per_second);

/// What one progress line or bar shows of a batch: the API's progress
/// object (GET /batches/{id}/progress, SSE `progress` event) or, for the
/// end, its batch object.
struct progress_view {
  std::string batch_id;
  std::string status;
  std::int64_t total = 0;
  std::int64_t processed = 0;
  std::int64_t succeeded = 0;
  std::int64_t failed = 0;
  double percent = 0;             ///< 0..100
  std::string emissions_kg = "0"; ///< the API's number text
  double rate = 0;                ///< activities per second
  std::optional<double> eta_seconds;
};

/// One terminal line of `width` columns at most (no line break, printable
/// ASCII only): the batch id (shortened to its first 8 characters when
/// narrow), a bar of '#' and '-' taking what the text leaves (none below
/// a few columns), percent, processed/total, rate, ETA and kg CO2e, e.g.
/// "3f2a9c1e [########------]  57% 5,700/10,000 1,234/s ETA 4s 1,234.57 kg
/// CO2e". Fields are dropped from the right end when they do not fit, so
/// the line never wraps; width < 20 is treated as 20.
std::string render_progress_bar(const progress_view& p, int width);

/// One line for a pipe or a log (printable ASCII, no line break): "<id>
/// <status> 57.0% 5,700/10,000 succeeded 5,690 failed 10 1,234/s ETA 4s
/// 1,234.57 kg CO2e".
std::string render_progress_line(const progress_view& p);

/// The last line for a batch that ended: "<id> completed: 10,000/10,000
/// succeeded, 0 failed, 12,345.68 kg CO2e in 1m 05s" (under 10 s in
/// tenths: "in 0.3s"; failed and cancelled
/// alike, with the batch's error when it has one). `elapsed_seconds`
/// empty when unknown (no started/completed time).
std::string render_summary_line(const progress_view& p,
                                std::optional<double> elapsed_seconds,
                                const std::string& error = {});

/// A column of a table: its heading and whether its cells are
/// right-aligned (numbers).
struct table_column {
  std::string heading;
  bool right = false;
};

/// A plain-text table: the headings, then one line per row, columns
/// separated by two spaces, each as wide as its widest cell. Lines end
/// with '\n' and carry no trailing spaces. A cell is never cut (ids must
/// stay whole); callers choose columns that fit 80 columns.
std::string render_table(const std::vector<table_column>& columns,
                         const std::vector<std::vector<std::string>>& rows);

/// `field` as one RFC 4180 CSV field: in double quotes (with quotes
/// doubled) when it holds a comma, a quote, CR or LF, or starts or ends
/// with a space; as it is otherwise.
std::string csv_field(std::string_view field);

/// Replaces every control character (C0, DEL, C1 as UTF-8 bytes 0x80..0x9F
/// after 0xC2) and the escape character in text that came from a server
/// (ids, error messages) by '?', so that nothing a server sends can move
/// the cursor or change a terminal's state.
std::string printable(std::string_view text);

} // namespace ogf::client
