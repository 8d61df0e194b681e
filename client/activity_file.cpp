#include "client/activity_file.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <streambuf>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

namespace ogf::client {

namespace {

using chunk_handler = std::function<bool(const activity_chunk&)>;

constexpr std::size_t read_block = 64 * 1024;

activity_file_error file_error(const std::string& name, std::int64_t line,
                               const std::string& message) {
  std::string where = line > 0 ? name + ":" + std::to_string(line) : name;
  return activity_file_error(where + ": " + message, line);
}

enum class file_format { csv, json };

file_format format_of(const std::string& name) {
  std::string ext = std::filesystem::path(name).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  if (ext == ".csv")
    return file_format::csv;
  if (ext == ".json")
    return file_format::json;
  throw file_error(name, 0,
                   "not an activities file: the name must end in .csv or "
                   ".json");
}

// -- CSV
// ---------------------------------------------------------------------------

// Splits a CSV stream into records exactly where the server's csv_reader
// (domain/validation.cpp) does, without unquoting them: a record goes to
// the server byte for byte. Only the header's cells and each record's id
// cell are decoded. Syntax the server refuses (a quote inside an unquoted
// field, text after a closing quote) is passed through for the server to
// name with its row; only a quote left open at the end of the file is
// an error here, since it leaves no record to send.
class csv_chunker {
public:
  csv_chunker(const std::string& name, const chunk_limits& limits,
              const chunk_handler& on_chunk)
      : name_(name), limits_(limits), on_chunk_(on_chunk) {}

  // Feeds the next bytes of the file; false once on_chunk said stop.
  bool feed(std::string_view bytes) {
    for (char c : bytes) {
      if (offset_ < bom.size()) {
        // The BOM is only a BOM at the very start; held back until known.
        held_ += c;
        ++offset_;
        if (held_ == bom.substr(0, held_.size())) {
          if (held_.size() == bom.size())
            held_.clear();
          continue;
        }
        if (!release_held())
          return false;
        continue;
      }
      ++offset_;
      if (!step(c))
        return false;
    }
    return true;
  }

  // The end of the file: the last record, then the last chunk.
  void finish() {
    if (!release_held())
      return;
    switch (state_) {
    case state::quoted:
      throw file_error(name_, record_line_,
                       "a quoted field is not closed before the end of the "
                       "file (its record starts on this line)");
    case state::start:
      break;
    case state::start_cr:
      // A lone CR is a field's text to the server, even at the end.
      begin_record();
      record_ = "\r";
      cell('\r');
      [[fallthrough]];
    default:
      // The file's last record may lack a line end; the body's may not,
      // or the next record would join it.
      record_ += '\n';
      if (!end_record())
        return;
    }
    if (rows_ > 0)
      flush(offset_);
  }

private:
  enum class state {
    start,        // between records
    start_cr,     // a CR at the start of a record: blank line or text
    field_start,  // at the start of a field
    unquoted,     // in an unquoted field
    unquoted_cr,  // a CR in an unquoted field: line end if LF follows
    quoted,       // in a quoted field
    quoted_quote, // a quote in a quoted field: "" or the closing one
  };

  static constexpr std::string_view bom = "\xEF\xBB\xBF";

  bool release_held() {
    // Bytes of a would-be BOM that turned out to be text. The offsets they
    // are counted at do not matter: records only end at line breaks.
    std::string held = std::move(held_);
    held_.clear();
    for (char h : held)
      if (!step(h))
        return false;
    return true;
  }

  // One byte of the file after the BOM.
  bool step(char c) {
    switch (state_) {
    case state::start:
      if (c == '\n') {
        ++line_; // a blank line: skipped, not a row
        return true;
      }
      if (c == '\r') {
        state_ = state::start_cr;
        return true;
      }
      begin_record();
      return field_start(c);
    case state::start_cr:
      if (c == '\n') {
        ++line_;
        state_ = state::start;
        return true;
      }
      begin_record();
      record_ += '\r';
      cell('\r');
      state_ = state::unquoted;
      return unquoted(c);
    case state::field_start:
      return field_start(c);
    case state::unquoted:
      return unquoted(c);
    case state::unquoted_cr:
      if (c == '\n')
        return line_end(c);
      cell('\r'); // not a line end: the CR is the cell's text
      state_ = state::unquoted;
      return unquoted(c);
    case state::quoted:
      record_ += c;
      if (c == '"') {
        state_ = state::quoted_quote;
      } else {
        if (c == '\n')
          ++line_;
        cell(c);
      }
      return true;
    case state::quoted_quote:
      if (c == '"') {
        record_ += c;
        cell(c);
        state_ = state::quoted;
        return true;
      }
      state_ = state::unquoted;
      return unquoted(c);
    }
    return true;
  }

  bool field_start(char c) {
    if (c == '"') {
      record_ += c;
      state_ = state::quoted;
      return true;
    }
    state_ = state::unquoted;
    return unquoted(c);
  }

  bool unquoted(char c) {
    if (c == '\n')
      return line_end(c);
    record_ += c;
    if (c == ',') {
      end_field();
      state_ = state::field_start;
    } else if (c == '\r') {
      state_ = state::unquoted_cr;
    } else {
      cell(c);
    }
    return true;
  }

  // The LF that ends a record (alone or after a CR already in record_).
  bool line_end(char c) {
    record_ += c;
    ++line_;
    return end_record();
  }

  void begin_record() {
    record_.clear();
    record_line_ = line_;
    field_ = 0;
    cell_.clear();
    id_.clear();
  }

  // The byte of a cell's decoded text; only the cells the client reads are
  // kept.
  void cell(char c) {
    if (!have_header_ || field_ == id_column_)
      cell_ += c;
  }

  void end_field() {
    if (!have_header_)
      header_.push_back(std::move(cell_));
    else if (field_ == id_column_)
      id_ = std::move(cell_);
    cell_.clear();
    ++field_;
  }

  bool end_record() {
    end_field();
    state_ = state::start;
    if (!have_header_) {
      have_header_ = true;
      header_bytes_ = std::move(record_);
      auto id = std::find(header_.begin(), header_.end(), "id");
      id_column_ = id == header_.end()
                       ? static_cast<std::size_t>(-1)
                       : static_cast<std::size_t>(id - header_.begin());
      header_.clear();
      return true;
    }
    if (rows_ > 0 && (rows_ + 1 > limits_.max_rows ||
                      body_.size() + record_.size() > limits_.max_bytes)) {
      if (!flush(row_end_offset_))
        return false;
    }
    if (rows_ == 0) {
      body_ = header_bytes_;
      chunk_ = activity_chunk{};
      chunk_.content_type = "text/csv";
      chunk_.first_row = next_row_;
    }
    body_ += record_;
    chunk_.lines.push_back(record_line_);
    chunk_.ids.push_back(std::move(id_));
    ++rows_;
    ++next_row_;
    row_end_offset_ = offset_;
    return true;
  }

  bool flush(std::uint64_t end_offset) {
    chunk_.body = std::move(body_);
    chunk_.end_offset = end_offset;
    rows_ = 0;
    body_.clear();
    return on_chunk_(chunk_);
  }

  const std::string& name_;
  const chunk_limits& limits_;
  const chunk_handler& on_chunk_;

  state state_ = state::start;
  std::uint64_t offset_ = 0; // bytes of the file read, BOM included
  std::string held_;
  std::int64_t line_ = 1;

  std::string record_; // the record's bytes as in the file
  std::int64_t record_line_ = 1;
  std::size_t field_ = 0;
  std::string cell_;
  std::string id_;

  bool have_header_ = false;
  std::vector<std::string> header_;
  std::string header_bytes_;
  std::size_t id_column_ = static_cast<std::size_t>(-1);

  activity_chunk chunk_;
  std::string body_;
  std::size_t rows_ = 0;
  std::int64_t next_row_ = 1;
  std::uint64_t row_end_offset_ = 0;
};

void read_csv(std::istream& in, const std::string& name,
              const chunk_limits& limits, const chunk_handler& on_chunk) {
  csv_chunker chunker(name, limits, on_chunk);
  std::array<char, read_block> block;
  for (;;) {
    in.read(block.data(), block.size());
    auto n = static_cast<std::size_t>(in.gcount());
    if (n == 0)
      break;
    if (!chunker.feed(std::string_view(block.data(), n)))
      return;
  }
  if (in.bad())
    throw file_error(name, 0, "read error");
  chunker.finish();
}

// -- JSON
// --------------------------------------------------------------------------

// Counts what the JSON parser has read: bytes for end_offset and line
// breaks for the line each element starts on.
class counting_buf : public std::streambuf {
public:
  explicit counting_buf(std::streambuf* source)
      : source_(source), block_(read_block) {}

  std::uint64_t offset() const {
    return base_ + static_cast<std::uint64_t>(gptr() - eback());
  }

  // Line breaks read so far.
  std::int64_t newlines() {
    count_to(gptr());
    return newlines_;
  }

  // The byte read last (0 before the first).
  char last() const { return gptr() > eback() ? gptr()[-1] : last_of_prev_; }

protected:
  int_type underflow() override {
    if (gptr() < egptr())
      return traits_type::to_int_type(*gptr());
    count_to(egptr());
    if (egptr() > eback())
      last_of_prev_ = egptr()[-1];
    base_ += static_cast<std::uint64_t>(egptr() - eback());
    std::streamsize n = source_->sgetn(
        block_.data(), static_cast<std::streamsize>(block_.size()));
    if (n <= 0) {
      setg(block_.data(), block_.data(), block_.data());
      counted_ = block_.data();
      return traits_type::eof();
    }
    setg(block_.data(), block_.data(), block_.data() + n);
    counted_ = block_.data();
    return traits_type::to_int_type(*gptr());
  }

private:
  void count_to(const char* end) {
    if (counted_ != nullptr && end > counted_)
      newlines_ += std::count(static_cast<const char*>(counted_), end, '\n');
    counted_ = const_cast<char*>(end);
  }

  std::streambuf* source_;
  std::vector<char> block_;
  std::uint64_t base_ = 0;
  std::int64_t newlines_ = 0;
  char* counted_ = nullptr;
  char last_of_prev_ = 0;
};

// Re-serialises each element of the activities array from the parser's
// events, so that the file is never a DOM: an element is text from its
// first token to its last, and a chunk is a string of such texts.
class json_chunker : public nlohmann::json_sax<nlohmann::json> {
public:
  json_chunker(const std::string& name, const chunk_limits& limits,
               const chunk_handler& on_chunk, counting_buf& read)
      : name_(name), limits_(limits), on_chunk_(on_chunk), read_(read) {}

  bool stopped() const { return stopped_; }

  // After a complete parse: the last chunk, ending at the end of the file.
  void finish() {
    if (top_ != top::done)
      throw error("the file ended before its activities did");
    if (rows_ > 0)
      flush(read_.offset());
  }

  bool null() override { return scalar("null"); }
  bool boolean(bool val) override { return scalar(val ? "true" : "false"); }
  bool number_integer(number_integer_t val) override {
    return scalar(std::to_string(val));
  }
  bool number_unsigned(number_unsigned_t val) override {
    return scalar(std::to_string(val));
  }
  bool number_float(number_float_t, const string_t& s) override {
    // The text as written: "0.1" stays "0.1", 20 digits stay 20 digits.
    return scalar(s);
  }
  bool string(string_t& val) override {
    if (in_element() && frames_.size() == 1 && key_is_id_)
      id_ = val;
    return scalar(nlohmann::json(val).dump());
  }
  bool binary(binary_t&) override {
    throw error("binary values are not JSON text");
  }

  bool start_object(std::size_t) override {
    if (top_ == top::start) {
      top_ = top::wrapper;
      return true;
    }
    if (top_ != top::array)
      throw not_an_array();
    open('{', true);
    return true;
  }

  bool key(string_t& val) override {
    if (top_ == top::wrapper) {
      if (val != "activities")
        throw error("the object's only key must be \"activities\", not " +
                    nlohmann::json(val).dump());
      top_ = top::wrapper_value;
      return true;
    }
    if (top_ == top::after_wrapper)
      throw error("the object's only key must be \"activities\", not " +
                  nlohmann::json(val).dump());
    frame& f = frames_.back();
    if (!f.first)
      element_ += ',';
    f.first = false;
    element_ += nlohmann::json(val).dump();
    element_ += ':';
    key_is_id_ = frames_.size() == 1 && val == "id";
    return true;
  }

  bool end_object() override {
    if (top_ == top::wrapper)
      throw error("the object has no \"activities\" array");
    if (top_ == top::after_wrapper) {
      top_ = top::done;
      return true;
    }
    return close('}');
  }

  bool start_array(std::size_t) override {
    if (top_ == top::start || top_ == top::wrapper_value) {
      wrapped_ = top_ == top::wrapper_value;
      top_ = top::array;
      return true;
    }
    open('[', false);
    return true;
  }

  bool end_array() override {
    if (in_element())
      return close(']');
    top_ = wrapped_ ? top::after_wrapper : top::done;
    return true;
  }

  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    // "[json.exception.parse_error.101] parse error at line 2, column 3:
    // ..." without the library's prefix; the line is in it already.
    std::string message = ex.what();
    if (auto close = message.find("] "); close != std::string::npos)
      message.erase(0, close + 2);
    throw activity_file_error(name_ + ": not valid JSON: " + message,
                              read_.newlines() + 1);
  }

private:
  enum class top {
    start,         // nothing read yet
    wrapper,       // in {...}, before "activities"
    wrapper_value, // after "activities":
    array,         // in the activities array
    after_wrapper, // in {...}, after the activities array
    done,
  };

  struct frame {
    bool object;
    bool first = true;
  };

  bool in_element() const { return !frames_.empty(); }

  activity_file_error error(const std::string& message) {
    return file_error(name_, read_.newlines() + 1, message);
  }

  activity_file_error not_an_array() {
    return error("the file must hold an array of activities or an object "
                 "{\"activities\": [...]}");
  }

  // Before a value: a new element when at the array's level, else the
  // comma between values of an array.
  void begin_value() {
    if (top_ != top::array)
      throw not_an_array();
    if (frames_.empty()) {
      element_.clear();
      id_.clear();
      // A number is only known to end at the byte after it: when that was
      // a line break, it is counted already.
      std::int64_t line = read_.newlines() + 1;
      element_line_ = line;
      return;
    }
    frame& f = frames_.back();
    if (!f.object) {
      if (!f.first)
        element_ += ',';
      f.first = false;
    }
  }

  bool scalar(const std::string& text) {
    begin_value();
    if (frames_.empty() && read_.last() == '\n' && is_number(text))
      --element_line_;
    element_ += text;
    key_is_id_ = false;
    return frames_.empty() ? end_element() : true;
  }

  static bool is_number(const std::string& text) {
    return !text.empty() &&
           (text[0] == '-' || (text[0] >= '0' && text[0] <= '9'));
  }

  void open(char bracket, bool object) {
    begin_value();
    element_ += bracket;
    frames_.push_back(frame{object});
    key_is_id_ = false;
  }

  bool close(char bracket) {
    element_ += bracket;
    frames_.pop_back();
    key_is_id_ = false;
    return frames_.empty() ? end_element() : true;
  }

  bool end_element() {
    static constexpr std::string_view prefix = "{\"activities\":[";
    static constexpr std::string_view suffix = "]}";
    if (rows_ > 0 && (rows_ + 1 > limits_.max_rows ||
                      body_.size() + 1 + element_.size() + suffix.size() >
                          limits_.max_bytes)) {
      if (!flush(row_end_offset_)) {
        stopped_ = true;
        return false;
      }
    }
    if (rows_ == 0) {
      body_ = prefix;
      chunk_ = activity_chunk{};
      chunk_.content_type = "application/json";
      chunk_.first_row = next_row_;
    } else {
      body_ += ',';
    }
    body_ += element_;
    chunk_.lines.push_back(element_line_);
    chunk_.ids.push_back(std::move(id_));
    id_.clear();
    ++rows_;
    ++next_row_;
    row_end_offset_ = read_.offset();
    return true;
  }

  bool flush(std::uint64_t end_offset) {
    body_ += "]}";
    chunk_.body = std::move(body_);
    chunk_.end_offset = end_offset;
    body_.clear();
    rows_ = 0;
    return on_chunk_(chunk_);
  }

  const std::string& name_;
  const chunk_limits& limits_;
  const chunk_handler& on_chunk_;
  counting_buf& read_;

  top top_ = top::start;
  bool wrapped_ = false;
  std::vector<frame> frames_; // containers open in the current element
  bool key_is_id_ = false;    // the last key was the element's "id"
  std::string element_;
  std::int64_t element_line_ = 0;
  std::string id_;
  bool stopped_ = false;

  activity_chunk chunk_;
  std::string body_;
  std::size_t rows_ = 0;
  std::int64_t next_row_ = 1;
  std::uint64_t row_end_offset_ = 0;
};

void read_json(std::istream& in, const std::string& name,
               const chunk_limits& limits, const chunk_handler& on_chunk) {
  counting_buf read(in.rdbuf());
  std::istream counted(&read);
  json_chunker chunker(name, limits, on_chunk, read);
  bool complete = nlohmann::json::sax_parse(counted, &chunker);
  if (chunker.stopped() || !complete)
    return;
  chunker.finish();
}

} // namespace

std::uint64_t read_activity_file(const std::string& path,
                                 const chunk_limits& limits,
                                 const chunk_handler& on_chunk) {
  format_of(path); // a wrong name is refused before the file is opened
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec)
    throw file_error(path, 0, "cannot read: " + ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw file_error(path, 0,
                     std::string("cannot read: ") + std::strerror(errno));
  read_activities(in, path, limits, on_chunk);
  return size;
}

void read_activities(std::istream& in, const std::string& name,
                     const chunk_limits& limits,
                     const chunk_handler& on_chunk) {
  if (format_of(name) == file_format::csv)
    read_csv(in, name, limits, on_chunk);
  else
    read_json(in, name, limits, on_chunk);
}

std::vector<std::string> read_id_list(std::istream& in) {
  std::vector<std::string> ids;
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    std::string_view rest = line;
    if (first && rest.substr(0, 3) == "\xEF\xBB\xBF")
      rest.remove_prefix(3);
    first = false;
    auto trim = [](std::string_view s) {
      constexpr std::string_view blank = " \t\r";
      auto b = s.find_first_not_of(blank);
      if (b == std::string_view::npos)
        return std::string_view();
      return s.substr(b, s.find_last_not_of(blank) - b + 1);
    };
    if (trim(rest).substr(0, 1) == "#")
      continue;
    for (;;) {
      auto comma = rest.find(',');
      auto entry = trim(rest.substr(0, comma));
      if (!entry.empty())
        ids.emplace_back(entry);
      if (comma == std::string_view::npos)
        break;
      rest.remove_prefix(comma + 1);
    }
  }
  return ids;
}

} // namespace ogf::client
