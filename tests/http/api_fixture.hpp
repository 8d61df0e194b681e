// A real HTTP server on an ephemeral port, in front of a real engine on a
// fresh test database, plus small client helpers and the checks every
// error answer must pass.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "actors/engine.hpp"
#include "http/server.hpp"
#include "support/engine_fixture.hpp"
#include "support/test_database.hpp"

namespace ogf::testing {

/// What a test may change about its server and engine.
struct api_options {
  int workers = 2;
  int chunk_size = 50;
  /// Time each chunk takes on top of the calculation; 0 uses the built-in
  /// processor. Slow chunks keep a batch processing long enough to act on
  /// it (cancel, stream, delete).
  std::chrono::milliseconds chunk_delay{0};
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  int max_batch_activities = 10000;
  /// Last word on the server's configuration (connection limits, admin
  /// listener), applied after the fields above.
  std::function<void(http::http_config&)> tune;
  /// The same for the engine (quotas, connections), applied last.
  std::function<void(engine_config&)> tune_engine;
};

/// The tenant headers of a request.
struct tenant_ids {
  std::string org;
  std::string workspace;
  httplib::Headers headers() const {
    return {{"X-Org-ID", org}, {"X-Workspace-ID", workspace}};
  }
};

inline const tenant_ids acme{"acme", "main"};
/// Same workspace name, other org: a different tenant.
inline const tenant_ids globex{"globex", "main"};

/// An answer, kept after the connection is gone.
struct reply {
  int status = 0; ///< 0 when there was no answer at all
  httplib::Headers headers;
  std::string body;

  nlohmann::json json() const { return nlohmann::json::parse(body); }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
  }
};

/// An actor system, an engine and an HTTP server serving in a thread.
class api_fixture {
public:
  explicit api_fixture(api_options opts = {});
  ~api_fixture();

  int port() const { return port_; }
  http::http_server& server() { return *server_; }
  engine_actor& engine() { return engine_; }
  const test_database& db() const { return db_; }

  /// A client of this server (no keep-alive, 10 s timeouts).
  httplib::Client client() const;

  reply get(const std::string& path, const tenant_ids& t = acme,
            httplib::Headers extra = {});
  reply post_json(const std::string& path, const nlohmann::json& body,
                  const tenant_ids& t = acme, httplib::Headers extra = {});
  /// Any method, raw body and content type (empty: no Content-Type).
  reply send(const std::string& method, const std::string& path,
             const std::string& body, const std::string& content_type,
             const httplib::Headers& headers);
  reply put_json(const std::string& path, const nlohmann::json& body,
                 const tenant_ids& t = acme);
  reply del(const std::string& path, const tenant_ids& t = acme);

  /// Upserts activities "a0000".."a{n-1}" (electricity, US, i+1 kWh).
  void upload_activities(int n, const tenant_ids& t = acme);
  /// Submits a batch of those ids; requires 201 and returns the batch.
  nlohmann::json submit(const std::vector<std::string>& ids,
                        const tenant_ids& t = acme,
                        nlohmann::json extra = nlohmann::json::object());
  /// Waits until the batch reaches `status` (or any terminal status when
  /// empty); returns the batch.
  nlohmann::json
  wait_for_status(const std::string& id, const std::string& status = {},
                  const tenant_ids& t = acme,
                  std::chrono::milliseconds timeout = std::chrono::seconds(20));

  /// Engine counters (subscribers, workers).
  engine_stats stats();

private:
  test_database db_;
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  engine_actor engine_;
  std::unique_ptr<http::http_server> server_;
  std::thread serving_;
  int port_ = 0;
};

/// Runs an http_server (no database) in front of any engine_actor, e.g. a
/// stub that fails every request.
class bare_server {
public:
  bare_server(caf::actor_system& sys, engine_actor engine,
              http::http_config cfg = {});
  ~bare_server();
  int port() const { return port_; }

private:
  std::unique_ptr<http::http_server> server_;
  std::thread serving_;
  int port_ = 0;
};

/// Turns a client result into a reply.
reply to_reply(const httplib::Result& r);

/// An activity row as uploads take it: electricity in the US, January
/// 2025, `quantity` kWh.
nlohmann::json activity_row(const std::string& id, nlohmann::json quantity = 1);

/// An emission-factor row as PUT /emission-factors takes it: electricity in
/// the US, scope 2, 0.5 kg CO2e per kWh from 2020, source "own meter".
nlohmann::json factor_row(const std::string& id);

/// Activity ids "a0000".."a{n-1}".
std::vector<std::string> activity_ids(int n, int first = 0);

/// Checks the CONTRACT error body: exactly {"error": {"code", "message",
/// "details"?, "timestamp"}}, the status and code, details.field when
/// given, and that nothing internal leaks (check_no_leak).
void check_error(const reply& r, int status, const std::string& code,
                 const std::optional<std::string>& field = std::nullopt);

/// Fails when an answer carries SQL, libpqxx or PostgreSQL error text,
/// source paths or C++ names.
void check_no_leak(const reply& r);

/// Sends raw bytes on a new connection, optionally closes the write side,
/// and returns everything read until the server closes or `timeout`.
std::string
raw_exchange(int port, const std::string& bytes, bool shutdown_write = false,
             std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// True when GET /api/v1/health answers 200.
bool healthy(int port);

} // namespace ogf::testing
