// A parser of text/event-stream (the WHATWG HTML "server-sent events"
// format) for the client's `watch`: fed the bytes as they arrive, in pieces
// of any size, it hands over each complete event.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace ogf::client {

/// Incremental event-stream parser. Lines end with LF, CRLF or CR (also
/// split across pieces); "event:" sets the type (default "message"),
/// "data:" lines are joined with '\n'; one space after the colon is
/// dropped; lines starting with ':' are comments; "id:" and "retry:" are
/// ignored; a blank line dispatches the event unless it had no "data:"
/// line ("data:" alone gives an event with empty data), then resets the
/// type. Unknown fields are ignored; a leading BOM is not skipped (the API
/// sends none). A line, or an event's joined data, longer than `max_line`
/// bytes is an error (std::length_error): a broken server must not grow
/// the client without bound.
class sse_parser {
public:
  using handler =
      std::function<bool(const std::string& event, const std::string& data)>;
  explicit sse_parser(handler on_event, std::size_t max_line = 16 << 20);

  /// Feeds the next bytes. Returns false as soon as the handler does (the
  /// rest of the piece is not read).
  bool feed(std::string_view bytes);

private:
  bool line(std::string_view l);
  handler on_event_;
  std::size_t max_line_;
  std::string partial_;
  bool last_was_cr_ = false;
  std::string event_;
  std::string data_;
  bool has_data_ = false;
};

} // namespace ogf::client
