#pragma once
// Reply encoders of the client edge: what a connection writes, as pure functions over Cap'n
// Proto builders (no actor, no socket; tests/actors reads them back). A connection fills a
// Result with one of these and sends the frame (connection.cpp); pushes are encoded once by
// the entity that stored the record and shared by every recipient.

#include "parley/actors/messages.hpp"
#include "parley/actors/wire_errors.hpp"
#include "parley/runtime/errc.hpp"
#include "parley/schema/framing.hpp"

#include "client.capnp.h"

#include <cstdint>
#include <string>

namespace parley::actors {

/// One ServerFrame, filled by `fill`, encoded once for the write path.
template <class Fill>
schema::shared_frame encode_server_frame(Fill&& fill) {
  schema::message_builder message;
  fill(message.initRoot<wire::ServerFrame>());
  return schema::share(schema::encode_frame(message));
}

/// An error Result: to_wire(err).
void fill_error(wire::Result::Builder r, const error& err);
/// A Send's answer: where the message landed.
void fill_sent(wire::Result::Builder r, const send_ack& ack);
/// A Pull's or History's answer: stored Message records, copied as they are.
void fill_messages(wire::Result::Builder r, const record_page& page);
/// A Sync's answer: stored InboxEvent records, copied as they are.
void fill_events(wire::Result::Builder r, const record_page& page);
/// A group request's answer: the group and the user's role in it.
void fill_group(wire::Result::Builder r, const group_info& g);
void fill_join_requests(wire::Result::Builder r, const std::vector<join_request>& requests);
/// A ReadReceipts' answer.
void fill_receipts(wire::Result::Builder r, const read_receipts& receipts);
/// A ListRelations' answer.
void fill_relations(wire::Result::Builder r, const relation_page& page);
/// A ListConversations' answer.
void fill_conversations(wire::Result::Builder r, const conversation_list& list);
/// A GroupProfile answer (updateGroup, groupProfile).
void fill_group_profile(wire::Result::Builder r, const group_summary& g);
/// A ListMembers' answer.
void fill_members(wire::Result::Builder r, const member_page& page);
/// A Login's answer: who is logged in, and the durable head of their inbox.
void fill_login(wire::Result::Builder r, const std::string& user, std::uint64_t inbox_head);

}  // namespace parley::actors
