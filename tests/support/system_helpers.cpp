#include "support/system_helpers.hpp"

#include <httplib.h>

namespace ogf::testing {

int health_status(int port) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(1, 0);
  cli.set_read_timeout(3, 0);
  auto res = cli.Get("/api/v1/health");
  return res ? res->status : 0;
}

} // namespace ogf::testing
