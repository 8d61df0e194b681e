// The client commands against a scripted server: answers the real server
// never gives (odd shapes, huge numbers, hostile text, endless lines) end
// in a clear exit code and one line, never a crash, and text that needs
// CSV quoting is quoted.
#include <algorithm>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>

#include "support/process.hpp"
#include "support/scripted_server.hpp"
#include "support/system_helpers.hpp"

using namespace ogf::testing;
using namespace std::chrono_literals;

namespace {

const std::string batch_id = "0f0e0d0c-0b0a-4908-8706-050403020100";

/// Runs `offgridflow-batch <args>` against `port` in headers mode.
command_output cli(int port, std::vector<std::string> args,
                   const temp_dir& dir) {
  args.insert(args.begin(), server_binary());
  for (const char* a : {"--org", "acme", "--workspace", "main"})
    args.push_back(a);
  args.push_back("--server");
  args.push_back("http://127.0.0.1:" + std::to_string(port));
  auto r = run_to_exit(args, {}, dir.path.string(), 60s);
  UNSCOPED_INFO(args[1] << ": exit " << r.exit_code << "\nstdout: " << r.out
                        << "\nstderr: " << r.err);
  return r;
}

std::size_t line_count(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

bool printable_lines(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return c == '\n' || (c >= 0x20 && c < 0x7f);
  });
}

} // namespace

TEST_CASE("results quotes error text with commas, quotes and line breaks and "
          "keeps every digit",
          "[cli]") {
  temp_dir dir{"ogf-cli-answers"};
  scripted_server s([](httplib::Server& svr) {
    svr.Get(R"(/api/v1/batches/[^/]+/items)",
            [](const httplib::Request&, httplib::Response& res) {
              res.set_content(
                  R"({"items":[{"activity_id":"a-1","status":"failed",)"
                  R"("scope":null,"emissions_kg_co2e":null,"factor_id":null,)"
                  R"("error":"no factor, \"really\"\nnone","attempts":1},)"
                  R"({"activity_id":"a-2","status":"succeeded","scope":2,)"
                  R"("emissions_kg_co2e":12345678901234567.123456,)"
                  R"("factor_id":"f,1","error":null,"attempts":1}],)"
                  R"("next_page_token":null})",
                  "application/json");
            });
  });
  auto r = cli(s.port, {"results", batch_id}, dir);
  CHECK(r.exit_code == 0);
  CHECK(r.out ==
        "activity_id,status,scope,emissions_kg_co2e,factor_id,error\r\n"
        "a-1,failed,,,,\"no factor, \"\"really\"\"\nnone\"\r\n"
        "a-2,succeeded,2,12345678901234567.123456,\"f,1\",\r\n");
}

TEST_CASE("answers of a shape the client does not know end in exit 3 and "
          "one printable line, never a crash",
          "[cli]") {
  temp_dir dir{"ogf-cli-answers"};
  scripted_server s([](httplib::Server& svr) {
    // list: an array instead of an object; get: a huge number and hostile
    // text; cancel: an error whose code is a number; submit: no id.
    svr.Get("/api/v1/batches",
            [](const httplib::Request&, httplib::Response& res) {
              res.set_content("[1,2,3]", "application/json");
            });
    svr.Get(R"(/api/v1/batches/[^/]+)",
            [](const httplib::Request&, httplib::Response& res) {
              res.set_content(R"({"id":"x\u001b]0;owned\u0007",)"
                              R"("status":"processing\u001b[2J",)"
                              R"("total_activities":1e300,)"
                              R"("progress_percent":1e300,)"
                              R"("cancel_requested":null})",
                              "application/json");
            });
    svr.Post(R"(/api/v1/batches/[^/]+/cancel)",
             [](const httplib::Request&, httplib::Response& res) {
               res.status = 404;
               res.set_content(R"({"error":{"code":404,"message":["x"]}})",
                               "application/json");
             });
    svr.Post("/api/v1/batches",
             [](const httplib::Request&, httplib::Response& res) {
               res.status = 201;
               res.set_content(R"({"status":"pending"})", "application/json");
             });
    svr.Get(R"(/api/v1/batches/[^/]+/events)",
            [](const httplib::Request&, httplib::Response& res) {
              // One line longer than the client's 16 MiB limit, in pieces.
              res.set_chunked_content_provider(
                  "text/event-stream",
                  [sent = std::size_t{0}](std::size_t,
                                          httplib::DataSink& sink) mutable {
                    static const std::string piece(1 << 20, 'x');
                    if (sent == 0)
                      sink.write("data: ", 6);
                    if (sent++ < 20)
                      return sink.write(piece.data(), piece.size());
                    sink.done();
                    return true;
                  });
            });
  });

  auto list = cli(s.port, {"list"}, dir);
  CHECK(list.exit_code == 0); // an empty listing: nothing it could show
  CHECK(list.out == "no batches\n");

  auto get = cli(s.port, {"get", batch_id}, dir);
  CHECK(get.exit_code == 0);
  CHECK(printable_lines(get.out));
  CHECK(get.out.find("processing?[2J") != std::string::npos);

  auto cancel = cli(s.port, {"cancel", batch_id}, dir);
  CHECK(cancel.exit_code == 5);
  CHECK(line_count(cancel.err) == 1);
  CHECK(cancel.err.find("HTTP 404") != std::string::npos);

  auto submit = cli(s.port, {"submit", "--ids", "a,b"}, dir);
  CHECK(submit.exit_code == 3);
  CHECK(line_count(submit.err) == 1);
  CHECK(submit.err.find("unexpected answer") != std::string::npos);

  auto watch = cli(s.port, {"watch", batch_id}, dir);
  CHECK(watch.exit_code == 3);
  CHECK(printable_lines(watch.err));
  CHECK(watch.err.find("unreadable event stream") != std::string::npos);
}
