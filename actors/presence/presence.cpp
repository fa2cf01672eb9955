// The presence actor ("presence/<shard>"): the sessions of every online user of one shard, on
// the node that owns the shard. One device of a user has at most one session; a session is a
// connection in a connection hub (possibly on another node), addressed as (hub, connection id).
// A newer login of a device ends its older session, except a login from a connection its node
// accepted before the session's (a client that reconnected while its first login was on the
// way): arrival order at this actor is not the order in which the client connected.
//
// Why one actor per shard and not the user actor: an online user used to keep its user actor
// active for as long as it was connected, ~1.8 KB per idle connection for a CAF actor that had
// nothing to do (docs/benchmarks.md). A session here is a map entry of ~150 bytes, the user
// actor passivates like any other entity, and a fan-out sends one message per shard and one per
// hub instead of one per recipient. Being a virtual actor of the shard, it moves with the shard
// (its hubs see it go down and log their connections in again at the new owner) and it goes
// with its node (the same), so sessions need no migration code of their own.
//
// Access: the app's revocations and bans of the shard's users are this actor's records too
// (store::record::access, one per user, kept in memory once read while the actor is active):
// every login and reattach passes here, so checking them here refuses a revoked token or a
// banned user on every node, and a revoke or ban ends the user's sessions in the same step.
//
// Presence: a user's status as others see it is offline without a session, else the status
// it chose (online by default; invisible shows as offline). The chosen status and the time the
// last session ended ("last seen") are stored per user (store::record::presence) and held in
// memory while the user has sessions. Watchers (store::record::watch: watched\0watcher ->
// until when) are stored here with the watched user, so they move with its shard; each change
// others would see is pushed to the watchers' sessions, one message per watcher shard. A watch
// lapses after an hour (clients renew), and one user has at most max_watchers watchers.
//
// Watching: the hubs monitor this actor. It monitors only remote hubs, once each (a node failure
// ends their sessions); a local hub lives as long as the node's gateway.

#include "presence/presence.hpp"

#include "common/entity_actor.hpp"
#include "common/inspection.hpp"
#include "common/records.hpp"
#include "common/route.hpp"
#include "common/spawners.hpp"

#include "parley/actors/entities.hpp"
#include "parley/runtime/entity_id.hpp"
#include "parley/store/seq_log.hpp"

#include "client.capnp.h"

#include <caf/actor_system.hpp>
#include <caf/system_messages.hpp>

#include <algorithm>
#include <chrono>
#include <iterator>
#include <unordered_map>
#include <utility>
#include <vector>

namespace parley::actors {

namespace {

struct session {
  std::string device;
  caf::actor hub;
  std::uint64_t connection = 0;
  std::uint16_t device_type = 0;
  std::uint64_t since_ms = 0;   ///< Login time (unix ms).
  std::string node;             ///< The node of the hub.
  std::uint64_t opened_ns = 0;  ///< Accept time, steady clock of the hub's process.

  bool is(const caf::actor_addr& h, std::uint64_t c) const {
    return connection == c && hub.address() == h;
  }
};

/// Connections to push one record to, grouped by hub: one message per hub.
class push_batches {
 public:
  void add(const caf::actor& hub, std::uint64_t connection) {
    auto it = std::find_if(batches_.begin(), batches_.end(),
                           [&](const auto& b) { return b.first == hub; });
    if (it == batches_.end()) {
      batches_.emplace_back(hub, std::vector<std::uint64_t>{connection});
    } else {
      it->second.push_back(connection);
    }
  }

  /// Sends `frame` (an encoded push frame) to each hub for its connections.
  void send(caf::event_based_actor* self, const std::string& frame) {
    for (auto& [hub, connections] : batches_) {
      self->send(hub, push_atom::value, std::move(connections), frame);
    }
  }

 private:
  std::vector<std::pair<caf::actor, std::vector<std::uint64_t>>> batches_;
};

class presence_actor final : public entity_actor {
 public:
  presence_actor(caf::actor_config& cfg, services* svc, std::string id, std::uint32_t shard)
      : entity_actor(cfg, svc, std::move(id), shard) {}

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& dm) { drop_hub(dm.source); });
    return serve<presence::interface>(
        [this](login_atom, login_spec& who, caf::actor& hub,
               std::uint64_t connection) -> caf::result<std::uint64_t> {
          auto access = access_of(who.user);
          if (!access) return storage_error(access.error());
          if (auto refused = refusal(*access, who.token_issued_us)) return refused;
          // The durable inbox head: an event committed later is pushed to the new session.
          store::seq_log inbox(*svc_.db, shard_, runtime::user_entity(who.user),
                               store::record::inbox);
          auto head = inbox.last_seq();
          if (!head) return storage_error(head.error());
          if (auto err = attach(who.user, session{std::move(who.device), std::move(hub), connection,
                                                  who.device_type, now_ms(), std::move(who.node),
                                                  who.opened_ns})) {
            return err;
          }
          return *head;
        },
        [this](sessions_atom, std::string& user) {
          std::vector<session_info> out;
          auto it = online_.find(user);
          if (it != online_.end()) {
            for (const auto& s : it->second) {
              out.push_back({s.device, s.device_type, s.since_ms, s.node});
            }
          }
          return out;
        },
        [this](revoke_atom, std::string& user) -> caf::result<std::uint64_t> {
          return change_access(user, wire::KickReason::TOKEN_REVOKED,
                               "the app revoked this user's tokens; log in with a new one",
                               [](user_access& a) { a.revoked_at_us = now_us(); });
        },
        [this](ban_atom, std::string& user, ban_spec& ban) -> caf::result<std::uint64_t> {
          std::string detail = ban.reason.empty() ? "banned by the app" : ban.reason;
          return change_access(user, wire::KickReason::BANNED, std::move(detail),
                               [&ban](user_access& a) {
                                 a.banned = true;
                                 a.banned_until_ms = ban.until_ms;
                                 a.ban_reason = std::move(ban.reason);
                               });
        },
        [this](inspect_atom, std::string& entity) -> caf::result<entity_report> {
          return inspect(entity);
        },
        [this](unban_atom, std::string& user) -> caf::result<bool> {
          auto access = access_of(user);
          if (!access) return storage_error(access.error());
          const bool was_banned = access->banned_at(now_ms());
          auto rp = make_response_promise<bool>();
          user_access lifted = *access;
          lifted.banned = false;
          lifted.banned_until_ms = 0;
          lifted.ban_reason.clear();
          store_access(user, lifted, [rp, was_banned](const error& st) mutable {
            if (st) {
              rp.deliver(storage_error(st));
            } else {
              rp.deliver(was_banned);
            }
          });
          return rp;
        },
        [this](kickuser_atom, std::string& user, std::string& device, std::uint16_t reason,
               std::string& detail) -> std::uint64_t { return kick(user, device, reason, detail); },
        [this](logout_atom, std::string& user, std::string& device, caf::actor_addr& hub,
               std::uint64_t connection) { detach(user, device, hub, connection); },
        [this](push_atom, user_set& users, std::string& frame, std::string& sender,
               std::string& sender_device, push_notice& notice) {
          const caf::actor offline =
              notice.seq != 0 && svc_.hooks ? svc_.hooks->offline_push() : caf::actor{};
          push_batches batches;
          auto push_to = [&](const std::string& user, const std::vector<session>& sessions) {
            for (auto& s : sessions) {
              if (user == sender && (sender_device.empty() || s.device == sender_device)) continue;
              batches.add(s.hub, s.connection);
              svc_.counters->pushes.fetch_add(1, std::memory_order_relaxed);
            }
          };
          if (offline || users.size() <= online_.size()) {
            for (auto& user : users.ids()) {
              auto it = online_.find(user);
              if (it != online_.end()) {
                push_to(user, it->second);
              } else if (offline && user != sender) {
                notice.recipient = user;
                send(offline, notify_atom::value, notice);
              }
            }
          } else {
            // A large group's members of this shard: look up the few online instead.
            for (auto& [user, sessions] : online_) {
              if (users.contains(user)) push_to(user, sessions);
            }
          }
          batches.send(this, frame);
        },
        [this](events_atom, std::uint64_t after, std::uint32_t limit,
               std::uint32_t wait_ms) -> caf::result<event_slice> {
          if (wait_ms > 0) svc_.db->arm_event_bell(shard_);  // before reading: see store.hpp
          auto slice = read_events(after, limit);
          if (!slice) return storage_error(slice.error());
          if (!slice->seqs.empty() || wait_ms == 0 || feed_reads_.size() >= max_waiting_reads) {
            return std::move(*slice);
          }
          const std::uint64_t id = ++last_feed_read_;
          auto rp = make_response_promise<event_slice>();
          feed_reads_.push_back({id, after, limit, rp});
          delayed_send(this, std::chrono::milliseconds(wait_ms), feedtime_atom::value, id);
          return rp;
        },
        [this](feedwake_atom) { answer_feed_reads(false); },
        [this](feedtime_atom, std::uint64_t id) {
          auto it = std::find_if(feed_reads_.begin(), feed_reads_.end(),
                                 [id](const feed_read& r) { return r.id == id; });
          if (it == feed_reads_.end()) return;
          it->rp.deliver(event_slice{{}, {}, it->after});
          feed_reads_.erase(it);
        },
        [this](event_atom, std::string& user, std::string& frame) {
          auto it = online_.find(user);
          if (it == online_.end()) return;
          push_batches batches;
          for (auto& s : it->second) batches.add(s.hub, s.connection);
          batches.send(this, frame);
        },
        [this](status_atom, std::string& user, std::uint16_t status) -> caf::result<std::uint16_t> {
          return choose_status(user, status);
        },
        [this](watch_atom, std::string& watcher, std::vector<std::string>& users,
               std::uint64_t until_ms) -> caf::result<std::vector<presence_entry>> {
          return watch(watcher, users, until_ms);
        });
  }

 private:
  bool may_passivate() const override { return online_.empty() && feed_reads_.empty(); }

  /// A moving shard: its waiting feeds ask again (at the new owner), now.
  void on_drain() override { answer_feed_reads(true); }

  /// The shard's events after `after` (at most `limit`).
  result<event_slice> read_events(std::uint64_t after, std::uint32_t limit) {
    auto page = svc_.db->read_events(shard_, after, limit);
    if (!page) return page.error();
    event_slice out;
    out.through = page->through;
    for (auto& e : page->events) {
      out.seqs.push_back(e.seq);
      out.payloads.push_back(std::move(e.payload));
    }
    return out;
  }

  /// Answers the waiting feed reads that have events now (all of them if `all`); re-arms the
  /// bell for those that still wait.
  void answer_feed_reads(bool all) {
    if (feed_reads_.empty()) return;
    if (!all) svc_.db->arm_event_bell(shard_);
    for (auto it = feed_reads_.begin(); it != feed_reads_.end();) {
      auto slice = read_events(it->after, it->limit);
      if (!slice) {
        it->rp.deliver(storage_error(slice.error()));
      } else if (all || !slice->seqs.empty()) {
        it->rp.deliver(std::move(*slice));
      } else {
        ++it;
        continue;
      }
      it = feed_reads_.erase(it);
    }
  }

  /// `entity` (of this shard) as an operator sees it: its own report if it is active here,
  /// with what the store says merged in; the store's figures alone if it is not.
  caf::result<entity_report> inspect(const std::string& entity) {
    auto stored = stored_figures(svc_, shard_, entity);
    if (!stored) return storage_error(stored.error());
    if (auto ref = runtime::parse_entity(entity); ref && ref->kind == runtime::entity_kind::user) {
      auto it = online_.find(ref->name);
      stored->push_back({"sessions", it == online_.end() ? 0u : it->second.size()});
    }
    if (entity == id_) {
      auto mine = report();
      merge_figures(mine.figures, *stored);
      return mine;
    }
    caf::actor active;
    svc_.router->send_if_active(
        entity, [&](const caf::actor& a) { active = a; }, [](const caf::actor&, bool) {});
    entity_report passive{entity, svc_.router->self(), shard_, false, 0, 0, std::move(*stored)};
    if (!active) return passive;
    auto rp = make_response_promise<entity_report>();
    request(active, caf::infinite, inspect_atom::value)
        .then(
            [rp, passive](entity_report& live) mutable {
              merge_figures(live.figures, passive.figures);
              rp.deliver(std::move(live));
            },
            // It passivated meanwhile: what is stored is all there is.
            [rp, passive](caf::error&) mutable { rp.deliver(std::move(passive)); });
    return rp;
  }

  void add_figures(std::vector<figure>& out) const override {
    std::size_t sessions = 0;
    for (const auto& [user, devices] : online_) sessions += devices.size();
    out.push_back({"online_users", online_.size()});
    out.push_back({"sessions", sessions});
    out.push_back({"access_records", access_.size()});
  }

  // -- presence -----------------------------------------------------------------------------------

  using status = wire::PresenceStatus;
  static constexpr std::size_t max_watchers = 10000;

  /// What is stored of a user's presence: its chosen status and when it was last seen.
  struct presence_record {
    std::uint16_t chosen = static_cast<std::uint16_t>(status::ONLINE);
    std::uint64_t last_seen_ms = 0;
  };

  std::string presence_key(const std::string& user) const {
    return store::named_key(id_, store::record::presence, user);
  }

  result<presence_record> stored_presence(const std::string& user) {
    if (auto it = presence_.find(user); it != presence_.end()) return it->second;
    auto stored = svc_.db->get(shard_, presence_key(user));
    if (!stored) return stored.error();
    presence_record r;
    if (*stored && (*stored)->size() == 9) {  // <status byte><last seen ms, 8 bytes BE>
      r.chosen = static_cast<std::uint8_t>((**stored)[0]);
      r.last_seen_ms = store::decode_u64((*stored)->substr(1));
    }
    return r;
  }

  void store_presence(store::write_batch& batch, const std::string& user,
                      const presence_record& r) const {
    std::string value(1, static_cast<char>(r.chosen));
    value += store::encode_u64(r.last_seen_ms);
    batch.put(shard_, presence_key(user), value);
  }

  /// `user`'s presence as others see it.
  presence_entry shown(const std::string& user, const presence_record& r) const {
    presence_entry e{user, static_cast<std::uint16_t>(status::OFFLINE), r.last_seen_ms};
    if (online_.count(user) > 0 && r.chosen != static_cast<std::uint16_t>(status::INVISIBLE)) {
      e.status = r.chosen;
      e.last_seen_ms = 0;
    }
    return e;
  }

  caf::result<std::uint16_t> choose_status(const std::string& user, std::uint16_t chosen) {
    auto r = stored_presence(user);
    if (!r) return storage_error(r.error());
    const presence_entry before = shown(user, *r);
    r->chosen = chosen;
    if (online_.count(user) > 0) presence_[user] = *r;
    store::write_batch batch;
    store_presence(batch, user, *r);
    const presence_entry after = shown(user, *r);
    auto rp = make_response_promise<std::uint16_t>();
    commit(std::move(batch), [this, rp, user, before, after, chosen](const error& st) mutable {
      if (st) {
        rp.deliver(storage_error(st));
        return;
      }
      if (after.status != before.status) tell_watchers(after);
      rp.deliver(chosen);
    });
    return rp;
  }

  /// The user's first session opened: others now see its chosen status.
  void came_online(const std::string& user) {
    auto r = stored_presence(user);
    if (!r) return;  // logged (storage); watchers learn of the next change
    presence_[user] = *r;
    const presence_entry now = shown(user, *r);
    if (now.status != static_cast<std::uint16_t>(status::OFFLINE)) tell_watchers(now);
  }

  /// The user's last session ended: last seen now, stored; others see it offline.
  void went_offline(const std::string& user) {
    presence_record r;
    if (auto it = presence_.find(user); it != presence_.end()) r = it->second;
    const bool was_shown = r.chosen != static_cast<std::uint16_t>(status::INVISIBLE);
    r.last_seen_ms = now_ms();
    presence_[user] = r;  // read from here until it is durable
    store::write_batch batch;
    store_presence(batch, user, r);
    // A lost last-seen time is only older.
    commit(std::move(batch), [this, user](const error&) {
      if (online_.count(user) == 0) presence_.erase(user);
    });
    if (was_shown) tell_watchers(shown(user, r));
  }

  std::string watch_prefix(const std::string& watched) const {
    std::string name = watched;
    name.push_back('\0');
    return store::named_key(id_, store::record::watch, name);
  }

  /// Pushes `e` to the sessions of every watcher of its user whose watch has not lapsed.
  void tell_watchers(const presence_entry& e) {
    const std::string prefix = watch_prefix(e.user);
    auto found = svc_.db->scan(shard_, prefix, store::prefix_end(prefix), max_watchers);
    if (!found) return;
    const std::uint64_t now = now_ms();
    std::vector<std::string> watchers;
    store::write_batch lapsed;
    for (auto& w : *found) {
      if (store::decode_u64(w.value) <= now) {
        lapsed.erase(shard_, w.key);
        continue;
      }
      watchers.push_back(w.key.substr(prefix.size()));
    }
    if (!lapsed.empty()) commit(std::move(lapsed), [](const error&) {});
    const std::string frame = encode_presence_frame(e);
    for (auto& [shard, users] : presence::sets_by_shard(svc_, watchers)) {
      tell_if_active(svc_, presence::of_shard(shard), push_atom::value, std::move(users), frame,
                     std::string(), std::string(), push_notice{});
    }
  }

  /// Starts (until_ms > 0) or stops `watcher`'s watch of `users` (of this shard); answers
  /// their presence now (nothing when stopping).
  caf::result<std::vector<presence_entry>> watch(const std::string& watcher,
                                                 const std::vector<std::string>& users,
                                                 std::uint64_t until_ms) {
    store::write_batch batch;
    std::vector<presence_entry> out;
    for (const auto& user : users) {
      const std::string key = watch_prefix(user) + watcher;
      if (until_ms == 0) {
        batch.erase(shard_, key);
        continue;
      }
      auto known = svc_.db->get(shard_, key);
      if (!known) return storage_error(known.error());
      if (!*known) {
        const std::string prefix = watch_prefix(user);
        auto count = svc_.db->scan(shard_, prefix, store::prefix_end(prefix), max_watchers);
        if (!count) return storage_error(count.error());
        if (count->size() >= max_watchers) {
          return make_error(errc::limit_exceeded, user + " has the most watchers allowed");
        }
      }
      batch.put(shard_, key, store::encode_u64(until_ms));
      auto r = stored_presence(user);
      if (!r) return storage_error(r.error());
      out.push_back(shown(user, *r));
    }
    auto rp = make_response_promise<std::vector<presence_entry>>();
    commit(std::move(batch), [rp, out = std::move(out)](const error& st) mutable {
      if (st)
        rp.deliver(storage_error(st));
      else
        rp.deliver(std::move(out));
    });
    return rp;
  }

  /// The app's record of `user` (empty if it has none).
  result<user_access> access_of(const std::string& user) {
    if (auto it = access_.find(user); it != access_.end()) return it->second;
    auto stored = svc_.db->get(shard_, store::named_key(id_, store::record::access, user));
    if (!stored) return stored.error();
    if (!*stored) return user_access{};
    auto decoded = decode_access(**stored);
    if (!decoded) {
      return error(store::errc::corruption, "access record of " + user + " is unreadable");
    }
    return access_[user] = std::move(*decoded);
  }

  /// Why `access` refuses a login with a token issued at `issued_us`; empty if it does not.
  static caf::error refusal(const user_access& access, std::uint64_t issued_us) {
    if (access.banned_at(now_ms())) {
      std::string why = "banned";
      if (access.banned_until_ms != 0) why += " until " + iso_time(access.banned_until_ms);
      if (!access.ban_reason.empty()) why += ": " + access.ban_reason;
      return make_error(errc::banned, std::move(why));
    }
    // At or before: a token issued in the revocation's microsecond is refused too. One issued
    // after the app's revoke call returned is always later (the answer waits for a commit).
    if (access.revoked_at_us != 0 && issued_us <= access.revoked_at_us) {
      return make_error(errc::token_revoked,
                        "the token was revoked by the app; log in with a new one");
    }
    return {};
  }

  /// Applies `change` to `user`'s record, refusing logins by it at once; once durable, ends
  /// the user's sessions (Kicked `reason`, `detail`) if the record refuses them now, and
  /// answers how many ended.
  template <class Change>
  caf::result<std::uint64_t> change_access(const std::string& user, wire::KickReason reason,
                                           std::string detail, Change change) {
    auto access = access_of(user);
    if (!access) return storage_error(access.error());
    user_access changed = *access;
    change(changed);
    auto rp = make_response_promise<std::uint64_t>();
    const bool ends_sessions =
        changed.revoked_at_us != access->revoked_at_us || changed.banned_at(now_ms());
    store_access(
        user, changed, [this, rp, user, reason, detail, ends_sessions](const error& st) mutable {
          if (st) {
            rp.deliver(storage_error(st));
          } else {
            rp.deliver(ends_sessions ? kick(user, "", static_cast<std::uint16_t>(reason), detail)
                                     : std::uint64_t{0});
          }
        });
    return rp;
  }

  /// Makes `access` `user`'s record (in force for logins at once), then calls `then` with the
  /// outcome of its write; a failed write forgets the change (the stored record is read again).
  void store_access(const std::string& user, const user_access& access, commit_callback then) {
    const std::string key = store::named_key(id_, store::record::access, user);
    store::write_batch batch;
    if (access.empty()) {
      batch.erase(shard_, key);
    } else {
      batch.put(shard_, key, encode_access(access));
    }
    access_[user] = access;
    commit(std::move(batch), [this, user, then = std::move(then)](const error& st) {
      if (st) access_.erase(user);
      then(st);
    });
  }

  /// The cap on sessions of `device_type`'s kind (0: none), and the kind's name.
  std::pair<std::size_t, const char*> kind_cap(std::uint16_t device_type) const {
    switch (static_cast<wire::DeviceType>(device_type)) {
      case wire::DeviceType::IOS:
      case wire::DeviceType::ANDROID:
        return {svc_.options.max_mobile_sessions, "mobile"};
      case wire::DeviceType::DESKTOP:
        return {svc_.options.max_desktop_sessions, "desktop"};
      case wire::DeviceType::WEB:
        return {svc_.options.max_web_sessions, "web"};
      default:
        return {0, "other"};
    }
  }

  static bool same_kind(std::uint16_t a, std::uint16_t b) {
    auto mobile = [](std::uint16_t t) {
      return t == static_cast<std::uint16_t>(wire::DeviceType::IOS) ||
             t == static_cast<std::uint16_t>(wire::DeviceType::ANDROID);
    };
    return a == b || (mobile(a) && mobile(b));
  }

  /// Makes room for a new device of `device_type`: while its kind is at its cap, the oldest
  /// session of the kind ends (Kicked loggedInElsewhere).
  void evict_same_kind(const std::string& user, std::vector<session>& devices,
                       std::uint16_t device_type) {
    const auto [cap, kind] = kind_cap(device_type);
    if (cap == 0) return;
    for (;;) {
      const auto count = std::count_if(devices.begin(), devices.end(), [&](const session& d) {
        return same_kind(d.device_type, device_type);
      });
      if (static_cast<std::size_t>(count) < cap) return;
      auto oldest = std::find_if(devices.begin(), devices.end(), [&](const session& d) {
        return same_kind(d.device_type, device_type);
      });  // sessions are kept in login order
      send(oldest->hub, kicked_atom::value, oldest->connection,
           static_cast<std::uint16_t>(wire::KickReason::LOGGED_IN_ELSEWHERE),
           std::string("a newer ") + kind + " device of this user logged in");
      record_session(false, user, *oldest);
      auto hub = std::move(oldest->hub);
      devices.erase(oldest);
      release(hub);
    }
  }

  /// Adds a session; a new device beyond the per-user cap is refused, one beyond its kind's
  /// cap replaces the oldest of its kind.
  caf::error attach(const std::string& user, session s) {
    auto& devices = online_[user];
    auto old = std::find_if(devices.begin(), devices.end(),
                            [&](const session& d) { return d.device == s.device; });
    if (old == devices.end()) {
      evict_same_kind(user, devices, s.device_type);
      old = devices.end();
    }
    if (old == devices.end() && devices.size() >= svc_.options.max_sessions_per_user) {
      return make_error(errc::limit_exceeded,
                        "at most " + std::to_string(svc_.options.max_sessions_per_user) +
                            " devices may be online at once");
    }
    if (old != devices.end()) {
      if (old->is(s.hub.address(), s.connection)) return {};  // a reattach or login refresh
      // A login that was on its way while a connection accepted after its own logged the
      // device in (a client that reconnected before its first login got through): the later
      // connection keeps the device. Only accept times of one node process compare (one
      // steady clock); a restarted node of the same name is another process.
      if (old->hub.node() == s.hub.node() && s.opened_ns < old->opened_ns) {
        return make_error(errc::already_logged_in,
                          "this device is logged in on a newer connection");
      }
      // One session per (user, device): the newer login wins.
      send(old->hub, kicked_atom::value, old->connection,
           static_cast<std::uint16_t>(wire::KickReason::LOGGED_IN_ELSEWHERE),
           std::string("the same device logged in on another connection"));
      record_session(false, user, *old);
      auto hub = std::move(old->hub);
      devices.erase(old);
      release(hub);
    }
    retain(s.hub);
    record_session(true, user, s);
    devices.push_back(std::move(s));
    if (devices.size() == 1) came_online(user);
    return {};
  }

  /// Adds sessionOpened / sessionClosed to the shard's event log (the app's feed). Sessions
  /// live in memory only, so nothing waits for this write.
  void record_session(bool opened, const std::string& user, const session& s) {
    store::write_batch batch;
    batch.event(shard_, encode_session_change(opened, user, s.device, s.device_type, s.node));
    commit(std::move(batch), [](const error&) {});
  }

  /// Ends `user`'s sessions on `device` ("" = all) with a Kicked frame of `reason`.
  std::uint64_t kick(const std::string& user, const std::string& device, std::uint16_t reason,
                     const std::string& detail) {
    auto it = online_.find(user);
    if (it == online_.end()) return 0;
    auto& devices = it->second;
    std::uint64_t kicked = 0;
    for (auto s = devices.begin(); s != devices.end();) {
      if (!device.empty() && s->device != device) {
        ++s;
        continue;
      }
      send(s->hub, kicked_atom::value, s->connection, reason, detail);
      record_session(false, user, *s);
      auto hub = std::move(s->hub);
      s = devices.erase(s);
      release(hub);
      ++kicked;
    }
    if (devices.empty()) {
      online_.erase(it);
      went_offline(user);
    }
    return kicked;
  }

  void detach(const std::string& user, const std::string& device, const caf::actor_addr& hub,
              std::uint64_t connection) {
    auto it = online_.find(user);
    if (it == online_.end()) return;
    auto& devices = it->second;
    auto s = std::find_if(devices.begin(), devices.end(), [&](const session& d) {
      return d.device == device && d.is(hub, connection);
    });
    if (s == devices.end()) return;  // already replaced by a newer login
    record_session(false, user, *s);
    auto gone = std::move(s->hub);
    devices.erase(s);
    release(gone);
    if (devices.empty()) {
      online_.erase(it);
      went_offline(user);
    }
  }

  /// Counts a session through `hub`; the first one through a remote hub starts monitoring it.
  void retain(const caf::actor& hub) {
    if (hub.node() == node()) return;
    if (remote_hubs_[hub.address()]++ == 0) monitor(hub);
  }

  /// The reverse of retain().
  void release(const caf::actor& hub) {
    if (hub.node() == node()) return;
    auto it = remote_hubs_.find(hub.address());
    if (it == remote_hubs_.end() || --it->second > 0) return;
    remote_hubs_.erase(it);
    demonitor(hub);
  }

  /// A remote hub's node is gone: so are its sessions.
  void drop_hub(const caf::actor_addr& hub) {
    remote_hubs_.erase(hub);
    std::vector<std::string> gone;
    for (auto it = online_.begin(); it != online_.end();) {
      auto& devices = it->second;
      devices.erase(std::remove_if(devices.begin(), devices.end(),
                                   [&](const session& s) {
                                     if (s.hub.address() != hub) return false;
                                     record_session(false, it->first, s);
                                     return true;
                                   }),
                    devices.end());
      if (devices.empty()) {
        gone.push_back(it->first);
        it = online_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& user : gone) went_offline(user);
  }

  std::unordered_map<std::string, std::vector<session>> online_;
  // Records read or written while active: only users an app revoked or banned have one, so
  // this grows with the app's decisions, not with clients.
  std::unordered_map<std::string, user_access> access_;
  std::unordered_map<caf::actor_addr, std::size_t> remote_hubs_;
  /// The presence records of the users online here (dropped once their going offline is
  /// durable).
  std::unordered_map<std::string, presence_record> presence_;

  /// An app's event feed waiting for this shard's next events (Events.subscribe): at most one
  /// per subscription, so bounded by the subscriptions of all nodes (and max_waiting_reads).
  struct feed_read {
    std::uint64_t id;
    std::uint64_t after;
    std::uint32_t limit;
    caf::typed_response_promise<event_slice> rp;
  };
  static constexpr std::size_t max_waiting_reads = 4096;  // beyond: answered at once, empty
  std::vector<feed_read> feed_reads_;
  std::uint64_t last_feed_read_ = 0;
};

}  // namespace

caf::actor spawn_presence(services& svc, const std::string& id, std::uint32_t shard) {
  return svc.system->spawn<presence_actor, caf::lazy_init>(&svc, id, shard);
}

void kick_sessions(services& svc, const std::string& user, const std::string& device,
                   std::uint16_t reason, const std::string& detail) {
  tell_if_active(svc, presence::of_user(svc, user), kickuser_atom::value, user, device, reason,
                 detail);
}

}  // namespace parley::actors
