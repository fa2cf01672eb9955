#pragma once
// An app server's side of the app port (schema/app.capnp), for the suites that test it.

#include "parley/runtime/token.hpp"

#include "app.capnp.h"

#include <capnp/ez-rpc.h>
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace parley::test_support {

/// What the node said in an RPC exception: "<code>: <message>" (the C++ client puts
/// "remote exception: " before it).
inline std::string said(const kj::Exception& e) {
  std::string text = e.getDescription().cStr();
  const std::string remote = "remote exception: ";
  return text.rfind(remote, 0) == 0 ? text.substr(remote.size()) : text;
}

/// Runs `call` and returns what the node said if it failed ("" if it succeeded).
template <class F>
std::string failure_of(F&& call) {
  KJ_IF_MAYBE (e, kj::runCatchingExceptions(std::forward<F>(call))) {
    return said(*e);
  }
  return "";
}

inline bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

/// `s` as a Data field.
inline capnp::Data::Reader data_of(const std::string& s) {
  return capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(s.data()), s.size());
}

/// The token secret in `file` (what an app server is given).
inline std::string secret_in(const std::string& file) {
  auto secret = runtime::load_secret(file);
  BOOST_TEST_REQUIRE(secret.ok());
  return *secret;
}

/// A connection to a node's app port (on the calling thread's own kj loop).
struct app_client {
  explicit app_client(std::uint16_t port)
      : rpc("127.0.0.1", port), bootstrap(rpc.getMain<app::Bootstrap>()) {}

  capnp::EzRpcClient rpc;
  app::Bootstrap::Client bootstrap;
  kj::WaitScope& wait() { return rpc.getWaitScope(); }

  /// authenticate(secret), or nothing and `failure` says why.
  kj::Maybe<app::Engine::Client> authenticate(const std::string& secret, std::string& failure) {
    auto req = bootstrap.authenticateRequest();
    req.setSecret(
        capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(secret.data()), secret.size()));
    kj::Maybe<app::Engine::Client> engine;
    KJ_IF_MAYBE (e,
                 kj::runCatchingExceptions([&] { engine = req.send().wait(wait()).getEngine(); })) {
      failure = said(*e);
    }
    return engine;
  }

  /// The engine; fails the test case if `secret` is refused.
  app::Engine::Client engine(const std::string& secret) {
    std::string failure;
    KJ_IF_MAYBE (e, authenticate(secret, failure)) {
      return *e;
    }
    BOOST_FAIL("authenticate failed: " + failure);
    throw std::logic_error("unreachable");
  }
};

}  // namespace parley::test_support
