# Parley app protocol: what an app server calls on a node, over Cap'n Proto RPC (two-party,
# stream framing) on the node's app port (loopback by default, separate from the client port).
#
# The bootstrap capability only authenticates; everything else hangs off the Engine it returns,
# grouped by what an app manages. Failures are RPC exceptions whose description starts with the
# code of the client protocol's ErrorCode (client.capnp) in snake case, a colon and a short
# message, e.g. "forbidden: only admins add members to team" or "bad_request: invalid user id":
# an app branches on the part before the colon (C++'s capnp client shows the description after
# "remote exception: ").
#
# Evolution rule as in client.capnp: methods, fields and enumerants are only added, with higher
# ordinals. Capabilities an app hosts (callbacks) are only ever passed as parameters; the node
# always hosts the bootstrap (other languages' RPC libraries cannot all host one).
@0xa20061b8f8baf179;

using Client = import "client.capnp";
$import "/capnp/c++.capnp".namespace("parley::app");

interface Bootstrap {
  authenticate @0 (secret :Data) -> (engine :Engine);
  # `secret` is the node's token secret (the data dir's `secret` file, 32 bytes; every node of a
  # cluster shares it). A wrong one fails with "not_authenticated"; the third failure on one
  # connection closes it.
}

interface Engine {
  tokens @0 () -> (tokens :Tokens);
  groups @1 () -> (groups :Groups);
  messages @2 () -> (messages :Messages);
  users @3 () -> (users :Users);
  cluster @4 () -> (cluster :Cluster);
  inspection @5 () -> (inspection :Inspection);
  hooks @6 () -> (hooks :Hooks);
  events @7 () -> (events :Events);
}

interface Events {
  # The engine's event feed: every stored message, every session opened or closed and every
  # change of a group's members or roles, as they became durable. Events are kept in the event
  # log of the shard where they happened (so a shard's events move with it) and numbered there
  # (seq, from 1, in the order they were written); a cursor is a position in every shard's log.

  subscribe @0 (filter :EventFilter, cursor :Data, listener :EventListener, maxBatch :UInt32)
            -> (subscription :Subscription);
  # Calls listener.deliver with the events after `cursor` (empty: from the oldest kept), in
  # batches of at most maxBatch (0: 100; at most 1000), one call at a time: the next batch goes
  # out only once deliver returned, so a slow app slows its feed, never the node's memory. With
  # each batch comes the cursor just past it: store it when you have processed the batch, and
  # subscribe with it after a reconnect to lose nothing and receive nothing twice. Each shard's
  # order is kept; events of different shards interleave. Kept: the last 1,000,000 events per
  # shard (older ones are gone; a cursor that old resumes at the oldest kept). A failed
  # deliver call (the app went away) ends the subscription.

  head @1 () -> (cursor :Data);
  # A cursor at the current end of every shard's log: subscribe with it for new events only.
}

struct EventFilter {
  messages @0 :Bool = true;  # messageStored
  sessions @1 :Bool = true;  # sessionOpened, sessionClosed
  groups @2 :Bool = true;    # groupChanged
}

interface EventListener {
  deliver @0 (events :List(Event), cursor :Data) -> ();
}

interface Subscription {
  cancel @0 () -> ();
  # Ends the feed (dropping the capability ends it too).
}

struct Event {
  shard @0 :UInt32;        # The shard whose log holds it,
  seq @1 :UInt64;          # and its place there.
  timestampMs @2 :UInt64;  # When it happened (the writing node's clock).
  union {
    messageStored @3 :MessageStored;
    sessionOpened @4 :SessionChange;
    sessionClosed @5 :SessionChange;
    groupChanged @6 :GroupChange;
  }
}

struct MessageStored {
  conversation @0 :Text;   # "dm/<a>/<b>" or "group/<g>".
  seq @1 :UInt64;
  sender @2 :Text;         # "" for a system message.
  senderDevice @3 :Text;
  contentType @4 :UInt32;
  bodyBytes @5 :UInt32;    # Read the body with Messages.history if you need it.
  kind @6 :Client.MessageKind;  # A message, or an edit, recall or delete of message `target`.
  target @7 :UInt64;
}

struct SessionChange {
  user @0 :Text;
  device @1 :Text;
  deviceType @2 :UInt16;   # A DeviceType of client.capnp as a number.
  node @3 :Text;           # The node whose client port the device is connected to.
}

struct GroupChange {
  group @0 :Text;
  user @1 :Text;                   # The member concerned.
  kind @2 :Client.InboxEventKind;  # groupJoined, groupLeft, kickedFromGroup, roleChanged,
                                   # groupDismissed (one per member), as the member's inbox has it.
  by @3 :Text;                     # Who did it ("" for the app).
  role @4 :Client.GroupRole;       # roleChanged: the new role.
}

interface Hooks {
  # Callbacks the app hosts. A cluster has one hook of each kind: the app installs it through
  # any node's app port and the install reaches every node (those unreachable at the time get it
  # when they reconnect, and nodes that join later get it too); the newest install, through any
  # node, replaces the one before everywhere. Each set/clear call returns once the nodes it
  # reached have it in force: `nodes` counts them, this node included. A hook stays installed
  # while the node that took it runs, even if the app's connection breaks (then the before-send
  # policy applies, and pushes and bot messages are dropped) until the app installs it again or
  # clears it. If that node stops, the others keep the install and its calls fail (the policy
  # applies) until the app installs the hook again through a running node.

  setBeforeSend @0 (hook :BeforeSendHook, timeoutMs :UInt32, failOpen :Bool) -> (nodes :UInt32);
  # Every message a client sends is judged by `hook` before it is stored: allowed, rejected
  # (the sender gets "rejected" and the reason) or rewritten (the new body is stored and
  # pushed). A resend of a stored message is not asked again; messages the app sends itself
  # (Messages) are never asked. timeoutMs: how long a judgement may take (0: 200 ms; at most
  # 10,000). When the hook does not answer in time, fails or is gone, failOpen stores the
  # message as sent; otherwise the sender gets "unavailable" (retriable). Sends to one
  # conversation still take their seqs in the order they arrived.

  clearBeforeSend @1 () -> (nodes :UInt32);

  setOfflinePush @2 (hook :OfflinePushHook, maxBatch :UInt32) -> (nodes :UInt32);
  # For each stored message, every recipient (not the sender) with no online session is given
  # to `hook`, in batches of at most maxBatch notices (0: 100; at most 1000), one call at a
  # time: notices raised while a call is out wait for the next one (at most 10,000; beyond
  # that the oldest are dropped and counted). Best effort: a failed call's batch is
  # dropped.

  clearOfflinePush @3 () -> (nodes :UInt32);

  setBots @4 (bots :List(Text), hook :BotHook) -> (nodes :UInt32);
  # The users in `bots` (at most 1000) are bots: every message stored in a conversation they
  # take part in (except their own) is given to `hook`, in batches, one call at a time, with
  # the bounds of setOfflinePush. A bot answers with Messages.sendAsUser. Replaces the
  # previous bot set; an empty list removes it.
}

interface BeforeSendHook {
  check @0 (message :OutgoingMessage) -> (verdict :Verdict);
}

struct OutgoingMessage {
  conversation @0 :Text;   # "dm/<a>/<b>" or "group/<g>".
  sender @1 :Text;
  senderDevice @2 :Text;
  clientMsgId @3 :Text;
  contentType @4 :UInt32;
  body @5 :Data;
  mentions @6 :List(Text);
}

struct Verdict {
  union {
    allow @0 :Void;
    reject @1 :Text;   # The reason the sender is told (at most 256 bytes; longer is cut).
    rewrite @2 :Data;  # The body to store instead (within the node's body limit).
  }
}

interface OfflinePushHook {
  notify @0 (notices :List(PushNotice)) -> ();
}

struct PushNotice {
  recipient @0 :Text;
  conversation @1 :Text;
  seq @2 :UInt64;
  sender @3 :Text;          # "" for a system message.
  contentType @4 :UInt32;
  preview @5 :Data;         # The body's first bytes (at most 256).
  timestampMs @6 :UInt64;
}

interface BotHook {
  receive @0 (messages :List(BotMessage)) -> ();
}

struct BotMessage {
  bot @0 :Text;                 # The bot the message is for.
  message @1 :Client.Message;
}

interface Inspection {
  # What operators (imctl actor inspect|list) look at.

  inspect @0 (entity :Text) -> (report :EntityReport);
  # One entity by id ("user/alice", "group/team", "conv/dm/alice/bob", "presence/12"), asked of
  # the node owning its shard, wherever the app is connected; inspecting never activates it.

  list @1 (prefix :Text, after :Text, limit :UInt32) -> (node :Text, entities :List(Text),
                                                          more :Bool);
  # Entities active on the answering node whose id starts with `prefix` ("user/", "group/t",
  # "" for all), by id, after `after`, at most `limit` (0: 100; at most 1000). Ask each node's
  # app port for its own.
}

struct EntityReport {
  entity @0 :Text;
  node @1 :Text;            # The node owning its shard.
  shard @2 :UInt32;
  active @3 :Bool;          # Activated now; else passivated (figures from the store).
  mailbox @4 :UInt64;       # Messages waiting in its mailbox (active only).
  writesInFlight @5 :UInt64;  # Writes not yet durable (active only).
  figures @6 :List(Figure);
  # By kind — user: inbox_head, conversations, stored_bytes, sessions; conversation: last_seq,
  # dedupe_entries (counted up to 1,000,000), sends_in_flight; group: exists, members, barred,
  # version; presence: online_users, sessions, access_records.
}

struct Figure {
  name @0 :Text;    # snake_case, e.g. "inbox_head".
  value @1 :UInt64;
}

interface Cluster {
  status @0 () -> (status :ClusterStatus);
  # The answering node's figures and the shard map as it sees it.
}

struct ClusterStatus {
  node @0 :Text;              # The answering node's id ("local" for a single node).
  mapEpoch @1 :UInt64;        # Epoch of the shard map it follows.
  shards @2 :UInt32;          # Shards in the map.
  owners @3 :List(ShardOwner);  # Every node owning shards, with how many.
  connections @4 :UInt64;     # Client connections open on this node.
  logins @5 :UInt64;          # Logins since it started.
  messagesSent @6 :UInt64;    # Messages stored through it since it started.
  pushes @7 :UInt64;          # Pushes written to its clients since it started.
  activeEntities @8 :UInt64;  # Actors active on it now.
  serving @9 :Bool;           # False while fenced (its cluster lease lapsed).
}

struct ShardOwner {
  node @0 :Text;
  shards @1 :UInt32;
}

interface Tokens {
  issue @0 (user :Text, ttlSeconds :UInt32, deviceType :Int32 = -1)
        -> (token :Text, expiresUnixS :UInt64);
  # A login token for `user`, valid for ttlSeconds (1 s to 400 days). With a deviceType (a
  # DeviceType of client.capnp as a number; -1: any) the token logs in only as that type; another
  # type's login gets "token_invalid".

  revoke @1 (user :Text) -> (kicked :UInt32);
  # Every token of `user` issued before now stops working (a login with one gets
  # "token_revoked"; tokens issued from now on work) and the user's online sessions end, each
  # client told tokenRevoked. Answers how many sessions ended, once the revocation is durable.
}

interface Users {
  kick @0 (user :Text, device :Text) -> (kicked :UInt32);
  # Ends `user`'s online sessions on `device` (empty: every device); each client is told
  # kickedByApp and closed. Answers how many sessions ended (0 if the user was offline).

  sessions @1 (user :Text) -> (sessions :List(Session));
  # `user`'s online sessions, oldest first.

  ban @2 (user :Text, untilUnixMs :UInt64, reason :Text) -> (kicked :UInt32);
  # Refuses `user`'s logins until untilUnixMs (0: until unbanned) with "banned" and the reason
  # (at most 256 bytes), and ends its online sessions, each client told banned with the reason.
  # A second ban replaces the first. Answers how many sessions ended, once the ban is durable.

  unban @3 (user :Text) -> (wasBanned :Bool);
  # Lifts `user`'s ban; wasBanned says whether one was in force.

  setProfile @4 (user :Text, profile :Client.Profile) -> ();
  # Replaces `user`'s profile as its own setProfile would (the same limits; profile.user and
  # updatedMs are ignored): for apps that keep names and avatars in their own user database.

  getProfile @5 (user :Text) -> (profile :Client.Profile);
  # `user`'s whole profile, every field whatever its visibility (empty if none was set).

  relate @6 (user :Text, other :Text, action :RelationAction, message :Text)
        -> (relation :Client.Relation);
  # Acts for `user` on its relation with `other` exactly as `user`'s client would (a friend
  # request with `message`, accept, decline, cancel, remove, block, unblock; the same rules and
  # inbox events). To make two users friends: request as one, accept as the other. Answers the
  # relation `user` now has with `other`.
}

enum RelationAction {
  request @0;
  accept @1;
  decline @2;
  cancel @3;
  remove @4;
  block @5;
  unblock @6;
}

struct Session {
  device @0 :Text;           # The device id the client logged in with.
  deviceType @1 :UInt16;     # Its DeviceType (client.capnp) as a number.
  sinceMs @2 :UInt64;        # When it logged in (unix ms).
  node @3 :Text;             # The node whose client port it is connected to.
}

interface Groups {
  create @0 (owner :Text, group :Text, name :Text, members :List(Text), open :Bool,
             joinPolicy :Client.JoinPolicy)
         -> (group :Text, name :Text, members :UInt32);
  # Creates `group` (empty: the node chooses an unguessable id) owned by `owner`, then adds each
  # of `members` (at most 1000 per call) as the owner would. `members` counts the owner and the
  # distinct members named in this call. The same call again is a retry and succeeds, as a
  # client's CreateGroup does; "already_exists" if another owner's group has the id. A member
  # that cannot be added fails the call after the group was created (the message names it).
  # `joinPolicy` (approval: users ask and admins answer) wins over `open` when it is not
  # inviteOnly; `open` alone is kept for apps written before it.
  #
  # The calls below act with the app's authority, which is the owner's: the group's rules
  # (member limit, each user's group cap) apply, its roles do not. Each change is recorded in
  # the affected users' inboxes as a client's would be (groupJoined, kickedFromGroup,
  # roleChanged, groupDismissed), so their devices learn of it.

  addMembers @1 (group :Text, members :List(Text)) -> (members :UInt32);
  # Adds each of `members` (at most 1000 per call; members already in stay); answers the
  # group's member count afterwards. A member that cannot be added fails the call (the message
  # names it); those before it stay added.

  removeMembers @2 (group :Text, members :List(Text)) -> (removed :UInt32);
  # Removes each of `members` (at most 1000 per call), barred from rejoining an open group until
  # added again, as after an admin's kick; users who are not members are skipped. Removing the
  # owner passes ownership on (to the longest-standing admin, else member).

  setRole @3 (group :Text, user :Text, role :Client.GroupRole) -> ();
  # Makes member `user` an admin or a plain member ("bad_request" for owner: use transfer;
  # "forbidden" for the owner itself).

  transfer @4 (group :Text, newOwner :Text) -> ();
  # Hands the group to member `newOwner`; the old owner becomes an admin.

  dismiss @5 (group :Text) -> (members :UInt32);
  # Ends the group: every member is told (groupDismissed), its state is erased and its id may
  # be created again (nobody reads the old messages through a new group). Answers how many
  # members it had.

  info @6 (group :Text) -> (info :GroupDetails);

  members @7 (group :Text, after :Text, limit :UInt32) -> (members :List(Member), more :Bool);
  # Members by user id, those after `after` ("" from the first), at most `limit` (0: 50; at
  # most 200 per page); `more` says whether another page follows (ask again with the last id).
}

struct GroupDetails @0xeff4853dce069853 {
  # (Named apart from client.capnp's GroupInfo: capnp-es 0.0.16 imports every name of an
  # imported file, so a name used in both breaks the generated TypeScript. The id is the one
  # it had as GroupInfo.)
  group @0 :Text;
  name @1 :Text;
  owner @2 :Text;
  members @3 :UInt32;
  open @4 :Bool;           # Anyone may join; else invite-only.
  shareHistory @5 :Bool;   # New members read messages from before their join.
  createdMs @6 :UInt64;
  joinPolicy @7 :Client.JoinPolicy;  # inviteOnly, open or approval (open is set for open).
}

struct Member {
  user @0 :Text;
  role @1 :Client.GroupRole;
  joinedMs @2 :UInt64;
}

interface Messages {
  sendAsUser @0 (sender :Text, toUser :Text, toGroup :Text, clientMsgId :Text, body :Data,
                 contentType :UInt32) -> (conversation :Text, seq :UInt64, timestampMs :UInt64);
  # Sends as `sender` to exactly one of `toUser` / `toGroup`, with the contract of a client's
  # Send: the same limits, deduplication by (sender, clientMsgId), an answer only once the
  # message is durable, pushes to the recipients' sessions. The sender's device is "app".

  sendAsSystem @1 (toGroup :Text, clientMsgId :Text, body :Data, contentType :UInt32,
                   toUser :Text)
               -> (conversation :Text, seq :UInt64, timestampMs :UInt64);
  # A system message (Message.sender "", senderDevice "app") to exactly one of `toGroup` (in
  # the group's conversation, to every member) or `toUser` (in the user's own system
  # conversation "sys/<user>", which only that user reads), with a client send's contract
  # otherwise: the same limits, deduplication by clientMsgId among the conversation's system
  # messages, an answer once durable, pushes to the recipients' sessions (and offline-push
  # notices). It counts against no user's quota.

  history @2 (conversation :Text, beforeSeq :UInt64, limit :UInt32)
          -> (messages :List(Client.Message), more :Bool);
  # A conversation's messages ("dm/<a>/<b>", "group/<g>" or "sys/<u>") before `beforeSeq` (0: from the
  # newest), newest first, at most `limit` (0: 50; at most 200; a page also ends before 512 KiB).
  # The app reads every conversation from its first message (no member's join point applies).

  setRetention @3 (conversation :Text, seconds :UInt64) -> ();
  # Messages of `conversation` older than `seconds` are deleted in the background (0: kept; at
  # most a hundred years), as a client's setRetention, for any conversation including system
  # ones.
}
