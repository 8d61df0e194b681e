#include "client/sse.hpp"

#include <stdexcept>
#include <utility>

namespace ogf::client {

sse_parser::sse_parser(handler on_event, std::size_t max_line)
    : on_event_(std::move(on_event)), max_line_(max_line) {}

bool sse_parser::feed(std::string_view bytes) {
  std::size_t pos = 0;
  // A CR that ended the previous piece already ended its line; the LF of
  // its CRLF must not end another (empty) line and dispatch early.
  if (last_was_cr_ && !bytes.empty()) {
    last_was_cr_ = false;
    if (bytes[0] == '\n')
      pos = 1;
  }
  while (pos < bytes.size()) {
    std::size_t end = bytes.find_first_of("\r\n", pos);
    std::size_t stop = end == std::string_view::npos ? bytes.size() : end;
    if (partial_.size() + (stop - pos) > max_line_)
      throw std::length_error("event stream: a line is longer than " +
                              std::to_string(max_line_) + " bytes");
    if (end == std::string_view::npos) {
      partial_.append(bytes.substr(pos));
      return true;
    }
    bool ok;
    if (partial_.empty()) {
      ok = line(bytes.substr(pos, end - pos));
    } else {
      partial_.append(bytes.substr(pos, end - pos));
      // Moved out first: the handler may feed nothing, but line() must not
      // see partial_ change under it.
      std::string whole = std::move(partial_);
      partial_.clear();
      ok = line(whole);
    }
    pos = end + 1;
    if (bytes[end] == '\r') {
      if (pos < bytes.size()) {
        if (bytes[pos] == '\n')
          ++pos;
      } else {
        last_was_cr_ = true;
      }
    }
    if (!ok)
      return false;
  }
  return true;
}

bool sse_parser::line(std::string_view l) {
  if (l.empty()) {
    // WHATWG: an event without any data line is not dispatched; "data:"
    // alone is an event with empty data.
    bool had_data = has_data_;
    std::string event = event_.empty() ? "message" : std::move(event_);
    std::string data = std::move(data_);
    event_.clear();
    data_.clear();
    has_data_ = false;
    if (!had_data)
      return true;
    return on_event_(event, data);
  }
  if (l.front() == ':')
    return true; // a comment (servers send them to keep the stream alive)
  std::string_view field = l;
  std::string_view value;
  if (auto colon = l.find(':'); colon != std::string_view::npos) {
    field = l.substr(0, colon);
    value = l.substr(colon + 1);
    if (!value.empty() && value.front() == ' ')
      value.remove_prefix(1);
  }
  if (field == "event") {
    event_.assign(value);
  } else if (field == "data") {
    if (has_data_)
      data_ += '\n';
    // Many short data lines without a blank one grow an event as surely as
    // one long line.
    if (data_.size() + value.size() > max_line_)
      throw std::length_error("event stream: an event's data is longer than " +
                              std::to_string(max_line_) + " bytes");
    data_.append(value);
    has_data_ = true;
  }
  // "id" and "retry" (and unknown fields) are ignored: `watch` reconnects
  // by asking for the current progress, not by Last-Event-ID.
  return true;
}

} // namespace ogf::client
