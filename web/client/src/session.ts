// A Session keeps one device of a user online: it opens a transport, logs in, catches up, and
// when the transport drops it opens another after a backoff (doubling from initialMs to maxMs,
// with jitter) and does it all again. Messages sent through it are kept until acked and sent
// again on each new connection under the same client message id, so the server stores each
// once. Listeners get every message once, in seq order per conversation, whether it was pushed
// or pulled during a catch-up.

import { type ChatEvent, type ChatMessage, Connection, ParleyError, type SendAck, type Target } from "./client.js";
import type { Transport } from "./transport.js";

export interface SessionOptions {
  /** Opens a new transport to a node. */
  connect: () => Promise<Transport>;
  /** A login token (called on every (re)connect, so it may fetch a fresh one). */
  token: () => Promise<string> | string;
  deviceId: string;
  deviceType?: number;
  /** Backoff between reconnects. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Where this device was (from an earlier run), to catch up from. */
  state?: SyncState;
}

/** How far this device has seen: its inbox cursor and, per conversation, the last seq. */
export interface SyncState {
  inboxCursor: number;
  conversations: Record<string, number>;
}

interface Outgoing {
  to: Target;
  clientMsgId: string;
  body: string | Uint8Array;
  resolve: (ack: SendAck) => void;
  reject: (e: Error) => void;
}

type SessionListener = {
  message: (m: ChatMessage) => void;
  event: (e: ChatEvent) => void;
  connected: () => void;
  disconnected: (error?: Error) => void;
};

export class Session {
  readonly state: SyncState;
  private connection?: Connection;
  private readonly outgoing: Outgoing[] = [];
  private readonly listeners: { [K in keyof SessionListener]: SessionListener[K][] } = {
    message: [],
    event: [],
    connected: [],
    disconnected: [],
  };
  private backoffMs: number;
  private stopped = false;
  private counter = 0;
  private readonly idPrefix = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

  constructor(private readonly opts: SessionOptions) {
    this.state = opts.state ?? { inboxCursor: 0, conversations: {} };
    this.backoffMs = opts.initialBackoffMs ?? 200;
  }

  on<K extends keyof SessionListener>(event: K, listener: SessionListener[K]): void {
    this.listeners[event].push(listener);
  }

  /** Connects, logs in and catches up (resolves then; later reconnects happen by themselves). */
  async start(): Promise<void> {
    await this.open();
  }

  /** Whether a connection is up and logged in. */
  get online(): boolean {
    return this.connection !== undefined && !this.connection.isClosed;
  }

  /** The current connection (for requests this class does not wrap), if online. */
  get current(): Connection | undefined {
    return this.online ? this.connection : undefined;
  }

  /** Sends until acked, across reconnects; rejects only on a refusal that retrying cannot fix. */
  send(to: Target, body: string | Uint8Array, clientMsgId?: string): Promise<SendAck> {
    return new Promise((resolve, reject) => {
      const out: Outgoing = {
        to,
        clientMsgId: clientMsgId ?? `${this.idPrefix}-${++this.counter}`,
        body,
        resolve,
        reject,
      };
      this.outgoing.push(out);
      if (this.online) this.transmit(out);
    });
  }

  /** Stops for good (no reconnect); pending sends are rejected. */
  stop(): void {
    this.stopped = true;
    this.connection?.close();
    for (const out of this.outgoing.splice(0)) out.reject(new ParleyError("CLOSED", "the session stopped"));
  }

  private async open(): Promise<void> {
    const transport = await this.opts.connect();
    const c = new Connection(transport);
    c.on("message", (m) => this.accept(m));
    c.on("event", (e) => this.acceptEvent(e));
    c.on("resync", () => void this.catchUp(c).catch(() => c.close()));
    c.on("closed", (error) => this.lost(c, error));
    try {
      await c.login(await this.opts.token(), this.opts.deviceId, this.opts.deviceType);
    } catch (e) {
      c.close();
      throw e;
    }
    this.connection = c;
    this.backoffMs = this.opts.initialBackoffMs ?? 200;
    for (const out of this.outgoing) this.transmit(out);
    await this.catchUp(c);
    for (const l of this.listeners.connected) l();
  }

  private transmit(out: Outgoing): void {
    const c = this.connection;
    if (!c) return;
    c.send(out.to, out.clientMsgId, out.body).then(
      (ack) => {
        const at = this.outgoing.indexOf(out);
        if (at < 0) return;  // acked already (a resend's answer)
        this.outgoing.splice(at, 1);
        out.resolve(ack);
      },
      (e: Error) => {
        if (e instanceof ParleyError && e.retriable) return;  // sent again after a reconnect
        const at = this.outgoing.indexOf(out);
        if (at >= 0) this.outgoing.splice(at, 1);
        out.reject(e);
      },
    );
  }

  private lost(c: Connection, error?: Error): void {
    if (this.connection === c) this.connection = undefined;
    for (const l of this.listeners.disconnected) l(error);
    if (!this.stopped) this.reconnectLater();
  }

  private reconnectLater(): void {
    const delay = this.backoffMs * (0.5 + Math.random() / 2);
    this.backoffMs = Math.min(this.backoffMs * 2, this.opts.maxBackoffMs ?? 10_000);
    setTimeout(() => {
      if (this.stopped) return;
      this.open().catch(() => {
        if (!this.stopped) this.reconnectLater();
      });
    }, delay);
  }

  /** Inbox events, then the conversation list, then a pull of each conversation that moved. */
  private async catchUp(c: Connection): Promise<void> {
    for (;;) {
      const page = await c.sync(this.state.inboxCursor, 200);
      for (const e of page.events) this.acceptEvent(e);
      if (!page.more) break;
    }
    let cursor = "";
    for (;;) {
      const list = await c.listConversations(cursor, 200);
      for (const entry of list.entries) {
        let seen = this.state.conversations[entry.conversation] ?? 0;
        while (entry.lastSeq > seen) {
          const page = await c.pull(entry.conversation, seen, 200);
          for (const m of page.messages) this.accept(m);
          const last = page.messages.at(-1)?.seq ?? entry.lastSeq;
          this.state.conversations[entry.conversation] = Math.max(seen, last);
          seen = this.state.conversations[entry.conversation];
          if (!page.more) break;
        }
      }
      if (!list.more) break;
      cursor = list.nextCursor;
    }
  }

  /** Hands `m` on unless this device has seen it; a gap triggers a catch-up. */
  private accept(m: ChatMessage): void {
    const seen = this.state.conversations[m.conversation] ?? 0;
    if (m.seq <= seen) return;
    if (m.seq > seen + 1 && this.connection) {
      // Something in between was missed (or expired): pull from the cursor, in order.
      void this.catchUp(this.connection).catch(() => this.connection?.close());
      return;
    }
    this.state.conversations[m.conversation] = m.seq;
    for (const l of this.listeners.message) l(m);
  }

  private acceptEvent(e: ChatEvent): void {
    if (e.seq <= this.state.inboxCursor) return;
    this.state.inboxCursor = e.seq;
    for (const l of this.listeners.event) l(e);
  }
}
