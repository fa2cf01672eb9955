// An app server beside Parley: it issues tokens, creates a group, installs a banned-words
// before-send hook, answers as a bot and prints the engine's events, all over the app port
// (schema/app.capnp).
//
// The app server runs on its own thread with its own kj event loop (as it would in its own
// process): the node calls its hooks while the users' clients, on the main thread, wait for
// their answers. Against a running node give its app port, client port and secret file:
//   app_server --app 127.0.0.1:7001 --client 127.0.0.1:7000 --secret-file data/secret
// Without arguments it starts an in-process node. Exit code 0 when everything behaved.

#include "parley/client/client.hpp"
#include "parley/runtime/token.hpp"
#include "parley/testing/embedded_node.hpp"

#include "app.capnp.h"

#include <capnp/ez-rpc.h>
#include <kj/async.h>

#include <condition_variable>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

using namespace parley;

namespace {

std::string text_of(capnp::Data::Reader d) {
  return std::string(reinterpret_cast<const char*>(d.begin()), d.size());
}

capnp::Data::Reader data_of(const std::string& s) {
  return capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(s.data()), s.size());
}

/// The banned-words hook: a message containing a banned word is refused with a reason.
class banned_words final : public app::BeforeSendHook::Server {
 public:
  kj::Promise<void> check(CheckContext context) override {
    auto m = context.getParams().getMessage();
    const std::string body = text_of(m.getBody());
    auto verdict = context.getResults().initVerdict();
    for (const char* word : {"spam", "scam"}) {
      if (body.find(word) != std::string::npos) {
        verdict.setReject(std::string("please do not say \"") + word + "\"");
        std::cout << "app: rejected a message from " << m.getSender().cStr() << "\n";
        return kj::READY_NOW;
      }
    }
    verdict.setAllow();
    return kj::READY_NOW;
  }
};

/// The bot "helpdesk": answers every message through Messages.sendAsUser.
class helpdesk final : public app::BotHook::Server {
 public:
  explicit helpdesk(app::Messages::Client messages) : messages_(kj::mv(messages)) {}

  kj::Promise<void> receive(ReceiveContext context) override {
    kj::Promise<void> answers = kj::READY_NOW;
    for (auto m : context.getParams().getMessages()) {
      auto message = m.getMessage();
      std::cout << "app: bot " << m.getBot().cStr() << " got \"" << text_of(message.getBody())
                << "\" from " << message.getSender().cStr() << "\n";
      auto req = messages_.sendAsUserRequest();
      req.setSender(m.getBot());
      req.setToUser(message.getSender());
      req.setClientMsgId("answer-" + std::to_string(message.getSeq()));
      req.setBody(data_of("we are on it: " + text_of(message.getBody())));
      answers = answers.then([req = kj::mv(req)]() mutable { return req.send().ignoreResult(); });
    }
    return answers;
  }

 private:
  app::Messages::Client messages_;
};

/// Prints every event of the feed and counts the stored messages (a real app would keep the
/// cursor that comes with each batch, to resume from it after a restart).
class event_printer final : public app::EventListener::Server {
 public:
  kj::Promise<void> deliver(DeliverContext context) override {
    for (auto e : context.getParams().getEvents()) {
      switch (e.which()) {
        case app::Event::MESSAGE_STORED: {
          auto m = e.getMessageStored();
          std::cout << "app: event: " << m.getConversation().cStr() << " #" << m.getSeq()
                    << " stored, from " << m.getSender().cStr() << "\n";
          std::lock_guard<std::mutex> lock(mu_);
          ++stored_;
          cv_.notify_all();
          break;
        }
        case app::Event::SESSION_OPENED:
          std::cout << "app: event: " << e.getSessionOpened().getUser().cStr() << " online\n";
          break;
        case app::Event::SESSION_CLOSED:
          std::cout << "app: event: " << e.getSessionClosed().getUser().cStr() << " offline\n";
          break;
        case app::Event::GROUP_CHANGED:
          std::cout << "app: event: " << e.getGroupChanged().getUser().cStr() << " in group "
                    << e.getGroupChanged().getGroup().cStr() << " changed\n";
          break;
      }
    }
    return kj::READY_NOW;
  }

  /// Waits (at most 10 s) until `n` stored messages were seen.
  static bool wait_for_stored(std::size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [n] { return stored_ >= n; });
  }

 private:
  static inline std::mutex mu_;
  static inline std::condition_variable cv_;
  static inline std::size_t stored_ = 0;
};

struct endpoints {
  std::string app_host = "127.0.0.1";
  std::uint16_t app_port = 0;
  std::string client_host = "127.0.0.1";
  std::uint16_t client_port = 0;
  std::string secret_file;
};

/// What the app server hands to the users' side once it has set everything up.
struct app_ready {
  std::string ann_token, ben_token;
};

/// The app server: sets up, reports through `ready`, then serves its hooks until `stop`.
void run_app(const endpoints& at, std::promise<app_ready>& ready,
             kj::Own<kj::CrossThreadPromiseFulfiller<void>>& stop_out, std::mutex& mu) {
  capnp::EzRpcClient rpc(at.app_host, at.app_port);
  auto& ws = rpc.getWaitScope();
  auto stopping = kj::newPromiseAndCrossThreadFulfiller<void>();
  {
    std::lock_guard<std::mutex> lock(mu);
    stop_out = kj::mv(stopping.fulfiller);
  }
  kj::Maybe<app::Subscription::Client> subscription;  // the feed lasts while it is held
  try {
    auto secret = runtime::load_secret(at.secret_file);
    if (!secret.ok())
      throw std::runtime_error("cannot read the secret: " + secret.error().describe());
    auto auth = rpc.getMain<app::Bootstrap>().authenticateRequest();
    auth.setSecret(data_of(*secret));
    auto engine = auth.send().wait(ws).getEngine();

    // Tokens for two users, valid for an hour.
    app_ready out;
    auto tokens = engine.tokensRequest().send().wait(ws).getTokens();
    for (auto [user, token] : {std::pair{"ann", &out.ann_token}, {"ben", &out.ben_token}}) {
      auto req = tokens.issueRequest();
      req.setUser(user);
      req.setTtlSeconds(3600);
      *token = req.send().wait(ws).getToken().cStr();
    }
    // A group with both.
    auto groups = engine.groupsRequest().send().wait(ws).getGroups();
    auto create = groups.createRequest();
    create.setOwner("ann");
    create.setGroup("support");
    create.setName("Support");
    create.initMembers(1).set(0, "ben");
    std::cout << "app: created group support with " << create.send().wait(ws).getMembers()
              << " members\n";
    // The hooks.
    auto hooks = engine.hooksRequest().send().wait(ws).getHooks();
    auto before_send = hooks.setBeforeSendRequest();
    before_send.setHook(kj::heap<banned_words>());
    before_send.setTimeoutMs(200);
    before_send.setFailOpen(false);
    before_send.send().wait(ws);
    auto messages = engine.messagesRequest().send().wait(ws).getMessages();
    auto bots = hooks.setBotsRequest();
    bots.initBots(1).set(0, "helpdesk");
    bots.setHook(kj::heap<helpdesk>(messages));
    bots.send().wait(ws);
    std::cout << "app: hooks installed\n";
    // The event feed, from now on (head: the current end of every shard's log).
    auto events = engine.eventsRequest().send().wait(ws).getEvents();
    auto subscribe = events.subscribeRequest();
    subscribe.setCursor(events.headRequest().send().wait(ws).getCursor());
    subscribe.setListener(kj::heap<event_printer>());
    subscription = subscribe.send().wait(ws).getSubscription();
    ready.set_value(out);
  } catch (...) {
    ready.set_exception(std::current_exception());
    return;
  }
  stopping.promise.wait(ws);
}

int fail(const std::string& what) {
  std::cerr << "app_server: " << what << "\n";
  return 1;
}

/// The users' side: ann and ben chat in the group; ann asks the helpdesk bot.
int chat(const endpoints& at, const app_ready& tokens) {
  auto ann_conn = client::connection::connect(at.client_host, at.client_port);
  auto ben_conn = client::connection::connect(at.client_host, at.client_port);
  if (!ann_conn || !ben_conn) return fail("cannot connect to the client port");
  auto& ann = **ann_conn;
  auto& ben = **ben_conn;
  if (!ann.login(tokens.ann_token, "laptop").ok() || !ben.login(tokens.ben_token, "phone").ok()) {
    return fail("login with the app's tokens failed");
  }
  auto hello = ann.send_to_group("support", "m1", "hello ben");
  if (!hello.ok()) return fail("send failed: " + hello.error);
  std::cout << "ann -> support #" << hello.seq << "\n";
  auto refused = ann.send_to_group("support", "m2", "buy my spam");
  if (refused.code != wire::ErrorCode::REJECTED) return fail("the hook did not reject");
  std::cout << "ann was told: " << refused.error << "\n";
  auto asked = ann.send_to_user("helpdesk", "m3", "my phone is broken");
  if (!asked.ok()) return fail("send to the bot failed: " + asked.error);
  for (;;) {
    auto push = ann.next_push(std::chrono::seconds(10));
    if (!push) return fail("the bot did not answer");
    if (push->what != client::push::kind::message || push->msg.sender != "helpdesk") continue;
    std::cout << "ann got from helpdesk: " << push->msg.body << "\n";
    break;
  }
  auto pulled = ben.pull("group/support", 0);
  if (!pulled.ok() || pulled.messages.size() != 1) return fail("ben should see one message");
  std::cout << "ben sees " << pulled.messages.size() << " message in support\n";
  // Stored: ann's hello, her question to the bot and the bot's answer (the rejected one not).
  if (!event_printer::wait_for_stored(3)) return fail("the event feed did not report 3 messages");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  endpoints at;
  std::optional<testing::embedded_node> node;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    auto host_port = [&](std::string& host, std::uint16_t& port) {
      auto colon = value.rfind(':');
      host = value.substr(0, colon);
      port = static_cast<std::uint16_t>(std::stoi(value.substr(colon + 1)));
    };
    if (flag == "--app")
      host_port(at.app_host, at.app_port);
    else if (flag == "--client")
      host_port(at.client_host, at.client_port);
    else if (flag == "--secret-file")
      at.secret_file = value;
    else
      return fail("unknown option " + flag);
  }
  if (at.app_port == 0) {
    server::node_options o;
    o.app_enabled = true;
    node.emplace(o);
    at.app_port = node->node().app_port();
    at.client_port = node->port();
    at.secret_file = node->data_dir() + "/secret";
    std::cout << "in-process node: clients on " << at.client_port << ", app port " << at.app_port
              << "\n";
  }

  std::mutex mu;
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> stop;
  std::promise<app_ready> ready;
  auto set_up = ready.get_future();
  std::thread app([&] { run_app(at, ready, stop, mu); });
  int status;
  try {
    status = chat(at, set_up.get());
  } catch (const std::exception& e) {
    status = fail(std::string("the app could not set up: ") + e.what());
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    if (stop) stop->fulfill();
  }
  app.join();
  return status;
}
