# Persisted records: the values Parley stores in RocksDB (keys are described in
# store/include/parley/store/keys.hpp). Messages and inbox events are stored as the
# client.capnp Message and InboxEvent structs, so a pull returns stored bytes unchanged.
# Same evolution rule as the wire: only add fields, with higher ordinals.
@0xaf9321abdcd3bc3f;

using Client = import "client.capnp";
$import "/capnp/c++.capnp".namespace("parley::records");

struct GroupMember {
  # One member of a group (key: the member's user id under the group's entity, record 'b').
  userId @0 :Text;              # Member's user id (empty in a member record: the key holds it).
  role @1 :Client.GroupRole;    # Member's role.
  joinedMs @2 :UInt64;          # When the member joined (ms since the epoch).
  visibleAfterSeq @3 :UInt64;   # The member reads messages with a greater seq (its join point,
                                # or the group's floor if history is shared).
  mutedUntilMs @4 :UInt64;      # An admin muted the member until then (0: not muted).
}

struct GroupState {
  # A group's settings and member count, rewritten on every change. Members and barred users
  # are records of their own (GroupMember under 'b', barred ids under 'x'), so that a change
  # writes what changed, not the whole member list of a large group.
  groupId @0 :Text;                # The group's id (without the "group/" prefix).
  name @1 :Text;                   # Display name.
  createdMs @2 :UInt64;            # Creation time.
  members @3 :List(GroupMember);   # Legacy (before member records): members in join order;
                                   # moved into member records when the group is next loaded.
  version @4 :UInt64;              # Incremented on every change.
  joinPolicy @5 :Client.JoinPolicy;  # Who may join.
  shareHistory @6 :Bool;           # Members read from historyFloor instead of their join.
  barred @7 :List(Text);           # Legacy, like members: users removed by an admin.
  historyFloor @8 :UInt64;         # Last seq of the conversation before this group was created
                                   # (a dissolved group's id reused): never visible to anyone.
  avatarUrl @9 :Text;              # The group's profile (updateGroup).
  announcement @10 :Text;
  mutedAll @11 :Bool;              # Only admins and the owner may send.
  maxMembers @12 :UInt32;          # This group's member limit (0: the node's).
  memberCount @13 :UInt32;         # How many member records the group has.
}

struct GroupPending {
  # A request to join a group (record 'j', key: the requester) or an invitation to it (record
  # 'v', key: the invitee), kept by the group until answered.
  message @0 :Text;     # The requester's or inviter's message.
  atMs @1 :UInt64;      # When it was made.
  by @2 :Text;          # An invitation's inviter ("" for a request).
  expiresMs @3 :UInt64; # An invitation lapses then (0: a request, kept until answered).
}

struct UserAccess {
  # What an app decided about one user's logins; kept by the presence actor of the user's shard
  # (key: presence entity, record 'a', the user id). Absent: no revocation and no ban.
  revokedAtUs @0 :UInt64;      # Tokens issued at or before this (unix µs) are refused; 0: none.
  banned @1 :Bool;             # Logins are refused while the ban is in force.
  bannedUntilMs @2 :UInt64;    # End of the ban (unix ms); 0: until lifted.
  banReason @3 :Text;          # The app's reason, told to the user's clients.
}

struct StoreMeta {
  # Written once when a data dir is created; read at every open.
  formatVersion @0 :UInt32;  # Layout version of the data dir (1).
  shardCount @1 :UInt32;     # Number of shards (= column families); fixed for the data dir's life.
  createdMs @2 :UInt64;      # Creation time.
}

struct RelationRecord {
  # How a user stands with another (key: the other user's id under the user's entity).
  relation @0 :Client.Relation;  # friend, requestSent, requestReceived or blocked.
  message @1 :Text;              # A pending request's message.
  sinceMs @2 :UInt64;            # When it became so.
  expiresMs @3 :UInt64;          # A pending request's lapse time (0 otherwise).
}

struct PeerState {
  # What a direct conversation knows of its two users' relation, to refuse sends without
  # asking them: whether they are friends, and who of them blocked the other.
  friends @0 :Bool;
  blockedBy @1 :List(Text);
}
