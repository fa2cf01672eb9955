// The user actor ("user/<name>"): the user's sessions (one per device), its inbox (an
// append-only log of what changed for it), the set of conversations it takes part in, and its
// read cursors. It is active exactly while the user has sessions (and briefly around writes),
// so "active" means "online" and pushes only go to active users.

#include "common/entity_actor.hpp"
#include "common/records.hpp"
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

/// A device's session: the connection hub holding its socket (on any node) and the
/// connection's id in that hub.
struct session {
  caf::actor hub;
  std::uint64_t connection = 0;
  std::uint16_t device_type = 0;

  bool is(const caf::actor_addr& h, std::uint64_t c) const {
    return connection == c && hub.address() == h;
  }
};

class user_actor final : public entity_actor {
 public:
  user_actor(caf::actor_config& cfg, services* svc, std::string id, std::uint32_t shard)
      : entity_actor(cfg, svc, id, shard),
        user_(id_.substr(5)),
        inbox_(*svc->db, shard, id_, store::record::inbox) {}

  caf::behavior make_behavior() override {
    if (auto st = load(); !st.ok()) return fail_activation(st);
    // Only remote hubs are monitored: a node failure ends their sessions. A local hub lives as
    // long as this node's gateway, and monitoring it would put one entry per online user in
    // the hub's attachable list (each demonitor scans that list).
    set_down_handler([this](caf::down_msg& dm) { drop_sessions_of(dm.source); });
    return {
        [this](login_atom, std::string& device, std::uint16_t device_type, caf::actor& hub,
               std::uint64_t connection) -> std::uint64_t {
          attach(device, session{std::move(hub), connection, device_type});
          return inbox_head_;
        },
        [this](logout_atom, std::string& device, caf::actor_addr& hub, std::uint64_t connection) {
          auto it = sessions_.find(device);
          if (it != sessions_.end() && it->second.is(hub, connection)) {
            auto gone = std::move(it->second.hub);
            sessions_.erase(it);
            unwatch(gone);
          }
        },
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
        [this](push_atom, std::string& message, std::string& skip_device) {
          for (auto& [device, s] : sessions_) {
            if (device == skip_device) continue;
            send(s.hub, push_atom::value, s.connection, message);
            svc_.counters->pushes.fetch_add(1, std::memory_order_relaxed);
          }
        },
        commit_handler(),
        idle_handler(),
        drain_handler(),
    };
  }

 private:
  bool may_passivate() const override { return sessions_.empty(); }

  store::status load() {
    auto head = inbox_.last_seq();
    if (!head) return head.error();
    inbox_head_ = *head;
    const std::string prefix = store::record_prefix(id_, store::record::membership);
    auto entries = svc_.db->scan(shard_, prefix, store::prefix_end(prefix), SIZE_MAX);
    if (!entries) return entries.error();
    for (auto& e : *entries) conversations_.insert(e.key.substr(prefix.size()));
    return {};
  }

  void attach(const std::string& device, session s) {
    auto it = sessions_.find(device);
    if (it != sessions_.end()) {
      if (it->second.is(s.hub.address(), s.connection)) return;  // a reattach
      // One session per (user, device): the newer login wins.
      send(it->second.hub, kicked_atom::value, it->second.connection,
           static_cast<std::uint16_t>(wire::KickReason::LOGGED_IN_ELSEWHERE),
           std::string("the same device logged in on another connection"));
      auto old = std::move(it->second.hub);
      sessions_.erase(it);
      unwatch(old);
    }
    watch(s.hub);
    sessions_.emplace(device, std::move(s));
  }

  std::size_t sessions_through(const caf::actor& hub) const {
    return std::count_if(sessions_.begin(), sessions_.end(),
                         [&](const auto& entry) { return entry.second.hub == hub; });
  }

  /// Monitors a remote hub once, before its first session here is added.
  void watch(const caf::actor& hub) {
    if (hub.node() != node() && sessions_through(hub) == 0) monitor(hub);
  }

  /// Stops monitoring a remote hub once its last session here is gone.
  void unwatch(const caf::actor& hub) {
    if (hub.node() != node() && sessions_through(hub) == 0) demonitor(hub);
  }

  void drop_sessions_of(const caf::actor_addr& hub) {
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      if (it->second.hub.address() == hub)
        it = sessions_.erase(it);
      else
        ++it;
    }
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
    } else if (k == kind::GROUP_LEFT || k == kind::KICKED_FROM_GROUP) {
      if (conversations_.erase(conversation) == 0) return std::uint64_t{0};
      batch.erase(shard_, membership_key);
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
           [this, rp, event = std::move(event), reply, seq](const store::status& st) mutable {
             if (!st.ok()) {
               rp.deliver(storage_error(st));
               return;
             }
             for (auto& [device, s] : sessions_) send(s.hub, event_atom::value, s.connection, event);
             rp.deliver(reply != 0 ? reply : seq);
           });
    return rp;
  }

  const std::string user_;
  store::seq_log inbox_;
  std::uint64_t inbox_head_ = 0;
  std::map<std::string, session> sessions_;
  std::set<std::string> conversations_;
};

}  // namespace

caf::actor spawn_user(services& svc, const std::string& id, std::uint32_t shard) {
  return svc.system->spawn<user_actor, caf::lazy_init>(&svc, id, shard);
}

}  // namespace parley::actors
