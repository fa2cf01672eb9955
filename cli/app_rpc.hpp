#pragma once
// How imctl reaches a node's app port (schema/app.capnp): the address and the secret options,
// and a helper that connects, authenticates and reports failures as imctl does.

#include "parley/runtime/token.hpp"

#include "app.capnp.h"

#include <capnp/ez-rpc.h>
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

namespace parley::cli {

/// Where a node's app port is and how to authenticate to it.
struct app_target {
  std::string address = "127.0.0.1:8420";
  std::string data_dir = "./parley-data";
  std::string secret_file;

  void add_to(CLI::App& cmd) {
    cmd.add_option("--app", address, "The node's app port, HOST:PORT")->capture_default_str();
    add_secret_to(cmd);
  }

  /// Only where the secret is (commands that sign with it but do not call the app port).
  void add_secret_to(CLI::App& cmd) {
    cmd.add_option("--data-dir", data_dir, "Node data dir holding the secret")
        ->capture_default_str();
    cmd.add_option("--secret-file", secret_file, "Token secret (default <data-dir>/secret)");
  }

  /// The token secret, from --secret-file or the data dir.
  result<std::string> secret() const {
    return runtime::load_secret(secret_file.empty() ? data_dir + "/secret" : secret_file);
  }
};

/// Prints how many sessions a call ended: "<what>; kicked N sessions" or JSON {"kicked": N}.
inline void print_kicked(std::uint32_t kicked, bool json, const std::string& what) {
  if (json) {
    std::cout << "{\"kicked\":" << kicked << "}\n";
  } else {
    std::cout << what << (what.empty() ? "" : "; ") << "kicked " << kicked << " session"
              << (kicked == 1 ? "" : "s") << "\n";
  }
}

/// What the node said in an RPC exception, without the client's "remote exception: ".
inline std::string said(const kj::Exception& e) {
  std::string text = e.getDescription().cStr();
  const std::string remote = "remote exception: ";
  return text.rfind(remote, 0) == 0 ? text.substr(remote.size()) : text;
}

/// Connects, authenticates and runs `use(engine, wait scope)`; prints the node's refusal or
/// why it could not be reached, and returns the exit code.
template <class Use>
inline int with_engine(const app_target& t, Use use) {
  auto secret = t.secret();
  if (!secret) {
    std::cerr << "imctl: " << secret.error().message() << "\n";
    return 1;
  }
  int rc = 1;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                 capnp::EzRpcClient rpc(t.address);
                 auto& ws = rpc.getWaitScope();
                 auto auth = rpc.getMain<app::Bootstrap>().authenticateRequest();
                 auth.setSecret(capnp::Data::Reader(
                     reinterpret_cast<const capnp::byte*>(secret->data()), secret->size()));
                 rc = use(auth.send().wait(ws).getEngine(), ws);
               })) {
    std::cerr << "imctl: " << t.address << ": " << said(*e) << "\n";
    return 1;
  }
  return rc;
}

}  // namespace parley::cli
