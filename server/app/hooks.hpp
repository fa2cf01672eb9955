#pragma once
// The app's hooks on this node (schema/app.capnp, Hooks): the kj side that holds the app's
// capabilities, and the bridge actor that lets entity actors call them. See hooks.cpp.
// Internal to the server library; made and destroyed on the app port's kj thread.

#include "app.capnp.h"

#include <kj/async-io.h>
#include <kj/memory.h>

#include <memory>

namespace parley::actors {
struct services;
}

namespace parley::server::app_rpc {

class hook_host {
 public:
  /// On the kj thread: spawns the bridge actor (nothing is installed yet).
  hook_host(actors::services& svc, kj::Timer& timer);
  /// On the kj thread: removes this node's hooks from its table and stops the bridge.
  ~hook_host();
  hook_host(const hook_host&) = delete;
  hook_host& operator=(const hook_host&) = delete;

  /// The Hooks capability an authenticated app gets.
  kj::Own<app::Hooks::Server> capability();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace parley::server::app_rpc
