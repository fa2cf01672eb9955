// The conversation actor ("conv/dm/<a>/<b>" or "conv/group/<g>"): the single writer of one
// conversation's message log.
//
// Send: dedupe by (sender, device, client msg id) -> a resend gets the original seq; else take
// the next seq (gap-free: seqs are assigned here, in mailbox order, and the group committer
// makes them durable in that order), stamp a non-decreasing time, append message and dedupe
// record in one batch, and answer only once the batch is durable. Then push to the online
// participants. A direct conversation must be in both users' inboxes before its first ack
// ("announced"), so a device that was offline learns of it when it syncs.
//
// Before-send hook (hooks.hpp): a send that is not a resend and not the app's own is first
// judged by the app's hook. Judgements may come back in any order, but sends take their seqs
// in the order they arrived: they wait in `judging_` (FIFO) until every one ahead is decided.
// A rejected send stores nothing (no dedupe record either: sending it again asks again).
// After storing, recipients registered as bots get the message at the app's bot hook, and
// (with an offline-push hook) each shard's presence actor raises a notice for the offline ones.
//
// Changes (edit, recall, delete for everyone) travel as sends with a kind and a target: same
// dedupe, same seq assignment, same fan-out. When one takes its seq, the target is checked
// (exists, is a message, is not gone, the sender's own or the sender is a group admin, within
// the recall window) and rewritten in the same batch: an edit replaces its body, a recall or
// delete empties it and the bodies of its edits. Rewrites not yet durable are kept in
// `unsettled_` so the next change of the same message sees them.
//
// Peers: a direct conversation keeps what it must know of its two users' relation (friends,
// who blocked whom; told by the user actors, records.hpp peer_state) and refuses their sends,
// edits and typing notices by it: nobody writes to someone who blocked them, the blocker does
// not write either until it unblocks, and with friends_only_direct_messages only friends
// write. The app's own sends are not refused; a resend of a message stored before is answered
// as ever.
//
// Read cursors: each participant's "read up to" seq is stored here (besides the user's own
// copy, which its devices sync) and indexed in read_cursors.hpp, loaded on first use. A
// direct conversation's peer gets a read notice pushed; groups answer read counts on request
// (a push per read to every member would cost members squared).
//
// Retention: a conversation may have a time to live (set by a direct conversation's user, a
// group's admins, or the app). It is stored with the conversation and indexed under its
// shard's presence entity (record 't'), in the same column family, so the index moves with the
// shard. Each node's retention sweeper (retention.hpp) visits the indexed conversations of the
// shards it owns; a visit deletes the entries older than the time to live, oldest first, with
// their mention keys, at most max_expired_per_visit at once (then it goes on). The newest entry
// is never deleted, only emptied: it carries the last seq, time and message number, so seqs go
// on gap-free after a restart.
//
// Access control is the caller's: the connection checks that a user takes part in a direct
// conversation, the group actor checks membership for a group conversation.

#include "conversation/conversation.hpp"
#include "conversation/read_cursors.hpp"
#include "presence/presence.hpp"
#include "user/user.hpp"

#include "common/entity_actor.hpp"
#include "common/records.hpp"
#include "common/route.hpp"
#include "common/spawners.hpp"

#include "parley/actors/hooks.hpp"
#include "parley/runtime/entity_id.hpp"
#include "parley/store/keys.hpp"
#include "parley/store/seq_log.hpp"

#include "client.capnp.h"

#include <caf/actor_system.hpp>
#include <caf/typed_response_promise.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <unordered_map>
#include <vector>

namespace parley::actors {

namespace {

using ack_promise = caf::typed_response_promise<send_ack>;

class conversation_actor final : public entity_actor {
 public:
  /// `name`: the client-facing id, well formed (the registry parsed it).
  conversation_actor(caf::actor_config& cfg, services* svc, std::string id, std::string name,
                     std::uint32_t shard)
      : entity_actor(cfg, svc, std::move(id), shard),
        conversation_(std::move(name)),
        ref_(*runtime::parse_conversation(conversation_)),
        log_(*svc->db, shard, id_, store::record::message),
        announced_(ref_.is_group) {}

  caf::behavior make_behavior() override {
    if (auto st = load()) return fail_activation(st);
    return serve<conversation::interface>(
        [this](send_atom, send_request& r) -> caf::result<send_ack> { return append(r); },
        [this](pull_atom, const std::string& reader, std::uint64_t after,
               std::uint32_t limit) -> caf::result<record_page> {
          if (auto refused = check_reader(reader)) return refused;
          return page(log_.read_after(after, limit));
        },
        [this](history_atom, const std::string& reader,
               history_query& q) -> caf::result<record_page> {
          if (auto refused = check_reader(reader)) return refused;
          return history(q);
        },
        [this](head_atom, const std::string& reader) -> caf::result<std::uint64_t> {
          if (auto refused = check_reader(reader)) return refused;
          return last_seq_;
        },
        [this](read_atom, const std::string& reader,
               std::uint64_t seq) -> caf::result<std::uint64_t> {
          if (auto refused = check_reader(reader)) return refused;
          return mark_read(reader, seq);
        },
        [this](receipts_atom, const std::string& reader,
               const std::vector<std::uint64_t>& seqs) -> caf::result<read_receipts> {
          if (auto refused = check_reader(reader)) return refused;
          return receipts(reader, seqs);
        },
        [this](typing_atom, const std::string& user, const std::string& device,
               const std::string& frame) -> caf::result<std::uint64_t> {
          if (auto refused = check_writer(user)) return refused;
          tell_others(user, device, frame);
          return std::uint64_t{1};
        },
        [this](summary_atom, const std::string& reader,
               std::uint64_t floor) -> caf::result<conversation_summary> {
          if (auto refused = check_reader(reader)) return refused;
          return summary(reader, floor);
        },
        [this](retention_atom, const std::string& by, std::uint64_t ttl_ms)
            -> caf::result<std::uint64_t> { return set_retention(by, ttl_ms); },
        [this](expire_atom) { expire(); },
        [this](peers_atom, const std::string& user,
               std::uint16_t change) -> caf::result<std::uint64_t> {
          return change_peers(user, static_cast<peer_change>(change));
        });
  }

 private:
  struct in_flight_send {
    send_ack ack;
    std::vector<ack_promise> waiters;
  };

  /// A send waiting for the before-send hook (or for those ahead of it).
  struct judged_send {
    std::uint64_t id = 0;
    std::string dedupe;
    send_request request;
    std::vector<ack_promise> waiters;
    std::optional<caf::error> refusal;  ///< Decided: rejected with this.
    bool decided = false;
  };

  /// A direct conversation is read by its two users only, a system one by its user (the
  /// connection checks it too, before activating anything). A group's conversation is read
  /// through the group, which has checked membership.
  caf::error check_reader(const std::string& reader) const {
    if (ref_.is_group || ref_.involves(reader) || reader == by_app) return {};
    return make_error(errc::forbidden, reader + " is not part of " + conversation_);
  }

  /// Whether `user` may write here now (a direct conversation: no block between the two,
  /// friends if the node requires it).
  caf::error check_writer(const std::string& user) const {
    if (!ref_.involves(user) || ref_.is_group || ref_.is_system) {
      return make_error(errc::forbidden, user + " cannot write to " + conversation_);
    }
    const std::string& peer = ref_.user_a == user ? ref_.user_b : ref_.user_a;
    auto blocked = [&](const std::string& who) {
      return std::find(peers_.blocked_by.begin(), peers_.blocked_by.end(), who) !=
             peers_.blocked_by.end();
    };
    if (blocked(peer)) return make_error(errc::forbidden, peer + " has blocked you");
    if (blocked(user)) return make_error(errc::forbidden, "you have blocked " + peer);
    if (svc_.options.friends_only_direct_messages && !peers_.friends) {
      return make_error(errc::forbidden,
                        "direct messages are between friends only; ask " + peer + " to be friends");
    }
    return {};
  }

  caf::result<std::uint64_t> change_peers(const std::string& user, peer_change change) {
    if (ref_.is_group || ref_.is_system || !ref_.involves(user)) {
      return make_error(errc::forbidden, user + " is not part of " + conversation_);
    }
    peer_state next = peers_;
    auto& blocked = next.blocked_by;
    switch (change) {
      case peer_change::friends_on:
        next.friends = true;
        break;
      case peer_change::friends_off:
        next.friends = false;
        break;
      case peer_change::block_on:
        next.friends = false;
        if (std::find(blocked.begin(), blocked.end(), user) == blocked.end())
          blocked.push_back(user);
        break;
      case peer_change::block_off:
        blocked.erase(std::remove(blocked.begin(), blocked.end(), user), blocked.end());
        break;
    }
    peers_ = next;  // now: a send behind this in the mailbox is judged by it
    store::write_batch batch;
    batch.put(shard_, peers_key_, encode_peer_state(next));
    auto rp = make_response_promise<std::uint64_t>();
    commit(std::move(batch), [rp](const error& st) mutable {
      if (st.ok())
        rp.deliver(std::uint64_t{1});
      else
        rp.deliver(storage_error(st));  // the user actor's retry writes it again
    });
    return rp;
  }

  error load() {
    if (!ref_.is_group && !ref_.is_system) {
      auto stored = svc_.db->get(shard_, peers_key_);
      if (!stored) return stored.error();
      if (*stored) {
        auto decoded = decode_peer_state(**stored);
        if (!decoded) return {store::errc::corruption, "peer state of " + id_ + " is unreadable"};
        peers_ = std::move(*decoded);
      }
    }
    auto retention = svc_.db->get(shard_, retention_key_);
    if (!retention) return retention.error();
    if (*retention) retention_ms_ = store::decode_u64(**retention);
    auto last = log_.last_seq();
    if (!last) return last.error();
    last_seq_ = *last;
    if (last_seq_ > 0) {
      auto stored = log_.at(last_seq_);
      if (!stored) return stored.error();
      if (*stored) {
        if (auto facts = read_message_facts(**stored)) {
          last_ts_ = facts->timestamp_ms;
          last_number_ = facts->number;
        }
      }
    }
    return {};
  }

  /// The reader's conversation list entry: last entry, read cursor, unread messages and
  /// mentions after max(cursor, floor).
  caf::result<conversation_summary> summary(const std::string& reader, std::uint64_t floor) {
    conversation_summary out;
    out.conversation = conversation_;
    out.retention_ms = retention_ms_;
    out.last_seq = last_seq_;
    out.last_ms = last_ts_;
    auto read = cursor_of(reader);
    if (!read) return storage_error(read.error());
    out.read_seq = *read;
    const std::uint64_t from = std::max(out.read_seq, floor);
    if (last_seq_ > floor) {
      auto last = current(last_seq_);
      if (!last) return storage_error(last.error());
      if (*last) out.last_entry = **last;
    }
    std::uint64_t read_number = 0;
    if (from > 0 && from <= last_seq_) {
      auto at = current(from);
      if (!at) return storage_error(at.error());
      if (*at) {
        if (auto facts = read_message_facts(**at)) read_number = facts->number;
      }
    }
    out.unread =
        static_cast<std::uint32_t>(last_number_ > read_number ? last_number_ - read_number : 0);
    auto mentions = count_mentions(reader, from);
    if (!mentions) return storage_error(mentions.error());
    out.unread_mentions = *mentions;
    return out;
  }

  /// Mentions of `user` (and @all) after seq `after`, at most max_counted_mentions.
  result<std::uint32_t> count_mentions(const std::string& user, std::uint64_t after) const {
    constexpr std::size_t max_counted_mentions = 1000;
    std::uint32_t total = 0;
    for (const std::string& who : {user, std::string()}) {
      const std::string begin = mention_key(who, after + 1);
      std::string prefix = store::record_prefix(id_, store::record::mention) + who;
      prefix.push_back('\0');
      auto found = svc_.db->scan(shard_, begin, store::prefix_end(prefix), max_counted_mentions);
      if (!found) return found.error();
      total += static_cast<std::uint32_t>(found->size());
    }
    return std::min<std::uint32_t>(total, max_counted_mentions);
  }

  static std::string dedupe_suffix(const send_request& r) {
    std::string key = r.sender;
    key.push_back('\0');
    key += r.device;
    key.push_back('\0');
    key += r.client_msg_id;
    return key;
  }

  caf::result<send_ack> append(send_request& r) {
    const std::string dedupe = dedupe_suffix(r);
    if (auto it = sending_.find(dedupe); it != sending_.end()) {
      // A resend of a message whose write is still in flight: answer both once durable.
      auto rp = make_response_promise<send_ack>();
      it->second.waiters.push_back(rp);
      return rp;
    }
    if (auto it = std::find_if(judging_.begin(), judging_.end(),
                               [&](const judged_send& j) { return j.dedupe == dedupe; });
        it != judging_.end()) {
      auto rp = make_response_promise<send_ack>();  // a resend while the hook judges it
      it->waiters.push_back(rp);
      return rp;
    }
    const std::string dedupe_key = store::named_key(id_, store::record::dedupe, dedupe);
    auto known = svc_.db->get(shard_, dedupe_key);
    if (!known) return storage_error(known.error());
    if (*known) {
      const std::string& v = **known;
      send_ack ack{conversation_, store::decode_u64(v), store::decode_u64(v.substr(8))};
      if (announced_) return ack;
      auto rp = make_response_promise<send_ack>();
      await_announcement(rp, ack);
      return rp;
    }
    if (!r.from_app && !ref_.is_group && !ref_.is_system && carries_content(r)) {
      if (auto refused = check_writer(r.sender)) return refused;
    }
    auto rp = make_response_promise<send_ack>();
    const bool judged = !r.from_app && svc_.hooks && carries_content(r);
    auto hook = judged ? svc_.hooks->before_send() : std::nullopt;
    if (hook || !judging_.empty()) {
      judge(std::move(r), dedupe, std::move(hook), rp);
    } else {
      store_message(r, dedupe, {std::move(rp)});
    }
    return rp;
  }

  /// Queues `r` behind the sends being judged and asks the hook (if any) about it.
  void judge(send_request r, const std::string& dedupe, std::optional<before_send_hook> hook,
             ack_promise rp) {
    const std::uint64_t id = ++judge_counter_;
    judging_.push_back(judged_send{id, dedupe, std::move(r), {std::move(rp)}, {}, !hook});
    if (!hook) return settle_judged();  // only waiting for those ahead
    const bool fail_open = hook->fail_open;
    // The bridge answers within the timeout; the margin covers the hops to it and back.
    request(hook->handler, hook->timeout + std::chrono::milliseconds(100), check_atom::value,
            judging_.back().request)
        .then(
            [this, id](hook_verdict& v) {
              decide(id, [&](judged_send& j) -> std::optional<caf::error> {
                if (v.kind == hook_verdict::reject) {
                  return make_error(errc::rejected,
                                    v.text.empty() ? "rejected by the app" : v.text);
                }
                if (v.kind == hook_verdict::rewrite) {
                  if (v.text.size() > svc_.options.max_body_bytes) {
                    return make_error(errc::rejected, "the app's rewrite is too large");
                  }
                  j.request.body = std::move(v.text);
                }
                return std::nullopt;
              });
            },
            [this, id, fail_open](caf::error&) {
              // Timed out, or the app (or its node) is gone: the installed policy decides.
              decide(id, [&](judged_send&) -> std::optional<caf::error> {
                if (fail_open) return std::nullopt;
                return make_error(errc::unavailable, "the app did not judge the message in time");
              });
            });
  }

  template <class Decision>
  void decide(std::uint64_t id, Decision&& decision) {
    auto it = std::find_if(judging_.begin(), judging_.end(),
                           [&](const judged_send& j) { return j.id == id; });
    if (it == judging_.end()) return;
    it->refusal = decision(*it);
    it->decided = true;
    settle_judged();
  }

  /// Stores or refuses the decided sends at the front of the queue, in arrival order.
  void settle_judged() {
    while (!judging_.empty() && judging_.front().decided) {
      judged_send j = std::move(judging_.front());
      judging_.pop_front();
      if (j.refusal) {
        for (auto& w : j.waiters) w.deliver(*j.refusal);
        continue;
      }
      store_message(j.request, j.dedupe, std::move(j.waiters));
    }
    leave_if_drained();
  }

  bool holds_requests() const override { return !judging_.empty(); }
  bool may_passivate() const override { return judging_.empty(); }

  /// Takes the next seq for `r` and writes it; `waiters` are answered once it is durable (or
  /// at once, if `r` is a change its target refuses).
  void store_message(send_request& r, const std::string& dedupe, std::vector<ack_promise> waiters) {
    change_plan plan;
    if (r.kind != 0) {
      auto prepared = prepare_change(r, last_seq_ + 1);
      if (!prepared) {
        const caf::error refusal = to_caf(prepared.error());
        for (auto& w : waiters) w.deliver(refusal);
        return;
      }
      plan = std::move(*prepared);
    }
    const std::string dedupe_key = store::named_key(id_, store::record::dedupe, dedupe);
    const std::uint64_t seq = ++last_seq_;
    last_ts_ = std::max(now_ms(), last_ts_);
    if (r.kind == 0) ++last_number_;
    r.conversation = conversation_;
    send_ack ack{conversation_, seq, last_ts_};
    std::string message = encode_message(r, seq, last_ts_, last_number_);

    store::write_batch batch;
    log_.append(batch, seq, message);
    for (auto& [target, bytes] : plan.rewrites) {
      log_.rewrite(batch, target, bytes);
      unsettled_[target] = {seq, std::move(bytes)};
    }
    for (auto& key : plan.erase) batch.erase(shard_, key);
    if (r.kind == 0) {
      for (const auto& user : r.mentions) {
        if (user != r.sender) batch.put(shard_, mention_key(user, seq), std::string());
      }
      if (r.mention_all) batch.put(shard_, mention_key(std::string(), seq), std::string());
      mark_own_read(batch, r.sender, seq);
    }
    batch.put(shard_, dedupe_key, store::encode_u64(seq) + store::encode_u64(last_ts_));
    batch.event(shard_, encode_message_stored(r, seq, last_ts_));

    std::optional<push_notice> notice;
    if (svc_.hooks && svc_.hooks->delivers_offline() && r.kind == 0) {
      notice = push_notice{{},       conversation_,  seq,
                           r.sender, r.content_type, r.body.substr(0, push_preview_bytes),
                           last_ts_};
    }
    std::vector<std::uint64_t> targets;
    for (auto& rewrite : plan.rewrites) targets.push_back(rewrite.first);
    sending_.emplace(dedupe, in_flight_send{ack, std::move(waiters)});
    commit(std::move(batch),
           [this, dedupe, seq, targets = std::move(targets), message = std::move(message),
            sender = r.sender, device = r.device, recipients = std::move(r.recipients),
            notice = std::move(notice)](const error& st) {
             settle_rewrites(targets, seq);
             auto node = sending_.extract(dedupe);
             auto& done = node.mapped();
             if (!st.ok()) {
               for (auto& w : done.waiters) w.deliver(storage_error(st));
               return;
             }
             svc_.counters->messages_sent.fetch_add(1, std::memory_order_relaxed);
             for (auto& w : done.waiters) {
               if (announced_)
                 w.deliver(done.ack);
               else
                 await_announcement(w, done.ack);
             }
             fan_out(message, sender, device, recipients, notice);
           });
  }

  /// What a change writes besides its own entry.
  struct change_plan {
    std::vector<std::pair<std::uint64_t, std::string>> rewrites;  ///< seq -> new content
    std::vector<std::string> erase;  ///< Keys that go (a removed message's mentions).
  };

  /// The key marking that message `seq` mentions `user` ("" for @all).
  std::string mention_key(const std::string& user, std::uint64_t seq) const {
    std::string name = user;
    name.push_back('\0');
    name += store::encode_u64(seq);
    return store::named_key(id_, store::record::mention, name);
  }

  /// A sender has read what it answers: its read cursor moves to its own message, in the
  /// message's batch (no push: the peer learns of reads from markRead only).
  void mark_own_read(store::write_batch& batch, const std::string& sender, std::uint64_t seq) {
    if (sender.empty()) return;  // the app's system messages
    batch.put(shard_, store::named_key(id_, store::record::read_cursor, sender),
              store::encode_u64(seq));
    if (cursors_) cursors_->set(sender, seq);
  }

  /// The rewrites a change of `r.target` (taking seq `change_seq`) makes, or why it may not.
  result<change_plan> prepare_change(const send_request& r, std::uint64_t change_seq) {
    using kind = wire::MessageKind;
    using state = wire::MessageState;
    const auto k = static_cast<kind>(r.kind);
    const std::string which = "message " + std::to_string(r.target);
    if (r.target == 0 || r.target >= change_seq) {
      return error{errc::not_found, "no " + which + " in " + conversation_};
    }
    auto stored = current(r.target);
    if (!stored) return from_caf(storage_error(stored.error()));
    auto facts = *stored ? read_message_facts(**stored) : std::nullopt;
    if (!facts) return error{errc::not_found, "no " + which + " in " + conversation_};
    if (facts->kind != static_cast<std::uint16_t>(kind::NORMAL)) {
      return error{errc::bad_request, "seq " + std::to_string(r.target) +
                                          " is an edit, recall or delete, not a message"};
    }
    if (facts->state == static_cast<std::uint16_t>(state::RECALLED) ||
        facts->state == static_cast<std::uint16_t>(state::DELETED)) {
      return error{errc::not_found, which + " was recalled or deleted"};
    }
    const bool own = facts->sender == r.sender;
    if (k == kind::EDIT) {
      if (!own) return error{errc::forbidden, "only its sender may edit " + which};
      if (facts->edits.size() >= svc_.options.max_edits_per_message) {
        return error{errc::limit_exceeded, which + " has been edited " +
                                               std::to_string(facts->edits.size()) +
                                               " times, the most allowed"};
      }
    } else if (!own && !r.by_admin) {
      return error{errc::forbidden, "only its sender or a group admin may remove " + which};
    } else if (k == kind::RECALL && !r.by_admin) {
      const auto window = static_cast<std::uint64_t>(svc_.options.recall_window.count());
      if (now_ms() >= facts->timestamp_ms + window) {
        return error{errc::forbidden, "the recall window (" + std::to_string(window / 1000) +
                                          " s) of " + which + " has passed"};
      }
    } else if (k != kind::RECALL && k != kind::DELETE_FOR_EVERYONE) {
      return error{errc::bad_request, "unknown message change"};
    }
    change_plan out;
    out.rewrites.emplace_back(r.target, rewrite_message(**stored, r, change_seq));
    if (k != kind::EDIT) {
      for (std::uint64_t edit : facts->edits) {
        auto entry = current(edit);
        if (!entry) return from_caf(storage_error(entry.error()));
        if (*entry) out.rewrites.emplace_back(edit, strip_body(**entry));
      }
      for (const auto& user : facts->mentions) out.erase.push_back(mention_key(user, r.target));
      if (facts->mentions_all) out.erase.push_back(mention_key(std::string(), r.target));
    }
    return out;
  }

  /// The newest content of entry `seq`: a rewrite still in flight, else the stored one.
  result<std::optional<std::string>> current(std::uint64_t seq) const {
    if (auto it = unsettled_.find(seq); it != unsettled_.end()) {
      return std::optional<std::string>(it->second.second);
    }
    return log_.at(seq);
  }

  /// The write of change `seq` is done (or failed: the entries then are as stored).
  void settle_rewrites(const std::vector<std::uint64_t>& targets, std::uint64_t seq) {
    for (std::uint64_t target : targets) {
      auto it = unsettled_.find(target);
      if (it != unsettled_.end() && it->second.first == seq) unsettled_.erase(it);
    }
  }

  /// The participants' read cursors, loaded from the store on first use.
  result<read_cursors*> cursors() {
    if (cursors_) return &*cursors_;
    const std::string prefix = store::record_prefix(id_, store::record::read_cursor);
    auto entries = svc_.db->scan(shard_, prefix, store::prefix_end(prefix), SIZE_MAX);
    if (!entries) return entries.error();
    read_cursors loaded;
    for (auto& e : *entries) loaded.set(e.key.substr(prefix.size()), store::decode_u64(e.value));
    cursors_ = std::move(loaded);
    return &*cursors_;
  }

  /// One reader's cursor: from the index if it is loaded, else one key (a conversation list
  /// does not load a large group's every cursor to learn one).
  result<std::uint64_t> cursor_of(const std::string& reader) const {
    if (cursors_) return cursors_->of(reader);
    auto stored = svc_.db->get(shard_, store::named_key(id_, store::record::read_cursor, reader));
    if (!stored) return stored.error();
    return *stored ? store::decode_u64(**stored) : std::uint64_t{0};
  }

  caf::result<std::uint64_t> mark_read(const std::string& reader, std::uint64_t seq) {
    if (seq > last_seq_) {
      return make_error(errc::bad_request, "seq " + std::to_string(seq) + " is past the end of " +
                                               conversation_ + " (" + std::to_string(last_seq_) +
                                               ")");
    }
    auto index = cursors();
    if (!index) return storage_error(index.error());
    const std::uint64_t old = (*index)->of(reader);
    if (seq <= old) return old;  // cursors only move forward; an old mark changes nothing
    (*index)->set(reader, seq);  // now, so a mark behind this one in the mailbox compares to it
    store::write_batch batch;
    batch.put(shard_, store::named_key(id_, store::record::read_cursor, reader),
              store::encode_u64(seq));
    auto rp = make_response_promise<std::uint64_t>();
    commit(std::move(batch), [this, rp, reader, seq, old](const error& st) mutable {
      if (!st.ok()) {
        if (cursors_ && cursors_->of(reader) == seq) cursors_->set(reader, old);
        rp.deliver(storage_error(st));
        return;
      }
      if (!ref_.is_group) tell_peer_read(reader, seq);
      rp.deliver(seq);
    });
    return rp;
  }

  /// Pushes "`reader` read up to `seq`" to the other participant's online devices.
  void tell_peer_read(const std::string& reader, std::uint64_t seq) {
    tell_others(reader, std::string(), encode_read_frame(conversation_, reader, seq));
  }

  /// Pushes an ephemeral `frame` (nothing stored) from `user` on `device` to the other users
  /// of this direct conversation, if they are online.
  void tell_others(const std::string& user, const std::string& device, const std::string& frame) {
    for (const auto& peer : ref_.users()) {
      if (peer == user) continue;
      tell_if_active(svc_, presence::of_user(svc_, peer), push_atom::value,
                     user_set(std::vector<std::string>{peer}), frame, user, device, push_notice{});
    }
  }

  caf::result<read_receipts> receipts(const std::string& reader,
                                      const std::vector<std::uint64_t>& seqs) {
    auto index = cursors();
    if (!index) return storage_error(index.error());
    const read_cursors& c = **index;
    read_receipts out;
    const std::uint64_t own = c.of(reader);
    for (std::uint64_t seq : seqs) {
      const std::size_t readers = c.at_or_past(seq) - (own >= seq ? 1 : 0);
      out.counts.push_back(static_cast<std::uint32_t>(readers));
    }
    if (!ref_.is_group) {
      for (const auto& user : ref_.users()) {
        out.users.push_back(user);
        out.seqs.push_back(c.of(user));
      }
    }
    return out;
  }

  /// Pushes to the online recipients: one message per shard, to the shard's presence actor if
  /// it is active (else nobody of that shard is online), with the push frame encoded here once.
  /// A group's recipients come grouped by shard (its members); a direct conversation's are its
  /// two users. The sending device gets no push.
  void fan_out(const std::string& message, const std::string& sender, const std::string& device,
               const std::vector<shard_users>& recipients,
               const std::optional<push_notice>& notice) {
    const std::string frame = encode_push_frame(message, true);
    const auto direct =
        ref_.is_group ? std::vector<shard_users>() : presence::sets_by_shard(svc_, ref_.users());
    for (const auto& [shard, users] : ref_.is_group ? recipients : direct) {
      if (notice) {
        // The presence actor must run to tell who is offline: activate it.
        tell(svc_, presence::of_shard(shard), push_atom::value, users, frame, sender, device,
             *notice);
        for (const auto& user : users.ids()) {
          if (user == sender) continue;
          if (auto bot = svc_.hooks->bot(user)) send(bot, bot_atom::value, user, message);
        }
      } else {
        tell_if_active(svc_, presence::of_shard(shard), push_atom::value, users, frame, sender,
                       device, push_notice{});
      }
    }
  }

  /// Holds an ack until the users of a direct (or system) conversation have it in their inbox.
  void await_announcement(ack_promise rp, send_ack ack) {
    awaiting_.emplace_back(std::move(rp), std::move(ack));
    if (announcing_) return;
    announcing_ = true;
    const std::uint64_t round = ++announce_round_;
    const auto users = ref_.users();
    auto remaining = std::make_shared<int>(static_cast<int>(users.size()));
    inbox_event_spec spec;
    spec.kind = static_cast<std::uint16_t>(wire::InboxEventKind::CONVERSATION_STARTED);
    spec.conversation = conversation_;
    for (const auto& user : users) {
      ask(
          this, svc_, user::of(user),
          [this, round, remaining](std::uint64_t) {
            if (round != announce_round_ || --*remaining > 0) return;
            announced_ = true;
            announcing_ = false;
            for (auto& [rp, ack] : awaiting_) rp.deliver(ack);
            awaiting_.clear();
          },
          [this, round](caf::error& err) {
            if (round != announce_round_) return;
            // The messages are durable; their senders retry and get the same seqs, and the
            // retry announces again.
            ++announce_round_;
            announcing_ = false;
            for (auto& [rp, ack] : awaiting_) rp.deliver(err);
            awaiting_.clear();
          },
          announce_atom::value, spec);
    }
  }

  caf::result<record_page> page(result<store::log_page> p) {
    if (!p) return storage_error(p.error());
    record_page out;
    out.has_more = p->has_more;
    out.records.reserve(p->entries.size());
    std::size_t bytes = 0;
    for (auto& e : p->entries) {
      bytes += e.value.size();
      if (!out.records.empty() && bytes > svc_.options.max_page_bytes) {
        out.has_more = true;  // the rest comes with the next page
        break;
      }
      out.records.push_back(std::move(e.value));
    }
    return out;
  }

  caf::result<record_page> history(const history_query& q) {
    std::uint64_t before = q.before_seq;
    if (q.before_time_ms != 0) {
      // Timestamps never decrease along seqs: binary search the first seq at or after the time.
      std::uint64_t lo = 1, hi = last_seq_ + 1;
      while (lo < hi) {
        const std::uint64_t mid = lo + (hi - lo) / 2;
        auto stored = log_.at(mid);
        if (!stored) return storage_error(stored.error());
        const std::uint64_t ts = *stored ? message_timestamp(**stored).value_or(0) : 0;
        if (ts < q.before_time_ms)
          lo = mid + 1;
        else
          hi = mid;
      }
      before = lo;
    }
    if (before == 1) return record_page{};
    return page(log_.read_before(before, q.limit, q.floor_seq));
  }

  // -- retention --

  /// Most entries one visit of the sweeper deletes; a longer backlog goes on at once after.
  static constexpr std::size_t max_expired_per_visit = 10000;

  caf::result<std::uint64_t> set_retention(const std::string& by, std::uint64_t ttl_ms) {
    // A group's own actor checked its admins; a system conversation is the app's.
    const bool allowed = by == by_app || ref_.is_group || (!ref_.is_system && ref_.involves(by));
    if (!allowed) {
      return make_error(errc::forbidden, by + " may not set the retention of " + conversation_);
    }
    store::write_batch batch;
    const std::string index_key =
        store::named_key(runtime::presence_entity(shard_), store::record::retention, conversation_);
    if (ttl_ms == 0) {
      batch.erase(shard_, retention_key_);
      batch.erase(shard_, index_key);
    } else {
      batch.put(shard_, retention_key_, store::encode_u64(ttl_ms));
      batch.put(shard_, index_key, store::encode_u64(ttl_ms));
    }
    auto rp = make_response_promise<std::uint64_t>();
    commit(std::move(batch), [this, rp, ttl_ms](const error& st) mutable {
      if (!st.ok()) {
        rp.deliver(storage_error(st));
        return;
      }
      retention_ms_ = ttl_ms;
      rp.deliver(ttl_ms);
    });
    return rp;
  }

  /// Deletes the entries older than the time to live, oldest first (see the file comment).
  void expire() {
    // Changes in flight may rewrite an entry this would delete: the next visit does it.
    if (retention_ms_ == 0 || expiring_ || !unsettled_.empty()) return;
    const std::uint64_t now = now_ms();
    if (now <= retention_ms_) return;
    const std::uint64_t cutoff = now - retention_ms_;
    store::write_batch batch;
    std::size_t deleted = 0;
    bool more = false;
    for (std::uint64_t after = 0;;) {
      auto page = log_.read_after(after, 1000);
      if (!page) return log_storage_error(page.error());
      bool done = page->entries.empty() || !page->has_more;
      for (const auto& e : page->entries) {
        auto facts = read_message_facts(e.value);
        if (!facts || facts->timestamp_ms >= cutoff) {
          done = true;
          break;
        }
        if (e.seq == last_seq_) {
          if (auto emptied = expired_entry(e.value); emptied != e.value) {
            log_.rewrite(batch, e.seq, std::move(emptied));
          }
          done = true;
          break;
        }
        for (const auto& user : facts->mentions) batch.erase(shard_, mention_key(user, e.seq));
        if (facts->mentions_all) batch.erase(shard_, mention_key(std::string(), e.seq));
        batch.erase(shard_, store::seq_key(id_, store::record::message, e.seq));
        after = e.seq;
        if (++deleted == max_expired_per_visit) {
          more = done = true;
          break;
        }
      }
      if (done) break;
    }
    if (batch.empty()) return;
    expiring_ = true;
    commit(std::move(batch), [this, more, deleted](const error& st) {
      expiring_ = false;
      if (!st.ok()) return;
      svc_.counters->messages_expired.fetch_add(deleted, std::memory_order_relaxed);
      if (more) send(this, expire_atom::value);
    });
  }

  void add_figures(std::vector<figure>& out) const override {
    out.push_back({"last_seq", last_seq_});
    out.push_back({"retention_ms", retention_ms_});
    out.push_back({"sends_in_flight", sending_.size()});
    out.push_back({"sends_being_judged", judging_.size()});
    if (cursors_) out.push_back({"read_cursors", cursors_->size()});
  }

  const std::string conversation_;
  const runtime::conversation_ref ref_;
  store::seq_log log_;
  std::uint64_t last_seq_ = 0;
  std::uint64_t last_ts_ = 0;
  std::uint64_t last_number_ = 0;  ///< Messages (kind normal) in the log.
  std::unordered_map<std::string, in_flight_send> sending_;
  std::deque<judged_send> judging_;
  std::uint64_t judge_counter_ = 0;
  bool announced_;
  bool announcing_ = false;
  std::uint64_t announce_round_ = 0;
  std::vector<std::pair<ack_promise, send_ack>> awaiting_;
  /// Entries rewritten by changes not yet durable: seq -> (the change's seq, new content).
  std::map<std::uint64_t, std::pair<std::uint64_t, std::string>> unsettled_;
  std::optional<read_cursors> cursors_;
  const std::string peers_key_ = store::named_key(id_, store::record::state, "");
  peer_state peers_;  ///< A direct conversation's users' relation.
  const std::string retention_key_ = store::named_key(id_, store::record::state, "retention");
  std::uint64_t retention_ms_ = 0;  ///< Time to live of the entries (0: kept).
  bool expiring_ = false;           ///< A visit's deletions are being written.
};

}  // namespace

caf::actor spawn_conversation(services& svc, const std::string& id, std::string name,
                              std::uint32_t shard) {
  return svc.system->spawn<conversation_actor, caf::lazy_init>(&svc, id, std::move(name), shard);
}

}  // namespace parley::actors
