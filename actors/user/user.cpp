// The user actor ("user/<name>"): the user's inbox (an append-only log of what changed for it),
// the set of conversations it takes part in, its read cursors and its storage quota (bytes of
// message bodies stored, leased to its connections in chunks). It passivates when idle,
// online or not: the sessions are the presence actor's (actors/presence/presence.cpp), which
// also gets the inbox events to push to them.

#include "user/user.hpp"
#include "presence/presence.hpp"

#include "common/entity_actor.hpp"
#include "common/records.hpp"
#include "common/route.hpp"
#include "common/spawners.hpp"

#include "parley/runtime/entity_id.hpp"
#include "parley/store/keys.hpp"
#include "parley/store/seq_log.hpp"

#include "client.capnp.h"

#include <caf/actor_system.hpp>
#include <caf/system_messages.hpp>

#include <algorithm>
#include <map>
#include <set>

namespace parley::actors {

namespace {

class user_actor final : public entity_actor {
 public:
  user_actor(caf::actor_config& cfg, services* svc, std::string id, std::string name,
             std::uint32_t shard)
      : entity_actor(cfg, svc, std::move(id), shard),
        user_(std::move(name)),
        inbox_(*svc->db, shard, id_, store::record::inbox) {}

  caf::behavior make_behavior() override {
    if (auto st = load()) return fail_activation(st);
    return serve<user::interface>(
        [this](sync_atom, std::uint64_t after, std::uint32_t limit) -> caf::result<record_page> {
          auto page = inbox_.read_after(after, limit);
          if (!page) return storage_error(page.error());
          record_page out;
          out.has_more = page->has_more;
          for (auto& e : page->entries) out.records.push_back(std::move(e.value));
          return out;
        },
        [this](read_atom, std::string& conversation, std::uint64_t seq)
            -> caf::result<std::uint64_t> { return mark_read(conversation, seq); },
        [this](announce_atom, inbox_event_spec& spec) -> caf::result<std::uint64_t> {
          return record_event(std::move(spec));
        },
        [this](canjoin_atom, std::string& group) -> caf::result<bool> {
          const std::string conversation = runtime::group_conversation(group);
          if (conversations_.count(conversation) > 0) return true;  // a member already
          const auto groups =
              std::count_if(conversations_.begin(), conversations_.end(),
                            [](const std::string& c) { return c.rfind("group/", 0) == 0; });
          if (static_cast<std::size_t>(groups) >= svc_.options.max_groups_per_user) {
            return make_error(errc::limit_exceeded, user_ + " is in " + std::to_string(groups) +
                                                        " groups, the most allowed");
          }
          return true;
        },
        [this](grant_atom, std::uint64_t want, std::uint64_t at_least)
            -> caf::result<std::uint64_t> { return grant(want, at_least); },
        [this](refund_atom, std::uint64_t bytes) { refund(bytes); });
  }

 private:
  error load() {
    auto head = inbox_.last_seq();
    if (!head) return head.error();
    inbox_head_ = *head;
    const std::string prefix = store::record_prefix(id_, store::record::membership);
    auto entries = svc_.db->scan(shard_, prefix, store::prefix_end(prefix), SIZE_MAX);
    if (!entries) return entries.error();
    for (auto& e : *entries) conversations_.insert(e.key.substr(prefix.size()));
    auto stored = svc_.db->get(shard_, stored_key_);
    if (!stored) return stored.error();
    stored_bytes_ = *stored ? store::decode_u64(**stored) : 0;
    return {};
  }

  /// Leases up to `want` bytes of the storage quota (at least `at_least`, or none), counted as
  /// stored once the new total is durable.
  caf::result<std::uint64_t> grant(std::uint64_t want, std::uint64_t at_least) {
    const std::uint64_t max = svc_.options.max_stored_bytes_per_user;
    const std::uint64_t left = max > stored_bytes_ ? max - stored_bytes_ : 0;
    if (left < at_least || at_least == 0) {
      return make_error(errc::limit_exceeded,
                        "storage quota of " + std::to_string(max) + " bytes reached");
    }
    const std::uint64_t granted = std::min(want, left);
    stored_bytes_ += granted;
    auto rp = make_response_promise<std::uint64_t>();
    commit(stored_batch(), [this, rp, granted](const error& st) mutable {
      if (st.ok()) {
        rp.deliver(granted);
        return;
      }
      stored_bytes_ -= std::min(granted, stored_bytes_);  // not leased after all
      rp.deliver(storage_error(st));
    });
    return rp;
  }

  /// Takes back quota a connection leased and did not spend.
  void refund(std::uint64_t bytes) {
    stored_bytes_ -= std::min(bytes, stored_bytes_);
    commit(stored_batch(), [](const error&) {
      // Lost on a storage failure: the user keeps less quota than it could, never more.
    });
  }

  store::write_batch stored_batch() const {
    store::write_batch batch;
    batch.put(shard_, stored_key_, store::encode_u64(stored_bytes_));
    return batch;
  }

  caf::result<std::uint64_t> mark_read(const std::string& conversation, std::uint64_t seq) {
    if (conversations_.count(conversation) == 0) {
      return make_error(errc::not_found, "no conversation " + conversation + " for " + user_);
    }
    const std::string key = store::named_key(id_, store::record::read_cursor, conversation);
    auto current = svc_.db->get(shard_, key);
    if (!current) return storage_error(current.error());
    const std::uint64_t old = *current ? store::decode_u64(**current) : 0;
    if (seq <= old) return old;  // cursors only move forward; an old mark is a no-op
    store::write_batch batch;
    batch.put(shard_, key, store::encode_u64(seq));
    inbox_event_spec spec;
    spec.kind = static_cast<std::uint16_t>(wire::InboxEventKind::READ_MARKED);
    spec.conversation = conversation;
    spec.arg_seq = seq;
    return append_event(std::move(batch), spec, seq);
  }

  caf::result<std::uint64_t> record_event(inbox_event_spec spec) {
    using kind = wire::InboxEventKind;
    const auto k = static_cast<kind>(spec.kind);
    const std::string conversation =
        spec.group.empty() ? spec.conversation : runtime::group_conversation(spec.group);
    const std::string membership_key =
        store::named_key(id_, store::record::membership, conversation);
    store::write_batch batch;
    if (k == kind::CONVERSATION_STARTED || k == kind::GROUP_JOINED) {
      // Idempotent: announcing a conversation the user already has records nothing.
      if (!conversations_.insert(conversation).second) return std::uint64_t{0};
      batch.put(shard_, membership_key, std::string());
    } else if (k == kind::GROUP_LEFT || k == kind::KICKED_FROM_GROUP ||
               k == kind::GROUP_DISMISSED) {
      if (conversations_.erase(conversation) == 0) return std::uint64_t{0};
      batch.erase(shard_, membership_key);
    } else if (k == kind::ROLE_CHANGED) {
      if (conversations_.count(conversation) == 0) return std::uint64_t{0};  // no longer in it
    } else if (k == kind::MESSAGE_HIDDEN) {
      if (conversations_.count(conversation) == 0) {
        return make_error(errc::not_found, "no conversation " + conversation + " for " + user_);
      }
    } else {
      return make_error(errc::bad_request, "inbox events of this kind are not announced");
    }
    return append_event(std::move(batch), spec, 0);
  }

  /// Appends `spec` to the inbox in `batch`, commits, pushes it to the sessions, and answers
  /// `reply` once durable.
  caf::result<std::uint64_t> append_event(store::write_batch batch, const inbox_event_spec& spec,
                                          std::uint64_t reply) {
    const std::uint64_t seq = ++inbox_head_;
    std::string event = encode_event(spec, seq, now_ms());
    inbox_.append(batch, seq, event);
    auto rp = make_response_promise<std::uint64_t>();
    commit(std::move(batch),
           [this, rp, event = std::move(event), reply, seq](const error& st) mutable {
             if (!st.ok()) {
               rp.deliver(storage_error(st));
               return;
             }
             tell_if_active(svc_, presence::of_shard(shard_), event_atom::value, user_,
                            encode_push_frame(event, false));
             rp.deliver(reply != 0 ? reply : seq);
           });
    return rp;
  }

  void add_figures(std::vector<figure>& out) const override {
    out.push_back({"inbox_head", inbox_head_});
    out.push_back({"conversations", conversations_.size()});
    out.push_back({"stored_bytes", stored_bytes_});
  }

  const std::string user_;
  const std::string stored_key_ = store::named_key(id_, store::record::stored, "");
  std::uint64_t stored_bytes_ = 0;  ///< Of the quota: spent or leased to connections.
  store::seq_log inbox_;
  std::uint64_t inbox_head_ = 0;
  std::set<std::string> conversations_;
};

}  // namespace

caf::actor spawn_user(services& svc, const std::string& id, std::string name, std::uint32_t shard) {
  return svc.system->spawn<user_actor, caf::lazy_init>(&svc, id, std::move(name), shard);
}

}  // namespace parley::actors
