// The user actor ("user/<name>"): the user's inbox (an append-only log of what changed for it),
// the set of conversations it takes part in, its read cursors, its storage quota (bytes of
// message bodies stored, leased to its connections in chunks) and its relations with other
// users (friends, pending friend requests, blocks). It passivates when idle, online or not:
// the sessions are the presence actor's (actors/presence/presence.cpp), which also gets the
// inbox events to push to them.
//
// Relations: a relation op of this user (relate) is done at the other user's actor first
// (peerrel: it refuses a request from someone it blocked, notices a mutual request, forgets a
// request that was withdrawn), then at their direct conversation (peers: friends, blocks; the
// conversation refuses sends by them), then here. Each side records its own view and an inbox
// event relationChanged for its devices. A failure at any step answers an error and leaves
// this side as it was, so the client's retry converges (every step is idempotent). Pending
// requests lapse after friend_request_ttl (treated as absent from then on).

#include "user/user.hpp"
#include "group/group.hpp"
#include "presence/presence.hpp"

#include "common/entity_actor.hpp"
#include "common/fan_in.hpp"
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
                            [](const auto& c) { return c.first.rfind("group/", 0) == 0; });
          if (static_cast<std::size_t>(groups) >= svc_.options.max_groups_per_user) {
            return make_error(errc::limit_exceeded, user_ + " is in " + std::to_string(groups) +
                                                        " groups, the most allowed");
          }
          return true;
        },
        [this](grant_atom, std::uint64_t want, std::uint64_t at_least)
            -> caf::result<std::uint64_t> { return grant(want, at_least); },
        [this](refund_atom, std::uint64_t bytes) { refund(bytes); },
        [this](relate_atom, std::uint16_t op, std::string& other,
               std::string& message) -> caf::result<std::uint16_t> {
          return relate(static_cast<relation_op>(op), other, message);
        },
        [this](peerrel_atom, std::uint16_t op, std::string& from, std::string& message,
               std::uint64_t expires_ms) -> caf::result<std::uint16_t> {
          return on_peer(static_cast<peer_op>(op), from, message, expires_ms);
        },
        [this](relations_atom, std::uint16_t filter, std::string& after, std::uint32_t limit)
            -> caf::result<relation_page> { return relations_after(filter, after, limit); },
        [this](flags_atom, std::string& conversation, bool muted,
               bool pinned) -> caf::result<bool> { return set_flags(conversation, muted, pinned); },
        [this](convlist_atom, std::string& cursor, std::uint32_t limit)
            -> caf::result<conversation_list> { return list_conversations(cursor, limit); },
        [this](setprof_atom, std::string& profile) -> caf::result<bool> {
          store::write_batch batch;
          batch.put(shard_, profile_key_, profile);
          auto rp = make_response_promise<bool>();
          commit(std::move(batch), [rp](const error& st) mutable {
            if (st.ok())
              rp.deliver(true);
            else
              rp.deliver(storage_error(st));
          });
          return rp;
        },
        [this](getprof_atom, std::string& viewer) -> caf::result<std::string> {
          auto stored = svc_.db->get(shard_, profile_key_);
          if (!stored) return storage_error(stored.error());
          const viewer_kind kind = viewer == user_ ? viewer_kind::self
                                   : relation_with(viewer) == relation::FRIEND
                                       ? viewer_kind::a_friend
                                       : viewer_kind::stranger;
          return profile_for(stored->value_or(std::string()), user_, kind);
        });
  }

 private:
  error load() {
    auto head = inbox_.last_seq();
    if (!head) return head.error();
    inbox_head_ = *head;
    const std::string prefix = store::record_prefix(id_, store::record::membership);
    auto entries = svc_.db->scan(shard_, prefix, store::prefix_end(prefix), SIZE_MAX);
    if (!entries) return entries.error();
    for (auto& e : *entries) {
      conversations_[e.key.substr(prefix.size())] =
          e.value.empty() ? 0 : static_cast<std::uint8_t>(e.value[0]);
    }
    auto stored = svc_.db->get(shard_, stored_key_);
    if (!stored) return stored.error();
    stored_bytes_ = *stored ? store::decode_u64(**stored) : 0;
    const std::string related = store::record_prefix(id_, store::record::relation);
    auto relations = svc_.db->scan(shard_, related, store::prefix_end(related), SIZE_MAX);
    if (!relations) return relations.error();
    for (auto& e : *relations) {
      if (auto r = decode_relation(e.value)) relations_[e.key.substr(related.size())] = *r;
    }
    return {};
  }

  // -- conversation list --------------------------------------------------------------------------

  static constexpr std::uint8_t flag_muted = 1;
  static constexpr std::uint8_t flag_pinned = 2;

  caf::result<bool> set_flags(const std::string& conversation, bool muted, bool pinned) {
    auto it = conversations_.find(conversation);
    if (it == conversations_.end()) {
      return make_error(errc::not_found, "no conversation " + conversation + " for " + user_);
    }
    const auto flags =
        static_cast<std::uint8_t>((muted ? flag_muted : 0) | (pinned ? flag_pinned : 0));
    it->second = flags;
    store::write_batch batch;
    batch.put(shard_, store::named_key(id_, store::record::membership, conversation),
              flags == 0 ? std::string() : std::string(1, static_cast<char>(flags)));
    auto rp = make_response_promise<bool>();
    commit(std::move(batch), [rp](const error& st) mutable {
      if (st.ok())
        rp.deliver(true);
      else
        rp.deliver(storage_error(st));
    });
    return rp;
  }

  /// Where a list entry sorts: pinned first, then newest activity first, then by id.
  struct list_position {
    bool pinned = false;
    std::uint64_t last_ms = 0;
    std::string conversation;

    bool operator<(const list_position& o) const {
      if (pinned != o.pinned) return pinned;
      if (last_ms != o.last_ms) return last_ms > o.last_ms;
      return conversation < o.conversation;
    }
    /// "<0|1>:<ms>:<conversation>": the cursor a page ends at.
    std::string cursor() const {
      return std::string(pinned ? "1" : "0") + ":" + std::to_string(last_ms) + ":" + conversation;
    }
    static std::optional<list_position> parse(const std::string& cursor) {
      const auto a = cursor.find(':');
      const auto b = a == std::string::npos ? a : cursor.find(':', a + 1);
      if (b == std::string::npos || a != 1 || (cursor[0] != '0' && cursor[0] != '1')) {
        return std::nullopt;
      }
      list_position p;
      p.pinned = cursor[0] == '1';
      const std::string ms = cursor.substr(a + 1, b - a - 1);
      if (ms.empty() || ms.size() > 20 || ms.find_first_not_of("0123456789") != std::string::npos) {
        return std::nullopt;
      }
      p.last_ms = std::stoull(ms);
      p.conversation = cursor.substr(b + 1);
      return p;
    }
  };

  /// One page of the user's conversations: every conversation is asked for its entry (its
  /// last entry, unread counts: read diffusion, so a large group's message writes nothing per
  /// member), then they are ordered and cut after `cursor`.
  caf::result<conversation_list> list_conversations(const std::string& cursor,
                                                    std::uint32_t limit) {
    std::optional<list_position> after;
    if (!cursor.empty()) {
      after = list_position::parse(cursor);
      if (!after) return make_error(errc::bad_request, "not a cursor of this list");
    }
    const std::size_t want = limit == 0 ? svc_.options.default_page
                                        : std::min<std::size_t>(limit, svc_.options.max_page);
    auto rp = make_response_promise<conversation_list>();
    struct gathering : fan_in {
      using fan_in::fan_in;
      std::vector<conversation_summary> found;
    };
    auto state = std::make_shared<gathering>(conversations_.size());
    auto finish = [state, after, want, rp]() mutable {
      std::vector<std::pair<list_position, conversation_summary*>> order;
      for (auto& s : state->found) order.push_back({{s.pinned, s.last_ms, s.conversation}, &s});
      std::sort(order.begin(), order.end(),
                [](const auto& x, const auto& y) { return x.first < y.first; });
      conversation_list page;
      for (auto& [position, entry] : order) {
        if (after && !(*after < position)) continue;
        if (page.entries.size() == want) {
          page.has_more = true;
          break;
        }
        page.next_cursor = position.cursor();
        page.entries.push_back(std::move(*entry));
      }
      rp.deliver(std::move(page));
    };
    if (state->waiting == 0) {
      finish();
      return rp;
    }
    for (const auto& [conversation, flags] : conversations_) {
      auto ref = runtime::parse_conversation(conversation);
      if (!ref) {  // not a conversation id (cannot happen: only checked ids are recorded)
        if (state->arrived()) finish();
        continue;
      }
      const bool muted = (flags & flag_muted) != 0, pinned = (flags & flag_pinned) != 0;
      ask(
          this, svc_, conversation_log_of(*ref, conversation),
          [state, finish, muted, pinned](conversation_summary& s) mutable {
            s.muted = muted;
            s.pinned = pinned;
            state->found.push_back(std::move(s));
            if (state->arrived()) finish();
          },
          [state, rp](caf::error& err) mutable {
            if (state->fail()) rp.deliver(std::move(err));
          },
          summary_atom::value, user_, std::uint64_t{0});
    }
    return rp;
  }

  // -- relations ----------------------------------------------------------------------------------

  using relation = wire::Relation;

  static std::uint16_t code(relation r) { return static_cast<std::uint16_t>(r); }

  /// This user's relation with `other` now (a lapsed request counts as none).
  relation relation_with(const std::string& other) const {
    auto it = relations_.find(other);
    if (it == relations_.end()) return relation::NONE;
    const auto& r = it->second;
    if (r.expires_ms != 0 && now_ms() >= r.expires_ms) return relation::NONE;
    return static_cast<relation>(r.relation);
  }

  /// Relations in force (lapsed requests not counted).
  std::size_t live_relations() const {
    return static_cast<std::size_t>(std::count_if(
        relations_.begin(), relations_.end(),
        [this](const auto& entry) { return relation_with(entry.first) != relation::NONE; }));
  }

  caf::error check_room(const std::string& whose) const {
    if (live_relations() < svc_.options.max_relations_per_user) return {};
    return make_error(errc::limit_exceeded, whose + " has " + std::to_string(live_relations()) +
                                                " friends, requests and blocks, the most allowed");
  }

  using relation_promise = caf::typed_response_promise<std::uint16_t>;

  caf::result<std::uint16_t> relate(relation_op op, const std::string& other,
                                    const std::string& message) {
    const relation now = relation_with(other);
    switch (op) {
      case relation_op::request: {
        if (now == relation::BLOCKED) {
          return make_error(errc::forbidden, "you have blocked " + other + "; unblock first");
        }
        if (now == relation::FRIEND || now == relation::REQUEST_SENT) return code(now);
        if (now == relation::REQUEST_RECEIVED) return relate(relation_op::accept, other, message);
        if (auto err = check_room(user_)) return err;
        const std::uint64_t expires =
            now_ms() + static_cast<std::uint64_t>(svc_.options.friend_request_ttl.count());
        return after_peer(
            peer_op::asked, other, message, expires,
            [this, other, message, expires](std::uint16_t theirs, relation_promise rp) {
              if (theirs == code(relation::FRIEND)) {  // they had asked us too
                return change(other, relation::FRIEND, {}, 0, peer_change::friends_on, rp);
              }
              change(other, relation::REQUEST_SENT, message, expires, {}, rp);
            });
      }
      case relation_op::accept:
        if (now == relation::FRIEND) return code(now);
        if (now != relation::REQUEST_RECEIVED) {
          return make_error(errc::not_found, "no friend request from " + other);
        }
        return after_peer(peer_op::accepted, other, {}, 0,
                          [this, other](std::uint16_t, relation_promise rp) {
                            change(other, relation::FRIEND, {}, 0, peer_change::friends_on, rp);
                          });
      case relation_op::decline:
        if (now != relation::REQUEST_RECEIVED) {
          return make_error(errc::not_found, "no friend request from " + other);
        }
        return after_peer(peer_op::declined, other, {}, 0,
                          [this, other](std::uint16_t, relation_promise rp) {
                            change(other, relation::NONE, {}, 0, {}, rp);
                          });
      case relation_op::cancel:
        if (now != relation::REQUEST_SENT) {
          return make_error(errc::not_found, "no friend request to " + other);
        }
        return after_peer(peer_op::cancelled, other, {}, 0,
                          [this, other](std::uint16_t, relation_promise rp) {
                            change(other, relation::NONE, {}, 0, {}, rp);
                          });
      case relation_op::remove:
        if (now != relation::FRIEND) return make_error(errc::not_found, other + " is not a friend");
        return after_peer(peer_op::unfriended, other, {}, 0,
                          [this, other](std::uint16_t, relation_promise rp) {
                            change(other, relation::NONE, {}, 0, peer_change::friends_off, rp);
                          });
      case relation_op::block:
        if (now == relation::BLOCKED) return code(now);
        if (now == relation::NONE) {
          if (auto err = check_room(user_)) return err;
        }
        return after_peer(peer_op::blocked, other, {}, 0,
                          [this, other](std::uint16_t, relation_promise rp) {
                            change(other, relation::BLOCKED, {}, 0, peer_change::block_on, rp);
                          });
      case relation_op::unblock: {
        if (now != relation::BLOCKED) return make_error(errc::not_found, other + " is not blocked");
        auto rp = make_response_promise<std::uint16_t>();
        change(other, relation::NONE, {}, 0, peer_change::block_off, rp);
        return rp;
      }
    }
    return make_error(errc::bad_request, "unknown relation request");
  }

  /// The other side of `from`'s relate: this user's view of the relation changes with it.
  caf::result<std::uint16_t> on_peer(peer_op op, const std::string& from,
                                     const std::string& message, std::uint64_t expires) {
    const relation now = relation_with(from);
    // The promise is made only where the answer waits for a write: making one takes the
    // request's answer over, so a handler that made one may not return a value instead.
    auto set = [&](relation r, const std::string& text, std::uint64_t until) {
      auto rp = make_response_promise<std::uint16_t>();
      change(from, r, text, until, {}, rp);
      return rp;
    };
    switch (op) {
      case peer_op::asked:
        if (now == relation::BLOCKED)
          return make_error(errc::forbidden, user_ + " has blocked you");
        if (now == relation::FRIEND) return code(now);
        if (now == relation::REQUEST_SENT) return set(relation::FRIEND, {}, 0);  // mutual
        if (auto err = check_room(user_)) return err;
        return set(relation::REQUEST_RECEIVED, message, expires);
      case peer_op::accepted:
        if (now == relation::FRIEND) return code(now);
        if (now != relation::REQUEST_SENT) {
          return make_error(errc::not_found, user_ + " withdrew the friend request");
        }
        return set(relation::FRIEND, {}, 0);
      case peer_op::declined:
        if (now != relation::REQUEST_SENT) return code(now);
        return set(relation::NONE, {}, 0);
      case peer_op::cancelled:
        if (now != relation::REQUEST_RECEIVED) return code(now);
        return set(relation::NONE, {}, 0);
      case peer_op::unfriended:
        if (now != relation::FRIEND) return code(now);
        return set(relation::NONE, {}, 0);
      case peer_op::blocked:
        // Nothing remains from this side but a block of our own.
        if (now == relation::NONE || now == relation::BLOCKED) return code(now);
        return set(relation::NONE, {}, 0);
    }
    return make_error(errc::bad_request, "unknown relation change");
  }

  /// Tells `other`'s actor of `op`, then runs `then(its relation with us, rp)`, which answers.
  template <class Then>
  caf::result<std::uint16_t> after_peer(peer_op op, const std::string& other,
                                        const std::string& message, std::uint64_t expires,
                                        Then then) {
    auto rp = make_response_promise<std::uint16_t>();
    ask(
        this, svc_, user::of(other), [rp, then](std::uint16_t theirs) mutable { then(theirs, rp); },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); }, peerrel_atom::value,
        static_cast<std::uint16_t>(op), user_, message, expires);
    return rp;
  }

  /// Tells the direct conversation with `other` of `conv` (if any), then records `r`.
  void change(const std::string& other, relation r, const std::string& message,
              std::uint64_t expires, std::optional<peer_change> conv, relation_promise rp) {
    if (!conv) return record_relation(other, r, message, expires, rp);
    ask(
        this, svc_, conversation::of(runtime::dm_conversation(user_, other)),
        [this, other, r, message, expires, rp](std::uint64_t) {
          record_relation(other, r, message, expires, rp);
        },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); }, peers_atom::value, user_,
        static_cast<std::uint16_t>(*conv));
  }

  /// Stores this user's relation with `other` (none: erased) with its inbox event; answers the
  /// relation once durable.
  void record_relation(const std::string& other, relation r, const std::string& message,
                       std::uint64_t expires, relation_promise rp) {
    const std::string key = store::named_key(id_, store::record::relation, other);
    store::write_batch batch;
    std::optional<relation_record> before;
    if (auto it = relations_.find(other); it != relations_.end()) before = it->second;
    if (r == relation::NONE) {
      batch.erase(shard_, key);
      relations_.erase(other);
    } else {
      relation_record rec{code(r), message, now_ms(), expires};
      batch.put(shard_, key, encode_relation(rec));
      relations_[other] = rec;
    }
    inbox_event_spec spec;
    spec.kind = static_cast<std::uint16_t>(wire::InboxEventKind::RELATION_CHANGED);
    spec.actor = other;
    spec.relation = code(r);
    spec.text = message;
    append_event_then(std::move(batch), spec,
                      [this, rp, r, other, before](const error& st, std::uint64_t) mutable {
                        if (st.ok()) {
                          rp.deliver(code(r));
                          return;
                        }
                        if (before)  // not stored: as it was
                          relations_[other] = *before;
                        else
                          relations_.erase(other);
                        rp.deliver(storage_error(st));
                      });
  }

  caf::result<relation_page> relations_after(std::uint16_t filter, const std::string& after,
                                             std::uint32_t limit) {
    const std::size_t want = limit == 0 ? svc_.options.default_page
                                        : std::min<std::size_t>(limit, svc_.options.max_page);
    relation_page page;
    for (auto it = relations_.upper_bound(after); it != relations_.end(); ++it) {
      const relation r = relation_with(it->first);
      if (r == relation::NONE || (filter != 0 && code(r) != filter)) continue;
      if (page.entries.size() == want) {
        page.has_more = true;
        break;
      }
      const auto& rec = it->second;
      page.entries.push_back({it->first, code(r), rec.message, rec.since_ms, rec.expires_ms});
    }
    return page;
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
      if (!conversations_.emplace(conversation, 0).second) return std::uint64_t{0};
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
    } else if (k != kind::JOIN_REQUESTED && k != kind::JOIN_DECLINED && k != kind::GROUP_INVITED) {
      // (Those three are notes about a group the user may not be in: recorded as they are.)
      return make_error(errc::bad_request, "inbox events of this kind are not announced");
    }
    return append_event(std::move(batch), spec, 0);
  }

  /// Appends `spec` to the inbox in `batch`, commits, pushes it to the sessions, and answers
  /// `reply` once durable.
  caf::result<std::uint64_t> append_event(store::write_batch batch, const inbox_event_spec& spec,
                                          std::uint64_t reply) {
    auto rp = make_response_promise<std::uint64_t>();
    append_event_then(std::move(batch), spec,
                      [this, rp, reply](const error& st, std::uint64_t seq) mutable {
                        if (st.ok())
                          rp.deliver(reply != 0 ? reply : seq);
                        else
                          rp.deliver(storage_error(st));
                      });
    return rp;
  }

  /// Appends `spec` to the inbox in `batch`, commits, pushes it to the sessions once durable,
  /// and runs `done(status, its seq)`.
  template <class Done>
  void append_event_then(store::write_batch batch, const inbox_event_spec& spec, Done done) {
    const std::uint64_t seq = ++inbox_head_;
    std::string event = encode_event(spec, seq, now_ms());
    inbox_.append(batch, seq, event);
    commit(std::move(batch), [this, done, event = std::move(event), seq](const error& st) mutable {
      if (st.ok()) {
        tell_if_active(svc_, presence::of_shard(shard_), event_atom::value, user_,
                       encode_push_frame(event, false));
      }
      done(st, seq);
    });
  }

  void add_figures(std::vector<figure>& out) const override {
    out.push_back({"inbox_head", inbox_head_});
    out.push_back({"conversations", conversations_.size()});
    out.push_back({"stored_bytes", stored_bytes_});
  }

  const std::string user_;
  const std::string stored_key_ = store::named_key(id_, store::record::stored, "");
  const std::string profile_key_ = store::named_key(id_, store::record::state, "profile");
  std::uint64_t stored_bytes_ = 0;  ///< Of the quota: spent or leased to connections.
  store::seq_log inbox_;
  std::uint64_t inbox_head_ = 0;
  /// The user's conversations, with its flags for each (flag_muted, flag_pinned).
  std::map<std::string, std::uint8_t> conversations_;
  std::map<std::string, relation_record> relations_;  ///< Other user -> relation (lapsed too).
};

}  // namespace

caf::actor spawn_user(services& svc, const std::string& id, std::string name, std::uint32_t shard) {
  return svc.system->spawn<user_actor, caf::lazy_init>(&svc, id, std::move(name), shard);
}

}  // namespace parley::actors
