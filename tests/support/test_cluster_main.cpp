// ogf_test_cluster start|stop DIR: the ctest fixture that gives one test run
// its PostgreSQL cluster.
#include <cstring>
#include <iostream>

#include "support/test_database.hpp"

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "start") != 0
                    && std::strcmp(argv[1], "stop") != 0)) {
    std::cerr << "usage: ogf_test_cluster start|stop DIR\n";
    return 2;
  }
  try {
    if (std::strcmp(argv[1], "start") == 0)
      ogf::testing::start_test_cluster(argv[2]);
    else
      ogf::testing::stop_test_cluster(argv[2]);
  } catch (const std::exception& e) {
    std::cerr << "ogf_test_cluster: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
