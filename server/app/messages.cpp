// Messages: sends with a client's contract (limits, dedupe, ack once durable, pushes).

#include "capabilities.hpp"
#include "support.hpp"

#include "parley/actors/app_calls.hpp"
#include "parley/actors/validation.hpp"
#include "parley/runtime/entity_id.hpp"
#include "parley/schema/framing.hpp"
#include "parley/schema/ids.hpp"

#include "client.capnp.h"

#include <capnp/message.h>

namespace parley::server::app_rpc {

namespace {

using schema::text;

constexpr const char* bad_conversation_id =
    "invalid conversation id (dm/<a>/<b>, group/<g> or sys/<u>)";

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
    return send(context, sender, p.getToUser(), p.getToGroup(), p.getClientMsgId(), p.getBody(),
                p.getContentType());
  }

  kj::Promise<void> sendAsSystem(SendAsSystemContext context) override {
    auto p = context.getParams();
    if ((p.getToGroup().size() > 0) == (p.getToUser().size() > 0)) {
      return refuse(errc::bad_request, "give toGroup or toUser");
    }
    return send(context, actors::by_app, p.getToUser(), p.getToGroup(), p.getClientMsgId(),
                p.getBody(), p.getContentType());
  }

  kj::Promise<void> setRetention(SetRetentionContext context) override {
    auto p = context.getParams();
    const std::string conversation = text(p.getConversation());
    if (!runtime::parse_conversation(conversation)) {
      return refuse(errc::bad_request, bad_conversation_id);
    }
    if (p.getSeconds() > actors::max_retention_seconds) {
      return refuse(errc::bad_request, "retention exceeds a hundred years");
    }
    auto answer = answer_from_caf<std::uint64_t>();
    actors::set_retention_as_app(svc_, conversation, p.getSeconds() * 1000,
                                 std::move(answer.callback));
    return answer.promise.then([](std::uint64_t) {});
  }

  kj::Promise<void> history(HistoryContext context) override {
    auto p = context.getParams();
    const std::string conversation = text(p.getConversation());
    if (!runtime::parse_conversation(conversation)) {
      return refuse(errc::bad_request, bad_conversation_id);
    }
    auto answer = answer_from_caf<actors::record_page>();
    actors::read_history(svc_, conversation, p.getBeforeSeq(),
                         actors::page_limit(p.getLimit(), svc_.options),
                         std::move(answer.callback));
    return answer.promise.then([context](actors::record_page page) mutable {
      auto r = context.getResults();
      schema::copy_stored<wire::Message>(
          page.records, r.initMessages(static_cast<unsigned>(page.records.size())));
      r.setMore(page.has_more);
    });
  }

 private:
  /// Sends as `sender` (actors::by_app: a system message) with the client edge's rules for a
  /// Send, applied to the same fields; answers through `context`'s results.
  template <class Context>
  kj::Promise<void> send(Context context, const std::string& sender, capnp::Text::Reader to_user,
                         capnp::Text::Reader to_group, capnp::Text::Reader client_msg_id,
                         capnp::Data::Reader body, std::uint32_t content_type) {
    capnp::MallocMessageBuilder message;
    auto s = message.initRoot<wire::Send>();
    if (to_group.size() > 0)
      s.initTarget().setGroup(to_group);
    else
      s.initTarget().setUser(to_user);
    s.setClientMsgId(client_msg_id);
    s.setContentType(content_type);
    s.setBody(body);
    auto checked = actors::validate_send(s.asReader(), sender, "app", svc_.options);
    if (!checked) return app_exception(checked.error());
    if (sender == actors::by_app && to_user.size() > 0) {
      // The system's messages to a user go to that user's own system conversation.
      checked->request.conversation = runtime::system_conversation(text(to_user));
      checked->entity = runtime::conversation_entity(checked->request.conversation);
    }
    checked->request.from_app = true;
    auto answer = answer_from_caf<actors::send_ack>();
    actors::send_as(svc_, std::move(*checked), std::move(answer.callback));
    return answer.promise.then([context](actors::send_ack ack) mutable {
      auto r = context.getResults();
      r.setConversation(ack.conversation);
      r.setSeq(ack.seq);
      r.setTimestampMs(ack.timestamp_ms);
    });
  }

  actors::services& svc_;
};

}  // namespace

kj::Own<app::Messages::Server> make_messages(actors::services& svc) {
  return kj::heap<messages_impl>(svc);
}

}  // namespace parley::server::app_rpc
