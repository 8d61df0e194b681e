#include "client/format.hpp"

#include <catch2/catch.hpp>

#include <limits>

using namespace ogf::client;

namespace {

progress_view sample_progress() {
  progress_view p;
  p.batch_id = "3f2a9c1e-7b6d-4e0a-9c1b-2d3e4f5a6b7c";
  p.status = "processing";
  p.total = 10000;
  p.processed = 5700;
  p.succeeded = 5690;
  p.failed = 10;
  p.percent = 57;
  p.emissions_kg = "1234.567";
  p.rate = 1234;
  p.eta_seconds = 4;
  return p;
}

bool printable_ascii(const std::string& s) {
  for (char c : s)
    if (c < 0x20 || c > 0x7E)
      return false;
  return true;
}

} // namespace

TEST_CASE("counts get a comma every three digits", "[client]") {
  CHECK(format_count(0) == "0");
  CHECK(format_count(999) == "999");
  CHECK(format_count(1000) == "1,000");
  CHECK(format_count(12000) == "12,000");
  CHECK(format_count(1234567) == "1,234,567");
  CHECK(format_count(-1234) == "-1,234");
  CHECK(format_count(-999) == "-999");
  CHECK(format_count(std::numeric_limits<std::int64_t>::min()) ==
        "-9,223,372,036,854,775,808");
  CHECK(format_count(std::numeric_limits<std::int64_t>::max()) ==
        "9,223,372,036,854,775,807");
}

TEST_CASE("decimals are rounded half away from zero on the text", "[client]") {
  CHECK(format_decimal("1234567.891234") == "1,234,567.89");
  CHECK(format_decimal("0") == "0.00");
  CHECK(format_decimal("0.005") == "0.01");
  CHECK(format_decimal("0.004999") == "0.00");
  CHECK(format_decimal("-0.005") == "-0.01");
  CHECK(format_decimal("2.675") == "2.68"); // a double would say 2.67
  CHECK(format_decimal("999.995") == "1,000.00");
  CHECK(format_decimal("-999.995") == "-1,000.00");
  CHECK(format_decimal("9.999", 0) == "10");
  CHECK(format_decimal("12.5", 0) == "13");
  CHECK(format_decimal("-12.5", 0) == "-13");
  CHECK(format_decimal("1.25", 1) == "1.3");
  CHECK(format_decimal("7", 3) == "7.000");
  CHECK(format_decimal("12345678901234567890.123456789", 6) ==
        "12,345,678,901,234,567,890.123457");
}

TEST_CASE("decimals expand exponents", "[client]") {
  CHECK(format_decimal("1e3") == "1,000.00");
  CHECK(format_decimal("1E+3") == "1,000.00");
  CHECK(format_decimal("1.5E-2") == "0.02");
  CHECK(format_decimal("1.5e-2", 3) == "0.015");
  CHECK(format_decimal("1.2345e2") == "123.45");
  CHECK(format_decimal("-4.5e-3") == "0.00");
  CHECK(format_decimal("-5.5e-3") == "-0.01");
  CHECK(format_decimal("5e-3") == "0.01");
  CHECK(format_decimal("5e-4") == "0.00");
  CHECK(format_decimal("1e-1000000000") == "0.00");
  CHECK(format_decimal("0e5") == "0.00");
  CHECK(format_decimal("0.000e-7") == "0.00");
}

TEST_CASE("a value that rounds to zero loses its minus sign", "[client]") {
  CHECK(format_decimal("-0") == "0.00");
  CHECK(format_decimal("-0.001") == "0.00");
}

TEST_CASE("text that is not a JSON number is returned unchanged", "[client]") {
  for (const char* text : {"", "-", "abc", "1.", ".5", "1e", "1e+", "01", "+1",
                           "1,000", " 1", "1 ", "NaN", "1.2.3", "0x10", "--1"})
    CHECK(format_decimal(text) == text);
  // Expanding this would take a gigabyte.
  CHECK(format_decimal("1e1000000000") == "1e1000000000");
}

TEST_CASE("kilograms carry their unit", "[client]") {
  CHECK(format_kg("12345.678") == "12,345.68 kg CO2e");
  CHECK(format_kg("0") == "0.00 kg CO2e");
}

TEST_CASE("durations round to whole seconds and show two units at most",
          "[client]") {
  CHECK(format_duration(0) == "0s");
  CHECK(format_duration(45) == "45s");
  CHECK(format_duration(59.4) == "59s");
  CHECK(format_duration(59.6) == "1m 00s");
  CHECK(format_duration(65) == "1m 05s");
  CHECK(format_duration(3599) == "59m 59s");
  CHECK(format_duration(3600) == "1h 00m");
  CHECK(format_duration(3725) == "1h 02m");
  CHECK(format_duration(86399) == "23h 59m");
  CHECK(format_duration(93600) == "1d 02h");
  CHECK(format_duration(-5) == "0s");
  CHECK(format_duration(std::numeric_limits<double>::quiet_NaN()) == "0s");
  CHECK_FALSE(format_duration(std::numeric_limits<double>::infinity()).empty());
}

TEST_CASE("rates have one decimal below 100 and none above", "[client]") {
  CHECK(format_rate(0) == "0/s");
  CHECK(format_rate(-3) == "0/s");
  CHECK(format_rate(0.04) == "0/s");
  CHECK(format_rate(12.5) == "12.5/s");
  CHECK(format_rate(3) == "3.0/s");
  CHECK(format_rate(99.94) == "99.9/s");
  CHECK(format_rate(99.96) == "100/s");
  CHECK(format_rate(100) == "100/s");
  CHECK(format_rate(1234.4) == "1,234/s");
}

TEST_CASE("a progress bar fits its width and shows only printable ASCII",
          "[client]") {
  auto p = sample_progress();
  for (int width : {20, 21, 25, 30, 40, 57, 60, 80, 100, 120, 200}) {
    INFO("width " << width);
    auto line = render_progress_bar(p, width);
    CHECK(line.size() <= static_cast<std::size_t>(width));
    CHECK(printable_ascii(line));
    CHECK(line.find('\n') == std::string::npos);
    // The id is always there, at least its first 8 characters.
    CHECK(line.rfind("3f2a9c1e", 0) == 0);
  }
  // Widths below 20 count as 20.
  CHECK(render_progress_bar(p, 5).size() <= 20);
  CHECK(render_progress_bar(p, -1) == render_progress_bar(p, 20));
}

TEST_CASE("a wide progress bar shows every field and the whole id",
          "[client]") {
  auto p = sample_progress();
  auto line = render_progress_bar(p, 200);
  CHECK(line.size() == 200);
  CHECK(line.rfind(p.batch_id + " [", 0) == 0);
  CHECK(line.find("]  57% 5,700/10,000 1,234/s ETA 4s 1,234.57 kg CO2e") !=
        std::string::npos);
  auto at_80 = render_progress_bar(p, 80);
  CHECK(at_80 == "3f2a9c1e [##########---------]  57% 5,700/10,000 1,234/s "
                 "ETA 4s 1,234.57 kg CO2e");
}

TEST_CASE("a narrow progress bar drops fields from the right", "[client]") {
  auto p = sample_progress();
  auto at_40 = render_progress_bar(p, 40);
  CHECK(at_40.size() == 40);
  CHECK(at_40.find("kg CO2e") == std::string::npos);
  CHECK(at_40.find(" 57%") != std::string::npos);
  CHECK(at_40.find('[') != std::string::npos);
  auto at_20 = render_progress_bar(p, 20);
  CHECK(at_20 == "3f2a9c1e [##--]  57%");
}

TEST_CASE("a progress bar at 100 percent shows 100% and a full bar",
          "[client]") {
  auto p = sample_progress();
  p.percent = 100;
  p.processed = p.total;
  p.eta_seconds.reset();
  for (int width : {20, 40, 80, 200}) {
    INFO("width " << width);
    auto line = render_progress_bar(p, width);
    CHECK(line.size() <= static_cast<std::size_t>(width));
    CHECK(line.find("100%") != std::string::npos);
    auto open = line.find('[');
    auto close = line.find(']');
    REQUIRE(open != std::string::npos);
    REQUIRE(close != std::string::npos);
    CHECK(line.substr(open + 1, close - open - 1) ==
          std::string(close - open - 1, '#'));
    CHECK(line.find("ETA") == std::string::npos);
  }
  // Not yet done: not yet 100 %.
  p.percent = 99.7;
  CHECK(render_progress_bar(p, 80).find("99%") != std::string::npos);
}

TEST_CASE("a progress bar replaces what a server should not send", "[client]") {
  auto p = sample_progress();
  p.batch_id = "ab\x1b[2Jcd\xc3\xa9";
  p.emissions_kg = "\x1b]0;x\x07";
  auto line = render_progress_bar(p, 120);
  CHECK(printable_ascii(line));
  CHECK(line.size() <= 120);
  // Out-of-range percent stays in the bar.
  p.percent = 250;
  CHECK(render_progress_bar(p, 60).size() <= 60);
  p.percent = -3;
  CHECK(render_progress_bar(p, 60).find("  0%") != std::string::npos);
}

TEST_CASE("a progress line for a pipe has every field", "[client]") {
  auto p = sample_progress();
  p.batch_id = "b1";
  CHECK(render_progress_line(p) ==
        "b1 processing 57.0% 5,700/10,000 succeeded 5,690 failed 10 1,234/s "
        "ETA 4s 1,234.57 kg CO2e");
  p.eta_seconds.reset();
  p.percent = 99.99;
  CHECK(render_progress_line(p) ==
        "b1 processing 99.9% 5,700/10,000 succeeded 5,690 failed 10 1,234/s "
        "1,234.57 kg CO2e");
}

TEST_CASE("a summary line names the end, the counts and the time", "[client]") {
  progress_view p;
  p.batch_id = "b1";
  p.status = "completed";
  p.total = 10000;
  p.processed = 10000;
  p.succeeded = 10000;
  p.emissions_kg = "12345.678";
  CHECK(render_summary_line(p, 65.0) ==
        "b1 completed: 10,000/10,000 succeeded, 0 failed, 12,345.68 kg CO2e "
        "in 1m 05s");
  p.status = "failed";
  p.succeeded = 9990;
  p.failed = 10;
  CHECK(render_summary_line(p, std::nullopt, "lease lost\x1b[1m") ==
        "b1 failed: 9,990/10,000 succeeded, 10 failed, 12,345.68 kg CO2e "
        "(error: lease lost?[1m)");
}

TEST_CASE("a table aligns columns two spaces apart without trailing spaces",
          "[client]") {
  std::vector<table_column> columns = {
      {"ID", false}, {"STATUS", false}, {"TOTAL", true}, {"NOTE", false}};
  std::vector<std::vector<std::string>> rows = {
      {"b-1", "completed", "10,000", ""},
      {"batch-22", "failed", "7", "lease lost"},
      {"b3"},
  };
  CHECK(render_table(columns, rows) ==
        "ID        STATUS      TOTAL  NOTE\n"
        "b-1       completed  10,000\n"
        "batch-22  failed          7  lease lost\n"
        "b3\n");
  CHECK(render_table(columns, {}) == "ID  STATUS  TOTAL  NOTE\n");
  CHECK(render_table({}, rows).empty());
}

TEST_CASE("a table never cuts a cell and counts UTF-8 as one column each",
          "[client]") {
  std::string long_id(100, 'x');
  auto table = render_table({{"ID"}, {"KG", true}},
                            {{long_id, "1"}, {"caf\xc3\xa9", "22"}});
  CHECK(table.find(long_id + "   1\n") != std::string::npos);
  CHECK(table.find("caf\xc3\xa9" + std::string(96, ' ') + "  22\n") !=
        std::string::npos);
}

TEST_CASE("CSV fields are quoted only when they must be", "[client]") {
  CHECK(csv_field("") == "");
  CHECK(csv_field("plain") == "plain");
  CHECK(csv_field("a,b") == "\"a,b\"");
  CHECK(csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(csv_field("two\nlines") == "\"two\nlines\"");
  CHECK(csv_field("cr\r") == "\"cr\r\"");
  CHECK(csv_field(" lead") == "\" lead\"");
  CHECK(csv_field("trail ") == "\"trail \"");
  CHECK(csv_field("in side") == "in side");
}

TEST_CASE("printable replaces control characters and keeps other UTF-8",
          "[client]") {
  CHECK(printable("plain text") == "plain text");
  CHECK(printable("a\x1b[31mred") == "a?[31mred");
  CHECK(printable("tab\tnew\nline\r") == "tab?new?line?");
  CHECK(printable(std::string("nul\0!", 5)) == "nul?!");
  CHECK(printable("del\x7f") == "del?");
  CHECK(printable("c1 \xc2\x9b"
                  "2J") == "c1 ?2J");
  CHECK(printable("nbsp \xc2\xa0 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
        "nbsp \xc2\xa0 \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  // Bytes that are not UTF-8: a lone 0x9B is CSI to some terminals.
  CHECK(printable("\x9b"
                  "2J") == "?2J");
  CHECK(printable("\xc3") == "?");
  CHECK(printable("\xc0\x9b") == "??");      // overlong
  CHECK(printable("\xed\xa0\x80") == "???"); // surrogate
}
