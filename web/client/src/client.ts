// Parley's client for TypeScript, shaped like the C++ one (client/): a Connection sends
// requests and waits for their results (matched by request id) and hands pushes to listeners;
// a Session keeps a user online over a transport it reopens with backoff, resends unacked
// messages until they are acked (the server dedupes by client message id), and catches up
// after each reconnect (inbox sync, then the conversation list, then pulls of what moved).
//
// Numbers that are UInt64 on the wire (seqs, times) are JavaScript numbers here: exact up to
// 2^53, far beyond any seq or millisecond time.

import { Message as CapnpMessage } from "capnp-es";
import {
  ClientFrame,
  DeviceType,
  ErrorCode,
  type InboxEvent,
  JoinPolicy,
  type Message as WireMessage,
  Result,
  ServerFrame,
  ServerFrame_Which,
} from "./schema/client.js";
import type { Transport } from "./transport.js";

export { DeviceType, ErrorCode } from "./schema/client.js";

/** A message of a conversation, as pulled or pushed. */
export interface ChatMessage {
  conversation: string;
  seq: number;
  sender: string;
  senderDevice: string;
  clientMsgId: string;
  timestampMs: number;
  contentType: number;
  body: Uint8Array;
  /** The body as UTF-8 text. */
  text: string;
  kind: number;
  target: number;
  state: number;
}

/** An inbox event (groups joined, conversations started, reads on other devices, ...). */
export interface ChatEvent {
  seq: number;
  kind: number;
  conversation: string;
  group: string;
  actor: string;
  argSeq: number;
  text: string;
}

/** One entry of the user's conversation list. */
export interface ConversationEntry {
  conversation: string;
  lastSeq: number;
  readSeq: number;
  unread: number;
  unreadMentions: number;
  muted: boolean;
  pinned: boolean;
}

/** Where a message landed. */
export interface SendAck {
  conversation: string;
  seq: number;
  timestampMs: number;
}

export type Target = { user: string } | { group: string };

const errorNames = new Map<number, string>(
  Object.entries(ErrorCode).map(([name, value]) => [value as number, name]),
);

/** The server's refusal of a request (or a request that could not be answered). */
export class ParleyError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }

  /** Whether the same request may succeed later (the node was busy, moving, or unreachable). */
  get retriable(): boolean {
    return ["UNAVAILABLE", "TIMEOUT", "INTERNAL", "RATE_LIMITED", "CLOSED"].includes(this.code);
  }
}

/** What a Connection hands to its listeners. */
export interface ConnectionEvents {
  message: (m: ChatMessage) => void;
  event: (e: ChatEvent) => void;
  typing: (conversation: string, user: string) => void;
  read: (conversation: string, user: string, seq: number) => void;
  /** The server asks for a catch-up: pushes may have been missed. */
  resync: () => void;
  kicked: (reason: number, detail: string) => void;
  closed: (error?: Error) => void;
}

type Listeners = { [K in keyof ConnectionEvents]: ConnectionEvents[K][] };

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function toMessage(m: WireMessage): ChatMessage {
  const body = new Uint8Array(m.body.toUint8Array());
  return {
    conversation: m.conversation,
    seq: Number(m.seq),
    sender: m.sender,
    senderDevice: m.senderDevice,
    clientMsgId: m.clientMsgId,
    timestampMs: Number(m.timestampMs),
    contentType: m.contentType,
    body,
    text: decoder.decode(body),
    kind: m.kind,
    target: Number(m.target),
    state: m.state,
  };
}

function toEvent(e: InboxEvent): ChatEvent {
  return {
    seq: Number(e.seq),
    kind: e.kind,
    conversation: e.conversation,
    group: e.group,
    actor: e.actor,
    argSeq: Number(e.argSeq),
    text: e.text,
  };
}

function messagePage(r: Result): { messages: ChatMessage[]; more: boolean } {
  const page = r.messages;
  const messages: ChatMessage[] = [];
  for (let i = 0; i < page.messages.length; ++i) messages.push(toMessage(page.messages.get(i)));
  return { messages, more: page.hasMore };
}

/** One connection to a node: requests and their results, pushes to listeners. */
export class Connection {
  /** The logged-in user ("" before login). */
  userId = "";
  private nextId = 1n;
  private readonly waiting = new Map<
    bigint,
    { resolve: (r: Result) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }
  >();
  private readonly listeners: Listeners = {
    message: [],
    event: [],
    typing: [],
    read: [],
    resync: [],
    kicked: [],
    closed: [],
  };
  private closed = false;

  /** `timeoutMs`: how long a request waits for its result. */
  constructor(
    private readonly transport: Transport,
    private readonly timeoutMs = 10_000,
  ) {
    transport.onFrame = (frame) => this.receive(frame);
    transport.onClose = (error) => this.end(error);
  }

  on<K extends keyof ConnectionEvents>(event: K, listener: ConnectionEvents[K]): void {
    this.listeners[event].push(listener);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.transport.close();
  }

  /** Sends a request built by `fill` and resolves with its result; rejects with ParleyError. */
  request(fill: (f: ClientFrame) => void): Promise<Result> {
    if (this.closed) return Promise.reject(new ParleyError("CLOSED", "the connection is closed"));
    const id = this.nextId++;
    const message = new CapnpMessage();
    const frame = message.initRoot(ClientFrame);
    frame.requestId = id;
    fill(frame);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new ParleyError("TIMEOUT", "no answer within the request timeout"));
      }, this.timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      this.transport.send(new Uint8Array(message.toArrayBuffer()));
    });
  }

  login(token: string, deviceId: string, deviceType: number = DeviceType.WEB): Promise<number> {
    return this.request((f) => {
      const l = f._initLogin();
      l.token = token;
      l.deviceId = deviceId;
      l.deviceType = deviceType as DeviceType;
    }).then((r) => {
      this.userId = r.login.userId;
      return Number(r.login.inboxHead);
    });
  }

  heartbeat(): Promise<void> {
    return this.request((f) => {
      f.heartbeat = true;
    }).then(() => undefined);
  }

  send(to: Target, clientMsgId: string, body: string | Uint8Array, contentType = 0): Promise<SendAck> {
    const bytes = typeof body === "string" ? encoder.encode(body) : body;
    return this.request((f) => {
      const s = f._initSend();
      const target = s._initTarget();
      if ("user" in to) target.user = to.user;
      else target.group = to.group;
      s.clientMsgId = clientMsgId;
      s.contentType = contentType;
      s._initBody(bytes.length).copyBuffer(bytes);
    }).then((r) => ({
      conversation: r.sent.conversation,
      seq: Number(r.sent.seq),
      timestampMs: Number(r.sent.timestampMs),
    }));
  }

  /** Messages after `afterSeq`, oldest first; `more` when the page was full. */
  pull(conversation: string, afterSeq: number, limit = 0): Promise<{ messages: ChatMessage[]; more: boolean }> {
    return this.request((f) => {
      const p = f._initPull();
      p.conversation = conversation;
      p.afterSeq = BigInt(afterSeq);
      p.limit = limit;
    }).then((r) => messagePage(r));
  }

  /** Messages before seq `beforeSeq` (0: from the newest), newest first: scrolling back. */
  history(conversation: string, beforeSeq: number, limit = 0): Promise<{ messages: ChatMessage[]; more: boolean }> {
    return this.request((f) => {
      const h = f._initHistory();
      h.conversation = conversation;
      h.before.seq = BigInt(beforeSeq);
      h.limit = limit;
    }).then((r) => messagePage(r));
  }

  /** Creates a group (`open`: anyone may join, else invite-only); resolves with its id. */
  createGroup(name: string, groupId = "", open = true): Promise<string> {
    return this.request((f) => {
      const g = f._initCreateGroup();
      g.groupId = groupId;
      g.name = name;
      g.joinPolicy = open ? JoinPolicy.OPEN : JoinPolicy.INVITE_ONLY;
    }).then((r) => r.group.groupId);
  }

  /** Joins a group; resolves with whether the request waits for an admin (approval groups). */
  joinGroup(group: string, message = ""): Promise<{ pending: boolean }> {
    return this.request((f) => {
      const g = f._initJoinGroup();
      g.groupId = group;
      g.message = message;
    }).then((r) => ({ pending: r.group.pending }));
  }

  /** Inbox events after `afterSeq`. */
  sync(afterSeq: number, limit = 0): Promise<{ events: ChatEvent[]; more: boolean }> {
    return this.request((f) => {
      const s = f._initSync();
      s.afterSeq = BigInt(afterSeq);
      s.limit = limit;
    }).then((r) => {
      const page = r.events;
      const events: ChatEvent[] = [];
      for (let i = 0; i < page.events.length; ++i) events.push(toEvent(page.events.get(i)));
      return { events, more: page.hasMore };
    });
  }

  markRead(conversation: string, seq: number): Promise<void> {
    return this.request((f) => {
      const m = f._initMarkRead();
      m.conversation = conversation;
      m.seq = BigInt(seq);
    }).then(() => undefined);
  }

  /** One page of the user's conversation list (pinned first, then newest first). */
  listConversations(
    cursor = "",
    limit = 0,
  ): Promise<{ entries: ConversationEntry[]; nextCursor: string; more: boolean }> {
    return this.request((f) => {
      const l = f._initListConversations();
      l.cursor = cursor;
      l.limit = limit;
    }).then((r) => {
      const page = r.conversations;
      const entries: ConversationEntry[] = [];
      for (let i = 0; i < page.entries.length; ++i) {
        const e = page.entries.get(i);
        entries.push({
          conversation: e.conversation,
          lastSeq: Number(e.lastSeq),
          readSeq: Number(e.readSeq),
          unread: e.unread,
          unreadMentions: e.unreadMentions,
          muted: e.muted,
          pinned: e.pinned,
        });
      }
      return { entries, nextCursor: page.nextCursor, more: page.hasMore };
    });
  }

  typing(conversation: string): Promise<void> {
    return this.request((f) => {
      f._initTyping().conversation = conversation;
    }).then(() => undefined);
  }

  private receive(bytes: Uint8Array): void {
    let frame: ServerFrame;
    try {
      const copy = bytes.slice().buffer;
      frame = new CapnpMessage(copy, false).getRoot(ServerFrame);
      this.dispatch(frame);
    } catch (e) {
      // A frame this library cannot read: the stream cannot be trusted any more.
      this.transport.close();
    }
  }

  private dispatch(frame: ServerFrame): void {
    switch (frame.which()) {
      case ServerFrame_Which.RESULT: {
        const waiter = this.waiting.get(frame.requestId);
        if (!waiter) return;  // timed out already, or id 0 (an unreadable frame of ours)
        this.waiting.delete(frame.requestId);
        clearTimeout(waiter.timer);
        const r = frame.result;
        if (r.code === ErrorCode.OK) waiter.resolve(r);
        else waiter.reject(new ParleyError(errorNames.get(r.code) ?? String(r.code), r.errorMessage));
        return;
      }
      case ServerFrame_Which.MESSAGE:
        return this.emit("message", toMessage(frame.message));
      case ServerFrame_Which.EVENT:
        return this.emit("event", toEvent(frame.event));
      case ServerFrame_Which.TYPING:
        return this.emit("typing", frame.typing.conversation, frame.typing.user);
      case ServerFrame_Which.READ:
        return this.emit("read", frame.read.conversation, frame.read.user, Number(frame.read.seq));
      case ServerFrame_Which.RESYNC:
        return this.emit("resync");
      case ServerFrame_Which.KICKED:
        return this.emit("kicked", frame.kicked.reason, frame.kicked.detail);
      default:
        return;  // presence and later kinds: not surfaced yet
    }
  }

  private emit<K extends keyof ConnectionEvents>(event: K, ...args: Parameters<ConnectionEvents[K]>): void {
    for (const listener of this.listeners[event]) {
      (listener as (...a: Parameters<ConnectionEvents[K]>) => void)(...args);
    }
  }

  private end(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const [, waiter] of this.waiting) {
      clearTimeout(waiter.timer);
      waiter.reject(new ParleyError("CLOSED", "the connection closed"));
    }
    this.waiting.clear();
    this.emit("closed", error);
  }
}
