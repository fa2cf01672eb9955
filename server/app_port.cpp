#include "app_port.hpp"

// GCC 12 at -O2 reports kj's ExceptionOr<T> (a Maybe holding our answer structs) as possibly
// uninitialised when a promise of it is moved; kj constructs it before any read. A false
// positive of GCC's (not seen with clang); silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "parley/actors/app_calls.hpp"
#include "parley/actors/validation.hpp"
#include "parley/actors/wire_errors.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/runtime/random_id.hpp"
#include "parley/runtime/token.hpp"
#include "parley/schema/ids.hpp"
#include "parley/server/errc.hpp"

#include "app.capnp.h"
#include "client.capnp.h"

#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>

#include <future>
#include <iostream>
#include <map>
#include <set>
#include <thread>

namespace parley::server {

namespace {

using schema::text;

/// Most members a Groups.create may add in one call.
constexpr std::size_t max_members_per_create = 1000;

/// `err` as the RPC exception an app gets: "<error_code>: <message>", the code and message
/// being what a client would get (to_wire).
kj::Exception app_exception(const error& err) {
  const auto wire = actors::to_wire(err);
  const std::string code = to_string(static_cast<errc>(wire.code));
  return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                       kj::str(code.c_str(), ": ", wire.message.c_str()));
}

kj::Promise<void> refuse(errc code, std::string message) {
  return app_exception(error(code, std::move(message)));
}

std::string bytes_of(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}

/// A kj promise for an answer that a CAF thread gives: the callback for app_calls fulfils
/// it (any thread), and the promise resolves on the kj thread.
template <class T>
struct cross_thread_answer {
  kj::Promise<T> promise;
  std::function<void(result<T>)> callback;
};

template <class T>
cross_thread_answer<T> answer_from_caf() {
  auto pair = kj::newPromiseAndCrossThreadFulfiller<T>();
  auto fulfiller =
      std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<T>>>(kj::mv(pair.fulfiller));
  return {kj::mv(pair.promise), [fulfiller](result<T> r) {
            if (r)
              (*fulfiller)->fulfill(std::move(*r));
            else
              (*fulfiller)->reject(app_exception(r.error()));
          }};
}

// -- capabilities --------------------------------------------------------------------------------

class tokens_impl final : public app::Tokens::Server {
 public:
  explicit tokens_impl(actors::services& svc) : svc_(svc) {}

  kj::Promise<void> issue(IssueContext context) override {
    auto p = context.getParams();
    const std::string user = text(p.getUser());
    if (!schema::valid_name(user)) return refuse(errc::bad_request, "invalid user id");
    const std::chrono::seconds ttl(p.getTtlSeconds());
    if (!runtime::valid_token_ttl(ttl)) {
      return refuse(errc::bad_request, "ttlSeconds must be 1 s to 400 days");
    }
    const auto now = std::chrono::system_clock::now();
    auto r = context.getResults();
    r.setToken(svc_.tokens->issue(user, ttl, now));
    r.setExpiresUnixS(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>((now + ttl).time_since_epoch()).count()));
    return kj::READY_NOW;
  }

 private:
  actors::services& svc_;
};

class groups_impl final : public app::Groups::Server {
 public:
  explicit groups_impl(actors::services& svc) : svc_(svc) {}

  kj::Promise<void> create(CreateContext context) override {
    auto p = context.getParams();
    const std::string owner = text(p.getOwner());
    if (!schema::valid_name(owner)) return refuse(errc::bad_request, "invalid owner id");
    // The client edge's rules for a CreateGroup, applied to the same fields.
    capnp::MallocMessageBuilder message;
    auto c = message.initRoot<wire::CreateGroup>();
    c.setGroupId(p.getGroup());
    c.setName(p.getName());
    c.setJoinPolicy(p.getOpen() ? wire::JoinPolicy::OPEN : wire::JoinPolicy::INVITE_ONLY);
    auto checked = actors::validate_create_group(c.asReader());
    if (!checked) return app_exception(checked.error());
    if (p.getMembers().size() > max_members_per_create) {
      return refuse(errc::limit_exceeded, "at most 1000 members per create; add the rest later");
    }
    std::vector<std::string> members;
    std::set<std::string> seen{owner};
    for (auto m : p.getMembers()) {
      std::string member = text(m);
      if (!schema::valid_name(member)) return refuse(errc::bad_request, "invalid member id");
      if (seen.insert(member).second) members.push_back(std::move(member));
    }
    if (checked->group.empty()) {
      auto id = runtime::random_id("g");
      if (!id) return app_exception(id.error());
      checked->group = std::move(*id);
    }
    auto answer = answer_from_caf<actors::group_created>();
    actors::create_group_as(svc_, owner, std::move(*checked), std::move(members),
                            std::move(answer.callback));
    return answer.promise.then([context](actors::group_created g) mutable {
      auto r = context.getResults();
      r.setGroup(g.group);
      r.setName(g.name);
      r.setMembers(g.members);
    });
  }

 private:
  actors::services& svc_;
};

class messages_impl final : public app::Messages::Server {
 public:
  explicit messages_impl(actors::services& svc) : svc_(svc) {}

  kj::Promise<void> sendAsUser(SendAsUserContext context) override {
    auto p = context.getParams();
    const std::string sender = text(p.getSender());
    if (!schema::valid_name(sender)) return refuse(errc::bad_request, "invalid sender id");
    if (p.getToUser().size() > 0 && p.getToGroup().size() > 0) {
      return refuse(errc::bad_request, "give toUser or toGroup, not both");
    }
    // The client edge's rules for a Send, applied to the same fields.
    capnp::MallocMessageBuilder message;
    auto s = message.initRoot<wire::Send>();
    if (p.getToGroup().size() > 0)
      s.initTarget().setGroup(p.getToGroup());
    else
      s.initTarget().setUser(p.getToUser());
    s.setClientMsgId(p.getClientMsgId());
    s.setContentType(p.getContentType());
    s.setBody(p.getBody());
    auto checked = actors::validate_send(s.asReader(), sender, "app", svc_.options);
    if (!checked) return app_exception(checked.error());
    auto answer = answer_from_caf<actors::send_ack>();
    actors::send_as(svc_, std::move(*checked), std::move(answer.callback));
    return answer.promise.then([context](actors::send_ack ack) mutable {
      auto r = context.getResults();
      r.setConversation(ack.conversation);
      r.setSeq(ack.seq);
      r.setTimestampMs(ack.timestamp_ms);
    });
  }

 private:
  actors::services& svc_;
};

class users_impl final : public app::Users::Server {
 public:
  explicit users_impl(actors::services& svc) : svc_(svc) {}

  kj::Promise<void> kick(KickContext context) override {
    auto p = context.getParams();
    const std::string user = text(p.getUser());
    const std::string device = text(p.getDevice());
    if (!schema::valid_name(user)) return refuse(errc::bad_request, "invalid user id");
    if (!device.empty() && !actors::valid_device_id(device)) {
      return refuse(errc::bad_request, "invalid device id");
    }
    auto answer = answer_from_caf<std::uint64_t>();
    actors::kick_sessions(svc_, user, device, "removed by the app", std::move(answer.callback));
    return answer.promise.then([context](std::uint64_t kicked) mutable {
      context.getResults().setKicked(static_cast<std::uint32_t>(kicked));
    });
  }

  kj::Promise<void> sessions(SessionsContext context) override {
    const std::string user = text(context.getParams().getUser());
    if (!schema::valid_name(user)) return refuse(errc::bad_request, "invalid user id");
    auto answer = answer_from_caf<std::vector<actors::session_info>>();
    actors::sessions_of(svc_, user, std::move(answer.callback));
    return answer.promise.then([context](std::vector<actors::session_info> found) mutable {
      auto list = context.getResults().initSessions(static_cast<unsigned>(found.size()));
      for (unsigned i = 0; i < found.size(); ++i) {
        list[i].setDevice(found[i].device);
        list[i].setDeviceType(found[i].device_type);
        list[i].setSinceMs(found[i].since_ms);
      }
    });
  }

 private:
  actors::services& svc_;
};

class cluster_impl final : public app::Cluster::Server {
 public:
  explicit cluster_impl(const std::function<node_view()>& view) : view_(view) {}

  kj::Promise<void> status(StatusContext context) override {
    const node_view v = view_();
    auto st = context.getResults().initStatus();
    st.setNode(v.node);
    st.setMapEpoch(v.stats.map_epoch);
    st.setShards(static_cast<std::uint32_t>(v.owners.size()));
    std::map<std::string, std::uint32_t> counts;
    for (const auto& owner : v.owners) ++counts[owner];
    auto owners = st.initOwners(static_cast<unsigned>(counts.size()));
    unsigned i = 0;
    for (const auto& [node, shards] : counts) {
      owners[i].setNode(node);
      owners[i++].setShards(shards);
    }
    st.setConnections(v.stats.connections);
    st.setLogins(v.stats.logins);
    st.setMessagesSent(v.stats.messages_sent);
    st.setPushes(v.stats.pushes);
    st.setActiveEntities(v.stats.active_entities);
    st.setServing(v.stats.serving);
    return kj::READY_NOW;
  }

 private:
  const std::function<node_view()>& view_;
};

class engine_impl final : public app::Engine::Server {
 public:
  engine_impl(actors::services& svc, const std::function<node_view()>& view)
      : svc_(svc), view_(view) {}

  kj::Promise<void> tokens(TokensContext context) override {
    context.getResults().setTokens(kj::heap<tokens_impl>(svc_));
    return kj::READY_NOW;
  }
  kj::Promise<void> groups(GroupsContext context) override {
    context.getResults().setGroups(kj::heap<groups_impl>(svc_));
    return kj::READY_NOW;
  }
  kj::Promise<void> messages(MessagesContext context) override {
    context.getResults().setMessages(kj::heap<messages_impl>(svc_));
    return kj::READY_NOW;
  }
  kj::Promise<void> users(UsersContext context) override {
    context.getResults().setUsers(kj::heap<users_impl>(svc_));
    return kj::READY_NOW;
  }
  kj::Promise<void> cluster(ClusterContext context) override {
    context.getResults().setCluster(kj::heap<cluster_impl>(view_));
    return kj::READY_NOW;
  }

 private:
  actors::services& svc_;
  const std::function<node_view()>& view_;
};

/// One connection's bootstrap: only authenticate. Counts wrong secrets and closes the
/// connection (through `close`) after too many.
class bootstrap_impl final : public app::Bootstrap::Server {
 public:
  bootstrap_impl(actors::services& svc, const std::function<node_view()>& view,
                 std::uint32_t max_failures, kj::Own<kj::PromiseFulfiller<void>> close)
      : svc_(svc), view_(view), max_failures_(max_failures), close_(kj::mv(close)) {}

  kj::Promise<void> authenticate(AuthenticateContext context) override {
    if (!svc_.tokens->is_secret(bytes_of(context.getParams().getSecret()))) {
      if (++failures_ > max_failures_ && close_->isWaiting()) close_->fulfill();
      return refuse(errc::not_authenticated, "wrong secret");
    }
    context.getResults().setEngine(kj::heap<engine_impl>(svc_, view_));
    return kj::READY_NOW;
  }

 private:
  actors::services& svc_;
  const std::function<node_view()>& view_;
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
      std::cerr << "parley: app connection closed: " << e.getDescription().cStr() << "\n";
    }
  }

  kj::Promise<void> accept_loop(kj::ConnectionReceiver& listener, kj::TaskSet& tasks) {
    return listener.accept().then([this, &listener, &tasks](kj::Own<kj::AsyncIoStream>&& s) {
      serve(kj::mv(s), tasks);
      return accept_loop(listener, tasks);
    });
  }

  void serve(kj::Own<kj::AsyncIoStream> stream, kj::TaskSet& tasks) {
    if (connections.load() >= opts.max_connections) return;  // dropping the stream closes it
    ++connections;
    auto closing = kj::newPromiseAndFulfiller<void>();
    capnp::ReaderOptions limits;
    limits.traversalLimitInWords = opts.max_call_words;
    auto conn = kj::heap<app_connection>(
        kj::mv(stream), limits,
        kj::heap<bootstrap_impl>(svc, view, opts.max_auth_failures, kj::mv(closing.fulfiller)),
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
      stopping.promise.exclusiveJoin(accept_loop(*listener, tasks)).wait(io.waitScope);
    });
    KJ_IF_MAYBE (e, failure) {
      if (port == 0) {
        started.set_value(error(node_errc::cannot_listen,
                                "cannot open the app port on " + opts.host + ":" +
                                    std::to_string(opts.port) + ": " + e->getDescription().cStr()));
      } else {
        std::cerr << "parley: the app port stopped: " << e->getDescription().cStr() << "\n";
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
