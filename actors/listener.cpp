#include "actors/listener.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "common/log.hpp"
#include "persistence/batch_store.hpp"

namespace ogf {

namespace {

class wake_receiver : public pqxx::notification_receiver {
public:
  wake_receiver(pqxx::connection& conn, bool& woken)
    : pqxx::notification_receiver(conn, persistence::notify_channel),
      woken_(woken) {
  }
  void operator()(const std::string&, int) override {
    woken_ = true;
  }

private:
  bool& woken_;
};

/// Collects batch ids from cancel notifications.
class cancel_receiver : public pqxx::notification_receiver {
public:
  cancel_receiver(pqxx::connection& conn, std::vector<std::string>& ids)
    : pqxx::notification_receiver(conn, persistence::cancel_channel),
      ids_(ids) {
  }
  void operator()(const std::string& payload, int) override {
    ids_.push_back(payload);
  }

private:
  std::vector<std::string>& ids_;
};

/// The store sends at most one NOTIFY per notify_interval (5 ms) per
/// connection and skips the rest: a batch committed just after a NOTIFY may
/// have none of its own. So every burst of notifications is followed by one
/// more wake-up this long after the last of them, which claims such
/// batches instead of leaving them to the poll timer (30 s by default).
constexpr auto trailing_wake_delay = std::chrono::milliseconds(50);

struct listener_state {
  std::string url;
  poller_actor poller;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<wake_receiver> receiver;
  std::unique_ptr<cancel_receiver> cancels;
  std::vector<std::string> cancelled;
  bool woken = false;
  std::optional<std::chrono::steady_clock::time_point> trailing_wake;
  static inline const char* name = "ogf.listener";
};

listener_actor::behavior_type
listener(listener_actor::stateful_pointer<listener_state> self,
                       std::string url, poller_actor poller) {
  self->state.url = std::move(url);
  self->state.poller = std::move(poller);
  self->send(self, listen_atom_v);
  return {
    [self](listen_atom) {
      auto& st = self->state;
      try {
        if (!st.conn) {
          st.conn = std::make_unique<pqxx::connection>(st.url);
          st.receiver = std::make_unique<wake_receiver>(*st.conn, st.woken);
          st.cancels = std::make_unique<cancel_receiver>(*st.conn,
                                                         st.cancelled);
          // Anything submitted while we were away: look once.
          st.woken = true;
        }
        // Blocks this (detached) actor's own thread for at most 100 ms, so
        // exit messages are still seen promptly.
        long wait_us = 100000;
        auto now = std::chrono::steady_clock::now();
        if (st.trailing_wake)
          wait_us = std::clamp<long>(
            std::chrono::duration_cast<std::chrono::microseconds>(
              *st.trailing_wake - now)
              .count(),
            0, wait_us);
        st.conn->await_notification(0, wait_us);
        st.conn->get_notifs();
        for (auto& id : st.cancelled)
          self->send(st.poller, cancel_atom_v, std::move(id));
        st.cancelled.clear();
        now = std::chrono::steady_clock::now();
        if (st.woken) {
          st.woken = false;
          st.trailing_wake = now + trailing_wake_delay;
          self->send(st.poller, wake_atom_v);
        } else if (st.trailing_wake && now >= *st.trailing_wake) {
          st.trailing_wake.reset();
          self->send(st.poller, wake_atom_v);
        }
        self->send(self, listen_atom_v);
      } catch (const std::exception& e) {
        st.cancels.reset();
        st.receiver.reset();
        st.conn.reset();
        self->delayed_send(self, std::chrono::seconds(1), listen_atom_v);
      }
    },
  };
}

} // namespace

listener_actor spawn_listener(caf::actor_system& sys, std::string database_url,
                          poller_actor poller) {
  return sys.spawn<caf::detached>(listener, std::move(database_url),
                                  std::move(poller));
}

} // namespace ogf
