# Finds the Debian-packaged stack and wraps what ships no CMake config.
find_package(Threads REQUIRED)
find_package(CapnProto 0.9 CONFIG REQUIRED)
find_package(RocksDB 7.8 CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(Boost 1.74 CONFIG REQUIRED COMPONENTS unit_test_framework)

# CAF 0.17 ships neither a CMake config nor a .pc file.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
find_library(CAF_IO_LIBRARY caf_io REQUIRED)
find_library(CAF_OPENSSL_LIBRARY caf_openssl REQUIRED)  # TLS between cluster nodes
add_library(parley_caf INTERFACE)
target_include_directories(parley_caf INTERFACE ${CAF_INCLUDE_DIR})
target_link_libraries(parley_caf INTERFACE ${CAF_OPENSSL_LIBRARY} ${CAF_IO_LIBRARY}
  ${CAF_CORE_LIBRARY} OpenSSL::SSL Threads::Threads)
add_library(parley::caf ALIAS parley_caf)

# Standalone Asio is header-only.
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(parley_asio INTERFACE)
target_include_directories(parley_asio INTERFACE ${ASIO_INCLUDE_DIR})
target_compile_definitions(parley_asio INTERFACE ASIO_STANDALONE)
target_link_libraries(parley_asio INTERFACE Threads::Threads)
add_library(parley::asio ALIAS parley_asio)

find_path(XXHASH_INCLUDE_DIR xxhash.h REQUIRED)
find_library(XXHASH_LIBRARY xxhash REQUIRED)
add_library(parley_xxhash INTERFACE)
target_include_directories(parley_xxhash INTERFACE ${XXHASH_INCLUDE_DIR})
target_link_libraries(parley_xxhash INTERFACE ${XXHASH_LIBRARY})
add_library(parley::xxhash ALIAS parley_xxhash)

find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
add_library(parley_cli11 INTERFACE)
target_include_directories(parley_cli11 INTERFACE ${CLI11_INCLUDE_DIR})
add_library(parley::cli11 ALIAS parley_cli11)

# Debian builds cpp-httplib as a shared library (httplib.h declares, libcpp-httplib defines).
find_path(HTTPLIB_INCLUDE_DIR httplib.h REQUIRED)
find_library(HTTPLIB_LIBRARY cpp-httplib REQUIRED)
add_library(parley_httplib INTERFACE)
target_include_directories(parley_httplib INTERFACE ${HTTPLIB_INCLUDE_DIR})
target_link_libraries(parley_httplib INTERFACE ${HTTPLIB_LIBRARY} OpenSSL::SSL)
# The same definitions Debian built the library with (its cpp-httplib.pc): without them our
# code would see other class layouts than the library's. OpenSSL support also gives https.
target_compile_definitions(parley_httplib INTERFACE CPPHTTPLIB_OPENSSL_SUPPORT
  CPPHTTPLIB_ZLIB_SUPPORT CPPHTTPLIB_BROTLI_SUPPORT)
add_library(parley::httplib ALIAS parley_httplib)

# spdlog (Debian's, built against Debian's fmt): operator logs, behind runtime/log.hpp.
find_package(spdlog REQUIRED)

# websocketpp (header-only), used in its transport-agnostic core form with C++11 std types
# only (no Boost): server/ws_engine.cpp. No version number: its config file rejects one.
find_package(websocketpp CONFIG REQUIRED)
add_library(parley_websocketpp INTERFACE)
target_include_directories(parley_websocketpp INTERFACE ${WEBSOCKETPP_INCLUDE_DIR})
target_compile_definitions(parley_websocketpp INTERFACE _WEBSOCKETPP_CPP11_STL_)
add_library(parley::websocketpp ALIAS parley_websocketpp)
