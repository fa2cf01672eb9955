// Messages: sends with a client's contract (limits, dedupe, ack once durable, pushes).

#include "capabilities.hpp"
#include "support.hpp"

#include "parley/actors/app_calls.hpp"
#include "parley/actors/validation.hpp"
#include "parley/schema/ids.hpp"

#include "client.capnp.h"

#include <capnp/message.h>

namespace parley::server::app_rpc {

namespace {

using schema::text;

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

}  // namespace

kj::Own<app::Messages::Server> make_messages(actors::services& svc) {
  return kj::heap<messages_impl>(svc);
}

}  // namespace parley::server::app_rpc
