# Locates the third-party libraries on Debian 12 and gives each an imported
# target. Used by the build and, installed, by offgridflow_batchConfig.cmake so
# that consumers of the exported package resolve the same targets.
# CAF 0.17.6, libpqxx 6.4.5 and cpp-httplib 0.11.4 ship no CMake config files
# (see shared/notes/stack.md §1); cpp-httplib MUST carry its pkg-config -D
# flags or the compiled .so and our objects disagree on struct layouts.
include_guard(GLOBAL)
include(CMakeFindDependencyMacro)

set(THREADS_PREFER_PTHREAD_FLAG ON)
find_dependency(Threads)
find_dependency(nlohmann_json 3.11)
# Header-only: boost::multiprecision for exact decimal arithmetic.
find_dependency(Boost 1.74)
find_dependency(PkgConfig)
# API keys: SHA-256, RAND_bytes and CRYPTO_memcmp (common/api_token.cpp); TLS
# itself is cpp-httplib's, built with OpenSSL.
find_dependency(OpenSSL 3)

if(NOT TARGET PkgConfig::PQXX)
  pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET GLOBAL libpqxx)
endif()
if(NOT TARGET PkgConfig::HTTPLIB)
  pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET GLOBAL cpp-httplib)
endif()

# GET /metrics: the core registry and text serializer (its CMake config also
# looks for civetweb and curl, which prometheus-cpp-dev pulls in).
if(NOT TARGET prometheus-cpp::core)
  find_dependency(prometheus-cpp CONFIG)
endif()

if(NOT TARGET CAF::core)
  find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
  find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
  add_library(CAF::core INTERFACE IMPORTED GLOBAL)
  target_include_directories(CAF::core INTERFACE ${CAF_INCLUDE_DIR})
  target_link_libraries(CAF::core INTERFACE ${CAF_CORE_LIBRARY} Threads::Threads)
endif()
