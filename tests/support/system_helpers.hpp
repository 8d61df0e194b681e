// Small helpers of the system tests, which run the real binary.
#pragma once

#include <filesystem>
#include <string>
#include <system_error>

#include <stdlib.h>

namespace ogf::testing {

/// A fresh folder under /tmp ("/tmp/<prefix>-XXXXXX"), removed with all it
/// holds when this object goes away. Others may enter it: an embedded
/// server runs as the postgres user.
struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    path = mkdtemp(tmpl.data());
    std::filesystem::permissions(path, std::filesystem::perms::others_exec,
                                 std::filesystem::perm_options::add);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

/// Status of GET /api/v1/health on 127.0.0.1:`port` (1 s to connect, 3 s
/// to answer); 0 without an answer.
int health_status(int port);

} // namespace ogf::testing
