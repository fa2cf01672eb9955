# Parley client protocol, version 1.
#
# One ClientFrame type travels client -> server and one ServerFrame type server -> client,
# each as one Cap'n Proto stream-framed message (over TCP) or one binary WebSocket frame.
# Evolution rule: fields and enumerants are only ever added, with higher ordinals; nothing is
# renamed in meaning, removed or renumbered. tests/schema proves an old reader accepts a new
# message.
@0xa3ca3acd25daff24;

$import "/capnp/c++.capnp".namespace("parley::wire");

enum ErrorCode {
  # Outcome of a request. Codes marked "retriable" may succeed if the same request is sent
  # again later (a resend of a send is safe: sends are idempotent by clientMsgId).
  ok @0;                 # Success.
  badRequest @1;         # A field is missing, empty, too long or otherwise invalid.
  malformedFrame @2;     # The frame is not a valid ClientFrame (bad framing or encoding).
  frameTooLarge @3;      # The frame exceeds the server's maximum frame size; the server closes.
  notAuthenticated @4;   # The request needs a login first.
  tokenInvalid @5;       # The login token is malformed, forged, or uses an unknown algorithm.
  tokenExpired @6;       # The login token was valid but has expired; get a new one.
  notMember @7;          # The user is not a member of the group it tried to use.
  notFound @8;           # The addressed group, user or conversation does not exist.
  forbidden @9;          # The user's role does not allow this operation.
  alreadyExists @10;     # The group to create exists already.
  unavailable @11;       # Retriable: the owning shard is moving, down or overloaded.
  internal @12;          # An unexpected server-side failure (e.g. storage error); retriable.
  alreadyLoggedIn @13;   # Login was sent twice on one connection.
  unsupported @14;       # The request kind is unknown to this server version.
  timeout @15;           # Retriable: the server did not finish the request in time.
  rateLimited @16;       # Retriable after a pause: the connection or user sent too fast.
  limitExceeded @17;     # A configured cap was reached (sessions per user, group size...).
  banned @18;            # Login refused: the app banned this user (the message says until when
                         # and why).
  tokenRevoked @19;      # Login refused: the app revoked the user's tokens issued before a
                         # moment, this one among them; get a new one.
  rejected @20;          # The app's before-send hook refused the message (the message is the
                         # app's reason); nothing was stored. Sending it again asks again.
}

enum MessageKind {
  # What a conversation log entry is. Every kind but `normal` changes an earlier message, its
  # `target`, and has a seq of its own: a device that pulls the log applies the changes in
  # order and ends where every other device ends.
  normal @0;             # A message.
  edit @1;               # The sender replaced `target`'s content: this entry carries the new
                         # contentType and body (the target's stored copy was rewritten too).
  recall @2;             # `target` was recalled by its sender (within the recall window) or a
                         # group admin; its body, and the bodies of its edits, are gone.
  deleteForEveryone @3;  # `target` was deleted for everyone by its sender or a group admin;
                         # its body, and the bodies of its edits, are gone.
}

enum MessageState {
  # What became of a message (kind normal), as stored and as pulled after the change.
  intact @0;    # Unchanged.
  edited @1;    # Edited at least once; the body is the newest.
  recalled @2;  # Recalled: the body is empty.
  deleted @3;   # Deleted for everyone: the body is empty.
}

struct Message {
  # One chat message as stored in a conversation log and as pushed to clients.
  conversation @0 :Text;    # Canonical id: "dm/<a>/<b>" (a < b), "group/<g>" or "sys/<user>".
  seq @1 :UInt64;           # Gap-free position in the conversation, starting at 1.
  sender @2 :Text;          # User id of the sender ("" for system messages).
  senderDevice @3 :Text;    # Device id the sender used.
  clientMsgId @4 :Text;     # Sender-chosen id making the send idempotent.
  timestampMs @5 :UInt64;   # Server time of acceptance, ms since the epoch; non-decreasing in seq.
  contentType @6 :UInt32;   # App-defined content type (0 = plain text by convention).
  body @7 :Data;            # Opaque payload; the server never looks inside.
  mentions @8 :List(Text);  # User ids mentioned in the message.
  kind @9 :MessageKind;     # A message, or a change of the message `target` (see MessageKind).
  target @10 :UInt64;       # The seq of the message an edit, recall or delete changes.
  state @11 :MessageState;  # Of a message: what became of it (intact unless changed since).
  changedAtSeq @12 :UInt64; # Of a changed message: the seq of the entry that last changed it.
  edits @13 :List(UInt64);  # Of an edited message: the seqs of its edit entries, oldest first
                            # (emptied of their bodies too when the message is recalled).
  mentionsAll @14 :Bool;    # The message mentions every member (@all).
  number @15 :UInt64;       # How many messages (kind normal) the conversation holds up to and
                            # including this entry: unread = last number - number at the cursor.
}

enum InboxEventKind {
  # What changed for a user; recorded in the user's append-only inbox.
  conversationStarted @0;  # A new direct conversation involves the user.
  groupJoined @1;          # The user joined or created a group (group = its id).
  groupLeft @2;            # The user left a group.
  kickedFromGroup @3;      # The user was removed from a group by `actor`.
  readMarked @4;           # One of the user's devices marked `conversation` read up to `seq`.
  roleChanged @5;          # The user's role in `group` is now `role` (set by `actor`, or the app).
  groupDismissed @6;       # `group` was dismissed by its owner (`actor`) or the app: it is gone.
  messageHidden @7;        # One of the user's devices deleted message `argSeq` of `conversation`
                           # for this user only: hide it (the others still see it).
  relationChanged @8;      # The user's relation with `actor` is now `relation` (a friend request
                           # sent or received with its `text`, accepted, declined, cancelled,
                           # a friend removed, a block set or lifted; none = no relation).
  joinRequested @9;        # `actor` asks to join `group` (with `text`): told to its owner and
                           # admins, who answer with answerJoinRequest.
  joinDeclined @10;        # An admin (`actor`) declined the user's request to join `group`.
  groupInvited @11;        # `actor` invites the user to `group` (with `text`); answer with
                           # answerGroupInvite.
}

enum Relation {
  # How the user stands with another user.
  none @0;             # No relation.
  friend @1;           # Friends (both sides).
  requestSent @2;      # The user asked the other to be friends; waiting.
  requestReceived @3;  # The other asked the user; waiting for accept or decline.
  blocked @4;          # The user blocked the other: no messages or requests from them.
}

struct InboxEvent {
  seq @0 :UInt64;           # Position in the user's inbox, gap-free from 1.
  kind @1 :InboxEventKind;  # What happened.
  conversation @2 :Text;    # Conversation concerned ("" if none).
  group @3 :Text;           # Group concerned ("" if none).
  actor @4 :Text;           # User who caused the event ("" if the user itself or the system).
  argSeq @5 :UInt64;        # Kind-specific sequence number (readMarked: the read seq).
  timestampMs @6 :UInt64;   # Server time of the event.
  role @7 :GroupRole;       # roleChanged: the user's new role.
  text @8 :Text;            # relationChanged: the friend request's message.
  relation @9 :Relation;    # relationChanged: the user's relation with `actor` now.
}

enum DeviceType {
  unknown @0;   # Not given.
  ios @1;       # iOS app.
  android @2;   # Android app.
  web @3;       # Browser.
  desktop @4;   # Desktop app.
  bot @5;       # Server-side bot or test client.
}

enum JoinPolicy {
  inviteOnly @0;  # Only admins and the owner add members (the default).
  open @1;        # Anyone may join, except users removed by an admin until they are re-added.
  approval @2;    # Anyone may ask to join (joinGroup); an admin or the owner accepts or declines.
}

enum GroupRole {
  member @0;  # May send, read, leave.
  admin @1;   # May also kick members.
  owner @2;   # May also kick admins; exactly one per non-empty group.
}

struct Login {
  token @0 :Text;            # App-issued token (see `imctl token issue`).
  deviceId @1 :Text;         # Stable id of this device; one session per (user, device).
  deviceType @2 :DeviceType; # Kind of device.
}

struct Send {
  target :union {
    user @0 :Text;   # Direct message to this user id.
    group @1 :Text;  # Message to this group id (sender must be a member).
  }
  clientMsgId @2 :Text;     # Unique per (sender, device); a resend returns the original seq.
  contentType @3 :UInt32;   # App-defined content type.
  body @4 :Data;            # Opaque payload.
  mentions @5 :List(Text);  # Mentioned user ids.
  mentionAll @6 :Bool;      # @all: a mention for every member (groups; admins and owner only).
}

struct Pull {
  conversation @0 :Text;  # Canonical conversation id ("dm/a/b" or "group/g").
  afterSeq @1 :UInt64;    # Return messages with seq > afterSeq, ascending.
  limit @2 :UInt32;       # At most this many (0 = server default; capped by the server).
}

struct History {
  conversation @0 :Text;  # Canonical conversation id.
  before :union {
    seq @1 :UInt64;       # Messages with seq < this (0 = from the newest).
    timeMs @2 :UInt64;    # Messages with timestampMs < this.
  }
  limit @3 :UInt32;       # At most this many, returned newest first.
}

struct Sync {
  afterSeq @0 :UInt64;  # Return inbox events with seq > afterSeq (the device's inbox cursor).
  limit @1 :UInt32;     # At most this many (0 = server default).
}

struct MarkRead {
  conversation @0 :Text;  # Canonical conversation id.
  seq @1 :UInt64;         # Everything up to and including this seq is read.
}

struct CreateGroup {
  groupId @0 :Text;          # Desired id; "" lets the server choose one (random, unguessable).
  name @1 :Text;             # Display name.
  joinPolicy @2 :JoinPolicy; # Who may join; invite-only unless set.
  shareHistory @3 :Bool;     # New members read messages from before they joined (default: no,
                             # a member reads from its join on).
}

struct GroupRef {
  groupId @0 :Text;  # The group.
  message @1 :Text;  # joinGroup of an approval group: the request's message (<= 256 bytes).
}

struct MemberRef {
  groupId @0 :Text;  # The group.
  userId @1 :Text;   # The member.
}

struct SetMemberRole {
  groupId @0 :Text;
  userId @1 :Text;      # A member other than the owner.
  role @2 :GroupRole;   # member or admin (the owner's role moves only by transferGroup).
}

struct JoinAnswer {
  groupId @0 :Text;
  userId @1 :Text;  # Who asked to join.
  accept @2 :Bool;  # true: the user becomes a member; false: the request is declined.
}

struct GroupInvite {
  groupId @0 :Text;
  userId @1 :Text;   # Who is invited (not a member yet).
  message @2 :Text;  # Shown to the invitee (<= 256 bytes).
}

struct InviteAnswer {
  groupId @0 :Text;
  accept @1 :Bool;  # true: join the group; false: decline (the invitation is dropped).
}

struct Retention {
  conversation @0 :Text;  # A direct conversation (either user) or a group (admins).
  seconds @1 :UInt64;     # Messages older than this are deleted in the background; 0 keeps
                          # them (at most 3,153,600,000: a hundred years).
}

struct JoinRequest {
  userId @0 :Text;       # Who asks.
  message @1 :Text;      # Their message.
  requestedMs @2 :UInt64;
}

struct KickMember {
  groupId @0 :Text;  # The group.
  userId @1 :Text;   # The member to remove.
}

struct AddMember {
  groupId @0 :Text;  # The group.
  userId @1 :Text;   # The user to add (owner/admin only; also lifts a removal's bar).
}

struct Typing {
  conversation @0 :Text;  # The conversation the user is typing in ("dm/<a>/<b>" or "group/<g>").
}

struct ChangeMessage {
  # Edit, recall or delete a message that is already stored.
  conversation @0 :Text;  # Canonical conversation id.
  seq @1 :UInt64;         # The message to change.
  clientMsgId @2 :Text;   # Makes an edit, recall or deleteForEveryone idempotent, as for a send
                          # (the same id space as sends); unused by deleteForMe.
  union {
    edit @3 :Edit;                # The sender replaces the content (any time; not a recalled
                                  # or deleted message).
    recall @4 :Void;              # The sender within the recall window; group admins always.
    deleteForEveryone @5 :Void;   # The sender at any time; group admins always.
    deleteForMe @6 :Void;         # Hide it from this user's devices only (messageHidden event).
  }
}

struct Edit {
  contentType @0 :UInt32;  # The new content type.
  body @1 :Data;           # The new body (same limits as a send's).
}

struct FriendRequest {
  user @0 :Text;     # Whom to ask.
  message @1 :Text;  # Shown to them (at most 256 bytes; may be empty).
}

struct FriendAnswer {
  user @0 :Text;    # Who asked.
  accept @1 :Bool;  # true: become friends; false: decline.
}

struct UserRef {
  user @0 :Text;  # The other user.
}

struct ListRelations {
  relation @0 :Relation;  # Only this relation (none: every relation).
  afterUser @1 :Text;     # Entries with user ids after this one ("" from the start).
  limit @2 :UInt32;       # At most this many (0 = server default).
}

struct RelationEntry {
  user @0 :Text;            # The other user.
  relation @1 :Relation;    # How the caller stands with them.
  message @2 :Text;         # A pending request's message.
  sinceMs @3 :UInt64;       # When it became so.
  expiresMs @4 :UInt64;     # A pending request: when it lapses (0 otherwise).
}

struct RelationPage {
  entries @0 :List(RelationEntry);  # By user id.
  hasMore @1 :Bool;
}

struct ListConversations {
  cursor @0 :Text;   # "" for the first page; else the previous page's nextCursor.
  limit @1 :UInt32;  # At most this many entries (0 = server default).
}

struct ConversationEntry {
  conversation @0 :Text;     # Canonical conversation id.
  lastSeq @1 :UInt64;        # The conversation's last seq (pull from your cursor up to it).
  lastActivityMs @2 :UInt64; # Time of its last entry (0: empty).
  lastMessage @3 :Message;   # Its last entry, as pull returns it (if hasLastMessage).
  hasLastMessage @4 :Bool;   # false: no entry the user may read yet.
  readSeq @5 :UInt64;        # The user's read cursor (sending a message moves it too).
  unread @6 :UInt32;         # Messages (kind normal) after the read cursor.
  unreadMentions @7 :UInt32; # Of those, how many mention the user or @all (at most 1000).
  muted @8 :Bool;            # Set by the user (setConversationFlags).
  pinned @9 :Bool;           # Set by the user; pinned entries come first.
  retentionSeconds @10 :UInt64;  # Messages older than this are deleted (0: kept; setRetention).
}

struct ConversationPage {
  entries @0 :List(ConversationEntry);  # Pinned first, then by lastActivityMs, newest first.
  nextCursor @1 :Text;                  # Pass it as cursor for the next page.
  hasMore @2 :Bool;                     # More entries exist.
}

struct ConversationFlags {
  conversation @0 :Text;  # One of the user's conversations.
  muted @1 :Bool;         # The user's devices should not notify for it.
  pinned @2 :Bool;        # List it first.
}

enum PresenceStatus {
  offline @0;    # No device online (or invisible, as others see it).
  online @1;     # Online (the default while a device is connected).
  away @2;       # Online, set away by the user.
  busy @3;       # Online, set busy by the user.
  invisible @4;  # Online but shown offline to others (only the user sets or sees it).
}

struct PresenceInfo {
  user @0 :Text;              # Whose presence.
  status @1 :PresenceStatus;  # As others see it (never invisible).
  lastSeenMs @2 :UInt64;      # When its last device went offline (0: never seen, or online).
}

struct SetPresence {
  status @0 :PresenceStatus;  # online, away, busy or invisible (kept across logins).
}

struct WatchPresence {
  users @0 :List(Text);  # At most 1000 users.
  watch @1 :Bool;        # true: push their changes to this user (for an hour: renew); false:
                         # stop.
}

enum Visibility {
  everyone @0;  # Any user.
  friends @1;   # The user's friends (and the user).
  nobody @2;    # The user only.
}

struct ProfileField {
  key @0 :Text;                # 1-32 bytes, unique in the profile.
  value @1 :Text;              # At most 256 bytes.
  visibility @2 :Visibility;   # Who sees it.
}

struct Profile {
  user @0 :Text;                     # Whose (set by the server).
  displayName @1 :Text;              # At most 64 bytes, no control characters.
  avatarUrl @2 :Text;                # "" or an http(s) URL of at most 512 bytes.
  fields @3 :List(ProfileField);     # At most 20 custom fields.
  updatedMs @4 :UInt64;              # When it was last set (set by the server).
  displayNameVisibility @5 :Visibility;
  avatarVisibility @6 :Visibility;
}

struct UpdateGroup {
  # Replaces a group's profile and settings (admins and the owner).
  groupId @0 :Text;
  name @1 :Text;          # At most 128 bytes.
  avatarUrl @2 :Text;     # "" or an http(s) URL of at most 512 bytes.
  announcement @3 :Text;  # At most 2048 bytes.
  maxMembers @4 :UInt32;  # The group's member limit: 0 = the node's; else at most the node's
                          # and at least the current member count.
  mutedAll @5 :Bool;      # Only admins and the owner may send.
}

struct MuteMember {
  groupId @0 :Text;
  userId @1 :Text;     # A plain member (admins and the owner are never muted).
  untilMs @2 :UInt64;  # Muted until then (unix ms); 0 lifts the mute.
}

struct ListMembers {
  groupId @0 :Text;
  afterUser @1 :Text;  # Members with ids after this ("" from the start).
  limit @2 :UInt32;    # At most this many (0 = server default).
}

struct GroupProfile {
  groupId @0 :Text;
  name @1 :Text;
  avatarUrl @2 :Text;
  announcement @3 :Text;
  owner @4 :Text;
  members @5 :UInt32;         # How many.
  maxMembers @6 :UInt32;      # The limit in force (the node's unless the group set a lower one).
  mutedAll @7 :Bool;
  joinPolicy @8 :JoinPolicy;
  shareHistory @9 :Bool;
  createdMs @10 :UInt64;
  role @11 :GroupRole;        # The caller's role.
}

struct GroupMemberEntry {
  userId @0 :Text;
  role @1 :GroupRole;
  joinedMs @2 :UInt64;
  mutedUntilMs @3 :UInt64;  # 0: not muted.
}

struct GroupMemberPage {
  members @0 :List(GroupMemberEntry);  # By user id.
  hasMore @1 :Bool;
}

struct DeviceSession {
  deviceId @0 :Text;          # The device.
  deviceType @1 :DeviceType;  # Its kind.
  sinceMs @2 :UInt64;         # When it logged in.
  current @3 :Bool;           # The device asking.
}

struct ReadReceipts {
  # Ask who has read a conversation up to where.
  conversation @0 :Text;  # Canonical conversation id.
  seqs @1 :List(UInt64);  # Messages to count readers of (at most 100; may be empty).
}

struct ReadCursor {
  user @0 :Text;   # A participant.
  seq @1 :UInt64;  # It has read everything up to and including this seq.
}

struct ReceiptPage {
  readCounts @0 :List(UInt32);  # For each asked seq: how many participants other than the
                                # asking user have read it (their read cursor is at or past it).
  cursors @1 :List(ReadCursor); # Direct and system conversations: every participant's cursor
                                # (0 if it never marked). Groups: empty (ask for counts).
}

struct ReadNotice {
  conversation @0 :Text;  # A direct conversation.
  user @1 :Text;          # The other participant...
  seq @2 :UInt64;         # ...has read up to here.
}

struct TypingNotice {
  conversation @0 :Text;  # Where someone is typing.
  user @1 :Text;          # Who.
}

struct ClientFrame {
  requestId @0 :UInt64;  # Chosen by the client; echoed in the Result. 0 is allowed but not useful.
  union {
    login @1 :Login;           # Must be the first request on a connection.
    heartbeat @2 :Void;        # Keeps an idle connection alive.
    send @3 :Send;             # Send a message.
    pull @4 :Pull;             # Read a conversation forward from a seq.
    history @5 :History;       # Read a conversation backward.
    sync @6 :Sync;             # Read the user's inbox from a cursor.
    markRead @7 :MarkRead;     # Move the user's read cursor.
    createGroup @8 :CreateGroup;  # Create a group; the caller becomes its owner.
    joinGroup @9 :GroupRef;    # Join a group.
    leaveGroup @10 :GroupRef;  # Leave a group.
    logout @11 :Void;          # End the session; the server closes after answering.
    kickMember @12 :KickMember;  # Remove a member (owner/admin only).
    addMember @13 :AddMember;    # Add a member (owner/admin only).
    typing @14 :Typing;          # Tell the conversation's other participants the user is
                                 # typing. Never stored; rate-limited (see docs/PROTOCOL.md).
    changeMessage @15 :ChangeMessage;  # Edit, recall or delete a stored message.
    readReceipts @16 :ReadReceipts;    # Read cursors and read counts of a conversation.
    requestFriend @17 :FriendRequest;  # Ask to be friends (accepts theirs if they asked first).
    answerFriend @18 :FriendAnswer;    # Accept or decline a request received.
    cancelFriendRequest @19 :UserRef;  # Withdraw a request sent.
    removeFriend @20 :UserRef;         # End a friendship (both sides).
    block @21 :UserRef;                # Block a user (ends friendship and requests).
    unblock @22 :UserRef;              # Lift a block.
    listRelations @23 :ListRelations;  # Friends, pending requests, blocked users.
    listConversations @24 :ListConversations;  # The user's conversation list, one page.
    setConversationFlags @25 :ConversationFlags;  # Mute or pin a conversation.
    setPresence @26 :SetPresence;      # The user's own status.
    watchPresence @27 :WatchPresence;  # Start (or stop) watching other users' presence.
    listDevices @28 :Void;             # The user's online devices.
    logoutDevice @29 :Text;            # End the session of another device of the user (by id).
    setProfile @30 :Profile;           # Replace the user's profile (user, updatedMs ignored).
    getProfiles @31 :List(Text);       # Profiles of up to 100 users, as the caller may see them.
    updateGroup @32 :UpdateGroup;      # A group's name, avatar, announcement, limit, mute-all.
    muteMember @33 :MuteMember;        # Mute (or unmute) a member of a group.
    groupProfile @34 :GroupRef;        # A group's profile, for its members.
    listMembers @35 :ListMembers;      # A group's members, paged.
    setMemberRole @36 :SetMemberRole;  # The owner makes a member an admin or a plain member.
    transferGroup @37 :MemberRef;      # The owner hands the group to a member (and is an admin).
    dismissGroup @38 :GroupRef;        # The owner ends the group for everyone.
    answerJoinRequest @39 :JoinAnswer; # An admin or the owner accepts or declines a request.
    listJoinRequests @40 :GroupRef;    # An admin or the owner lists the pending requests.
    inviteToGroup @41 :GroupInvite;    # Invite a user (admins; any member of an open group).
    answerGroupInvite @42 :InviteAnswer;  # The invitee joins or declines.
    setRetention @43 :Retention;       # How long a conversation keeps its messages.
  }
}

struct SendAck {
  conversation @0 :Text;   # Canonical conversation id the message went to.
  seq @1 :UInt64;          # Its seq (the original seq for a resend).
  timestampMs @2 :UInt64;  # Its server timestamp.
}

struct MessagePage {
  messages @0 :List(Message);  # In the order the request asked for.
  hasMore @1 :Bool;            # More messages exist beyond this page.
}

struct EventPage {
  events @0 :List(InboxEvent);  # Ascending by seq.
  hasMore @1 :Bool;             # More events exist beyond this page.
}

struct LoginOk {
  userId @0 :Text;       # The authenticated user.
  inboxHead @1 :UInt64;  # Highest inbox seq at login time.
}

struct GroupInfo {
  groupId @0 :Text;  # The group's id.
  name @1 :Text;     # Its display name.
  role @2 :GroupRole;  # The caller's role in it after the operation.
  joinPolicy @3 :JoinPolicy;  # Who may join.
  shareHistory @4 :Bool;      # Whether members read messages from before their join.
  pending @5 :Bool;           # joinGroup of an approval group: the request waits for an admin;
                              # the user is not a member yet (groupJoined follows on acceptance).
}

struct Result {
  code @0 :ErrorCode;        # ok or the reason for failure.
  errorMessage @1 :Text;     # Human-readable detail; empty on success.
  union {
    none @2 :Void;           # Nothing more (heartbeat, markRead, leave, logout, errors).
    login @3 :LoginOk;       # Answer to login.
    sent @4 :SendAck;        # Answer to send.
    messages @5 :MessagePage;  # Answer to pull and history.
    events @6 :EventPage;    # Answer to sync.
    group @7 :GroupInfo;     # Answer to createGroup, joinGroup and addMember.
    receipts @8 :ReceiptPage;  # Answer to readReceipts.
    relations @9 :RelationPage;  # Answer to listRelations.
    relation @10 :Relation;      # Answer to the friend and block requests: the relation now.
    conversations @11 :ConversationPage;  # Answer to listConversations.
    presences @12 :List(PresenceInfo);    # Answer to watchPresence (watch): their presence now.
    devices @13 :List(DeviceSession);     # Answer to listDevices, oldest login first.
    profiles @14 :List(Profile);          # Answer to getProfiles, in the order asked.
    groupProfile @15 :GroupProfile;       # Answer to updateGroup and groupProfile.
    members @16 :GroupMemberPage;         # Answer to listMembers.
    joinRequests @17 :List(JoinRequest);  # Answer to listJoinRequests, oldest first.
  }
}

enum KickReason {
  loggedInElsewhere @0;  # The same user and device logged in on another connection.
  heartbeatTimeout @1;   # No frame arrived within the heartbeat timeout.
  tooSlow @2;            # The client did not read its pushes; its send queue overflowed.
  protocolError @3;      # The stream could not continue (bad framing, oversized frame).
  serverShutdown @4;     # The node is stopping.
  kickedByApp @5;        # The app server removed the session.
  tokenExpired @6;       # The login token expired; log in again (on this or a new connection)
                         # with a fresh token before it does to keep the session.
  loginTimeout @7;       # No login arrived within the login timeout.
  frameTimeout @8;       # A frame was started but not finished within the frame timeout.
  sessionLost @9;        # The node holding the user's sessions went away and did not come back
                         # within the reattach window; reconnect (and catch up) later.
  tokenRevoked @10;      # The app revoked the user's tokens; log in again with a new one.
  banned @11;            # The app banned the user; `detail` gives its reason.
  loggedOutByUser @12;   # The user logged this device out from another one (logoutDevice).
}

struct Kicked {
  reason @0 :KickReason;  # Why the server closes the connection.
  detail @1 :Text;        # Human-readable detail.
}

struct ServerFrame {
  requestId @0 :UInt64;  # The request answered by `result`; 0 for pushes.
  union {
    result @1 :Result;     # Answer to a ClientFrame.
    message @2 :Message;   # Push: a new message in one of the user's conversations.
    event @3 :InboxEvent;  # Push: a new inbox event.
    kicked @4 :Kicked;     # The server is closing this connection.
    resync @5 :Void;       # Pushes may have been missed (the node holding this session's
                           # presence changed: a shard move or a node failure): sync the inbox
                           # and pull every conversation from its cursor, as after a reconnect.
    typing @6 :TypingNotice;  # Push: another participant is typing (ephemeral: show it for a
                              # few seconds; it is never stored or pulled).
    read @7 :ReadNotice;      # Push: the other participant of a direct conversation marked it
                              # read (also answered by readReceipts, for a device that was away).
    presence @8 :PresenceInfo;  # Push: a watched user's presence changed.
  }
}
