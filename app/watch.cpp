#include "app/watch.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <sys/ioctl.h>
#include <unistd.h>

#include "app/client_json.hpp"
#include "client/format.hpp"
#include "domain/exact_json.hpp"

namespace ogf::app {

namespace {

using clock_type = std::chrono::steady_clock;
using client::failure_kind;
using client::request_error;
using nlohmann::json;

/// Set by SIGINT while watching; the drawing loop looks at it.
std::atomic<bool> interrupted{false};

extern "C" void on_sigint(int) {
  interrupted = true;
}

/// What is known of one batch, shared by its follower (writer) and the
/// drawing loop (reader) under watch_state::mutex.
struct batch_state {
  std::string id;
  client::progress_view view;
  bool changed = true;  ///< since it was last written
  bool ended = false;   ///< reached a terminal status
  json final_batch;     ///< the batch object at its end
  std::string note;     ///< "connecting", "reconnecting", "polling"
  int failure_exit = 0; ///< 3, 4 or 5 when following it failed for good
  std::string failure;  ///< why, one line
  clock_type::time_point last_written{};
  json progress; ///< the last progress object, exact, for --json
};

/// At most this many batches are followed at once, each by a thread with
/// its own connection and event stream; the others wait their turn (in
/// the order given, which is about the order they run in). A server gives
/// one tenant only a share of its streams, and 1,500 batches of a large
/// file must not become 1,500 threads.
constexpr std::size_t max_followers = 8;

struct watch_state {
  std::mutex mutex;
  std::vector<std::unique_ptr<batch_state>> batches;
  std::atomic<std::size_t> next{0}; ///< the next batch to follow
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> workers_done{0};
};

void apply_progress(batch_state& b, const json& p) {
  auto& v = b.view;
  v.status = string_field(p, "status", v.status);
  v.total = int_field(p, "total");
  v.processed = int_field(p, "processed");
  v.succeeded = int_field(p, "succeeded");
  v.failed = int_field(p, "failed");
  v.percent = number_field(p, "percent");
  v.emissions_kg = number_text(p, "emissions_kg_co2e");
  v.rate = number_field(p, "throughput_per_second");
  if (p.contains("eta_seconds") && !p["eta_seconds"].is_null())
    v.eta_seconds = number_field(p, "eta_seconds");
  else
    v.eta_seconds.reset();
  b.progress = p;
  b.note.clear();
  b.changed = true;
}

void apply_batch(batch_state& b, const json& batch) {
  b.view = progress_of_batch(batch);
  b.note.clear();
  b.changed = true;
  if (is_terminal_status(b.view.status)) {
    b.ended = true;
    b.final_batch = batch;
  }
}

/// Reads one batch until it ends: its event stream, reconnected when it
/// drops; /progress once a second while the stream cannot be opened.
class follower {
public:
  follower(watch_state& state, batch_state& batch, client::connection& conn,
           const watch_output& output)
      : state_(state), batch_(batch), output_(output), conn_(conn) {}

  void run() {
    try {
      follow();
    } catch (const std::exception& e) {
      // An answer the client cannot read (a malformed stream, a line over
      // the parser's limit): this batch cannot be followed, the others go
      // on.
      update([&] {
        batch_.failure_exit = 3;
        batch_.failure =
            "unexpected answer from the server: " + client::printable(e.what());
      });
    }
  }

private:
  void follow() {
    auto base = "/api/v1/batches/" + client::url_encode(batch_.id);
    std::optional<clock_type::time_point> failing_since;
    bool first = true;
    while (!state_.stop) {
      try {
        if (first || failing_since) {
          // The batch as it is: an unknown id fails here, and a batch that
          // has ended needs no stream.
          auto b = conn_.get(base).json;
          update([&] { apply_batch(batch_, b); });
          first = false;
          // The server answers: only time when it does not counts towards
          // give_up_after (a stream refused by the tenant's stream cap is
          // followed by polling for as long as it takes).
          failing_since.reset();
          if (ended())
            return;
        }
        auto opened = clock_type::now();
        conn_.stream_events(base + "/events", [&](const std::string& event,
                                                  const std::string& data) {
          if (state_.stop)
            return false;
          auto parsed = domain::parse_json_exact(data);
          if (!parsed || !parsed.value().is_object())
            return true; // not ours to judge; the next event will do
          const auto& j = parsed.value();
          if (event == "progress")
            update([&] { apply_progress(batch_, j); });
          else if (event == "done")
            update([&] { apply_batch(batch_, j); });
          failing_since.reset();
          return true;
        });
        if (ended())
          return;
        // The stream ended without `done` (a node stopping, a proxy's
        // timeout): see where the batch is, then reconnect; not at once
        // when it was short, so that a server ending every stream at once
        // is not asked a hundred times a second.
        update([&] { batch_.note = "reconnecting"; });
        failing_since = clock_type::now();
        if (clock_type::now() - opened < std::chrono::seconds(1))
          pause(std::chrono::seconds(1));
      } catch (const request_error& e) {
        if (state_.stop)
          return;
        // A server never reached at all is not waited for: the command
        // says so at once (exit 3).
        bool lasting =
            e.kind() == failure_kind::auth ||
            (e.kind() == failure_kind::client && e.status() != 429) ||
            (first && e.kind() == failure_kind::unreachable);
        if (!failing_since)
          failing_since = clock_type::now();
        if (lasting ||
            clock_type::now() - *failing_since >= output_.give_up_after) {
          update([&] {
            batch_.failure_exit = exit_code_of(e);
            batch_.failure = e.what();
          });
          return;
        }
        if (poll_progress(base))
          failing_since.reset();
        if (ended())
          return;
        pause(std::chrono::seconds(1));
      }
    }
  }

  template <class F>
  void update(F f) {
    std::lock_guard<std::mutex> lock(state_.mutex);
    f();
  }

  bool ended() {
    std::lock_guard<std::mutex> lock(state_.mutex);
    return batch_.ended;
  }

  /// One look at /progress (and at the batch when it has ended) while the
  /// stream is not open; whether the server answered.
  bool poll_progress(const std::string& base) {
    try {
      auto p = conn_.get(base + "/progress").json;
      update([&] {
        apply_progress(batch_, p);
        batch_.note = "polling";
      });
      if (is_terminal_status(string_field(p, "status", ""))) {
        auto b = conn_.get(base).json;
        update([&] { apply_batch(batch_, b); });
      }
      return true;
    } catch (const request_error&) {
      update([&] { batch_.note = "reconnecting"; });
      return false;
    }
  }

  void pause(std::chrono::milliseconds d) {
    auto until = clock_type::now() + d;
    while (!state_.stop && clock_type::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  watch_state& state_;
  batch_state& batch_;
  const watch_output& output_;
  client::connection& conn_;
};

void write_out(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

int terminal_rows() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0)
    return ws.ws_row;
  return 24;
}

/// Draws the bars, in place of the ones drawn before.
class bar_painter {
public:
  void draw(const std::vector<std::unique_ptr<batch_state>>& batches) {
    int width = std::max(20, terminal_width() - 1); // never the last column
    std::size_t room =
        static_cast<std::size_t>(std::max(1, terminal_rows() - 2));
    std::vector<std::string> lines;
    std::size_t shown = std::min(batches.size(), room);
    if (shown < batches.size())
      --shown; // keep a line to say how many are not shown
    for (std::size_t i = 0; i < shown; ++i) {
      const auto& b = *batches[i];
      if (b.view.status == "waiting") {
        auto line = client::printable(b.id) + " waiting for the server";
        lines.push_back(line.substr(0, static_cast<std::size_t>(width)));
        continue;
      }
      auto line = client::render_progress_bar(b.view, width);
      if (!b.note.empty() && !b.ended &&
          line.size() + b.note.size() + 3 <= static_cast<std::size_t>(width))
        line += " (" + b.note + ")";
      lines.push_back(line);
    }
    if (shown < batches.size()) {
      std::size_t ended = 0;
      for (std::size_t i = shown; i < batches.size(); ++i)
        ended += batches[i]->ended ? 1 : 0;
      lines.push_back("... and " +
                      client::format_count(
                          static_cast<std::int64_t>(batches.size() - shown)) +
                      " more, " +
                      client::format_count(static_cast<std::int64_t>(ended)) +
                      " of them ended");
    }
    std::string out;
    if (drawn_ > 0)
      out += "\x1b[" + std::to_string(drawn_) + "A";
    for (const auto& l : lines)
      out += "\r\x1b[2K" + l + "\n";
    // Fewer lines than last time (a smaller terminal): clear the rest and
    // come back up.
    for (std::size_t i = lines.size(); i < drawn_; ++i)
      out += "\r\x1b[2K\n";
    if (drawn_ > lines.size())
      out += "\x1b[" + std::to_string(drawn_ - lines.size()) + "A";
    drawn_ = lines.size();
    write_out(out);
  }

private:
  std::size_t drawn_ = 0;
};

std::string summary_of(const batch_state& b) {
  if (b.failure_exit != 0)
    return client::printable(b.id) + " " + b.failure;
  return client::render_summary_line(b.view, elapsed_seconds(b.final_batch),
                                     string_field(b.final_batch, "error"));
}

/// A JSON progress line: the API's progress object as it came, every
/// number exact, with "type" added.
json progress_json(const batch_state& b) {
  json j = b.progress.is_object() ? b.progress : json::object();
  j["type"] = "progress";
  j["batch_id"] = b.id;
  return j;
}

} // namespace

bool stdout_is_terminal() {
  if (!isatty(STDOUT_FILENO))
    return false;
  const char* term = std::getenv("TERM");
  return term == nullptr || std::string(term) != "dumb";
}

int terminal_width(int fd) {
  winsize ws{};
  if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  return 80;
}

int watch_batches(const client::client_config& config,
                  const std::vector<std::string>& ids,
                  const watch_output& output) {
  watch_state state;
  for (const auto& id : ids) {
    auto b = std::make_unique<batch_state>();
    b->id = id;
    b->view.batch_id = id;
    b->view.status = "waiting";
    b->note = "connecting";
    state.batches.push_back(std::move(b));
  }

  // A second Ctrl-C, while the first is being handled, kills at once.
  struct sigaction action {};
  struct sigaction previous {};
  action.sa_handler = on_sigint;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  interrupted = false;
  sigaction(SIGINT, &action, &previous);

  // The workers' connections live until every worker has been joined, so
  // that Ctrl-C can abort them from this thread without a lock.
  std::vector<std::unique_ptr<client::connection>> connections;
  auto workers = std::min(max_followers, state.batches.size());
  for (std::size_t i = 0; i < workers; ++i)
    connections.push_back(std::make_unique<client::connection>(config));
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < workers; ++i)
    threads.emplace_back([&state, &output, conn = connections[i].get()] {
      for (;;) {
        auto next = state.next++;
        if (state.stop || next >= state.batches.size())
          break;
        follower f(state, *state.batches[next], *conn, output);
        f.run();
      }
      ++state.workers_done;
    });

  bool text = !output.json;
  bool bars = text && output.terminal;
  bar_painter painter;
  if (bars)
    write_out("\x1b[?25l"); // no blinking cursor over the bars
  auto frame = std::chrono::milliseconds(
      1000 / std::clamp(output.redraws_per_second, 1, 10));
  auto last_frame = clock_type::now() - frame;
  std::vector<bool> reported(state.batches.size(), false);
  for (;;) {
    bool all_done = true;
    {
      std::lock_guard<std::mutex> lock(state.mutex);
      auto now = clock_type::now();
      bool any_changed = false;
      for (std::size_t i = 0; i < state.batches.size(); ++i) {
        auto& b = *state.batches[i];
        bool over = b.ended || b.failure_exit != 0;
        all_done = all_done && over;
        any_changed = any_changed || b.changed;
        if (bars || !b.changed)
          continue;
        // Pipes and JSON: a progress line per batch at most once a second.
        // The end of a batch is its summary line (text, at the end) or its
        // done line (JSON, at once).
        if (b.failure_exit != 0 || reported[i])
          continue;
        if (b.ended && text) {
          reported[i] = true;
          continue;
        }
        if (!b.ended && now - b.last_written < std::chrono::seconds(1))
          continue;
        if (b.view.status == "waiting")
          continue; // nothing heard of it yet
        if (output.json && !b.ended && !b.progress.is_object())
          continue; // no progress object yet, only the batch
        if (output.json) {
          if (b.ended)
            write_out(domain::dump_exact(
                          json{{"type", "done"}, {"batch", b.final_batch}}) +
                      "\n");
          else
            write_out(domain::dump_exact(progress_json(b)) + "\n");
        } else {
          write_out(client::render_progress_line(b.view) + "\n");
        }
        b.changed = false;
        b.last_written = now;
        reported[i] = b.ended;
      }
      if (bars && (all_done || (any_changed && now - last_frame >= frame))) {
        painter.draw(state.batches);
        for (auto& b : state.batches)
          b->changed = false;
        last_frame = now;
      }
    }
    if (all_done || interrupted)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  if (interrupted) {
    state.stop = true;
    // A follower may be between its stop check and its next request:
    // abort until every worker has returned.
    while (state.workers_done < threads.size()) {
      for (auto& c : connections)
        c->abort();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  for (auto& t : threads)
    t.join();
  sigaction(SIGINT, &previous, nullptr);
  if (bars)
    write_out("\x1b[?25h");
  if (interrupted) {
    std::fprintf(stderr,
                 "offgridflow-batch: stopped watching; the batch%s "
                 "go%s on running\n",
                 ids.size() == 1 ? "" : "es", ids.size() == 1 ? "es" : "");
    return 130;
  }

  int exit_code = 0;
  for (const auto& b : state.batches) {
    if (b->failure_exit != 0) {
      std::fprintf(stderr, "offgridflow-batch: %s\n", summary_of(*b).c_str());
      if (exit_code == 0 || exit_code == 1)
        exit_code = b->failure_exit;
      continue;
    }
    if (text)
      write_out(summary_of(*b) + "\n");
    if (b->view.status != "completed" && exit_code == 0)
      exit_code = 1;
  }
  return exit_code;
}

} // namespace ogf::app
