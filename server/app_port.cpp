#include "app_port.hpp"
#include "parley/schema/log.hpp"

#include "app/capabilities.hpp"
#include "app/hooks.hpp"
#include "app/support.hpp"

#include "parley/runtime/token.hpp"
#include "parley/server/errc.hpp"

#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <future>
#include <iostream>
#include <thread>

namespace parley::server {

namespace {

using app_rpc::bytes_of;
using app_rpc::refuse;

class engine_impl final : public app::Engine::Server {
 public:
  engine_impl(actors::services& svc, const std::function<node_view()>& view,
              app_rpc::hook_host& hooks)
      : svc_(svc), view_(view), hooks_(hooks) {}

  kj::Promise<void> tokens(TokensContext context) override {
    context.getResults().setTokens(app_rpc::make_tokens(svc_));
    return kj::READY_NOW;
  }
  kj::Promise<void> groups(GroupsContext context) override {
    context.getResults().setGroups(app_rpc::make_groups(svc_));
    return kj::READY_NOW;
  }
  kj::Promise<void> messages(MessagesContext context) override {
    context.getResults().setMessages(app_rpc::make_messages(svc_));
    return kj::READY_NOW;
  }
  kj::Promise<void> users(UsersContext context) override {
    context.getResults().setUsers(app_rpc::make_users(svc_));
    return kj::READY_NOW;
  }
  kj::Promise<void> inspection(InspectionContext context) override {
    context.getResults().setInspection(app_rpc::make_inspection(svc_));
    return kj::READY_NOW;
  }
  kj::Promise<void> cluster(ClusterContext context) override {
    context.getResults().setCluster(app_rpc::make_cluster(view_));
    return kj::READY_NOW;
  }
  kj::Promise<void> events(EventsContext context) override {
    context.getResults().setEvents(app_rpc::make_events(svc_));
    return kj::READY_NOW;
  }
  kj::Promise<void> hooks(HooksContext context) override {
    context.getResults().setHooks(hooks_.capability());
    return kj::READY_NOW;
  }

 private:
  actors::services& svc_;
  const std::function<node_view()>& view_;
  app_rpc::hook_host& hooks_;
};

/// One connection's bootstrap: only authenticate. Counts wrong secrets and closes the
/// connection (through `close`) after too many.
class bootstrap_impl final : public app::Bootstrap::Server {
 public:
  bootstrap_impl(actors::services& svc, const std::function<node_view()>& view,
                 app_rpc::hook_host& hooks, std::uint32_t max_failures,
                 kj::Own<kj::PromiseFulfiller<void>> close)
      : svc_(svc), view_(view), hooks_(hooks), max_failures_(max_failures), close_(kj::mv(close)) {}

  kj::Promise<void> authenticate(AuthenticateContext context) override {
    if (!svc_.tokens->is_secret(bytes_of(context.getParams().getSecret()))) {
      if (++failures_ > max_failures_ && close_->isWaiting()) close_->fulfill();
      return refuse(errc::not_authenticated, "wrong secret");
    }
    context.getResults().setEngine(kj::heap<engine_impl>(svc_, view_, hooks_));
    return kj::READY_NOW;
  }

 private:
  actors::services& svc_;
  const std::function<node_view()>& view_;
  app_rpc::hook_host& hooks_;
  const std::uint32_t max_failures_;
  std::uint32_t failures_ = 0;
  kj::Own<kj::PromiseFulfiller<void>> close_;
};

/// An accepted app connection: its stream, the two-party network over it and the RPC system
/// serving its bootstrap. Lives until the peer disconnects or its bootstrap closes it.
struct app_connection {
  app_connection(kj::Own<kj::AsyncIoStream> s, capnp::ReaderOptions limits,
                 capnp::Capability::Client bootstrap, std::uint64_t flow_words)
      : stream(kj::mv(s)),
        network(*stream, capnp::rpc::twoparty::Side::SERVER, limits),
        rpc(capnp::makeRpcServer(network, kj::mv(bootstrap))) {
    rpc.setFlowLimit(flow_words);
  }
  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
};

}  // namespace

struct app_port::impl : kj::TaskSet::ErrorHandler {
  impl(actors::services& s, app_port_options o, std::function<node_view()> v)
      : svc(s), opts(std::move(o)), view(std::move(v)) {}

  actors::services& svc;
  const app_port_options opts;
  /// Answers Cluster.status; outlives every capability (they are destroyed on the kj thread,
  /// before run() returns).
  const std::function<node_view()> view;
  std::thread thread;
  std::uint16_t port = 0;
  std::atomic<std::uint32_t> connections{0};
  /// Ends the loop; made on the kj thread before start() returns, fulfilled by the destructor.
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> stop;

  void taskFailed(kj::Exception&& e) override {
    // A connection ended badly (the peer vanished, a malformed message): it is gone either way.
    if (e.getType() != kj::Exception::Type::DISCONNECTED) {
      log::write_limited(log::level::warn, "app_connection_failed",
                         {{"detail", e.getDescription().cStr()}});
    }
  }

  kj::Promise<void> accept_loop(kj::ConnectionReceiver& listener, kj::TaskSet& tasks,
                                app_rpc::hook_host& hooks) {
    return listener.accept().then(
        [this, &listener, &tasks, &hooks](kj::Own<kj::AsyncIoStream>&& s) {
          serve(kj::mv(s), tasks, hooks);
          return accept_loop(listener, tasks, hooks);
        });
  }

  void serve(kj::Own<kj::AsyncIoStream> stream, kj::TaskSet& tasks, app_rpc::hook_host& hooks) {
    if (connections.load() >= opts.max_connections) return;  // dropping the stream closes it
    ++connections;
    auto closing = kj::newPromiseAndFulfiller<void>();
    capnp::ReaderOptions limits;
    limits.traversalLimitInWords = opts.max_call_words;
    auto conn =
        kj::heap<app_connection>(kj::mv(stream), limits,
                                 kj::heap<bootstrap_impl>(svc, view, hooks, opts.max_auth_failures,
                                                          kj::mv(closing.fulfiller)),
                                 opts.max_call_words);
    auto ended = conn->network.onDisconnect().exclusiveJoin(kj::mv(closing.promise));
    tasks.add(ended.attach(kj::mv(conn))
                  .then([this] { --connections; },
                        [this](kj::Exception&& e) {
                          --connections;
                          kj::throwFatalException(kj::mv(e));
                        }));
  }

  /// The kj thread: binds, reports the port (or why not) through `started`, serves until
  /// stopped, then destroys every kj object on this thread.
  void run(std::promise<result<std::uint16_t>>& started) {
    kj::Maybe<kj::Exception> failure = kj::runCatchingExceptions([&] {
      auto io = kj::setupAsyncIo();
      auto address =
          io.provider->getNetwork().parseAddress(opts.host, opts.port).wait(io.waitScope);
      auto listener = address->listen();
      auto stopping = kj::newPromiseAndCrossThreadFulfiller<void>();
      stop = kj::mv(stopping.fulfiller);
      port = static_cast<std::uint16_t>(listener->getPort());
      started.set_value(port);
      kj::TaskSet tasks(*this);
      // After the connections (destroyed first): the hooks let go of the app's capabilities
      // while the connections they came through still exist.
      app_rpc::hook_host hooks(svc, io.provider->getTimer());
      stopping.promise.exclusiveJoin(accept_loop(*listener, tasks, hooks)).wait(io.waitScope);
    });
    KJ_IF_MAYBE (e, failure) {
      if (port == 0) {
        started.set_value(error(node_errc::cannot_listen,
                                "cannot open the app port on " + opts.host + ":" +
                                    std::to_string(opts.port) + ": " + e->getDescription().cStr()));
      } else {
        log::error("app_port_stopped", {{"detail", e->getDescription().cStr()}});
      }
    }
  }
};

result<std::unique_ptr<app_port>> app_port::start(actors::services& svc, app_port_options o,
                                                  std::function<node_view()> view) {
  if (o.max_connections == 0) return {node_errc::bad_config, "the app port needs connections"};
  auto p = std::make_unique<impl>(svc, std::move(o), std::move(view));
  std::promise<result<std::uint16_t>> started;
  auto bound = started.get_future();
  auto* raw = p.get();
  p->thread = std::thread([raw, started = std::move(started)]() mutable { raw->run(started); });
  auto port = bound.get();
  if (!port) {
    p->thread.join();
    return port.error();
  }
  return std::unique_ptr<app_port>(new app_port(std::move(p)));
}

app_port::app_port(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

app_port::~app_port() {
  impl_->stop->fulfill();
  impl_->thread.join();
}

std::uint16_t app_port::port() const {
  return impl_->port;
}

}  // namespace parley::server
