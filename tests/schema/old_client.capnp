# A frozen copy of the first published shape of Message and InboxEvent, before any later
# field. The evolution test reads messages written with today's schema through it, as an old
# client would. Never edit: add a new frozen copy instead.
@0xd33ba1178b097015;

$import "/capnp/c++.capnp".namespace("parley::old_wire");

struct Message {
  conversation @0 :Text;
  seq @1 :UInt64;
  sender @2 :Text;
  senderDevice @3 :Text;
  clientMsgId @4 :Text;
  timestampMs @5 :UInt64;
  contentType @6 :UInt32;
  body @7 :Data;
}

struct ServerFrame {
  requestId @0 :UInt64;
  union {
    result @1 :AnyPointer;
    message @2 :Message;
    event @3 :AnyPointer;
    kicked @4 :AnyPointer;
  }
}
