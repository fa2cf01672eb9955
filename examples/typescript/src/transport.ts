// A Cap'n Proto RPC transport over a TCP socket, with the standard stream framing (a segment
// table, then the segments): what the C++ capnp-rpc side speaks. capnp-es 0.0.16 ships no
// socket transport, and its DeferredTransport keeps only one pending message, so a chunk that
// carries two messages would lose the second; this one queues every complete message.

import type * as net from "node:net";
import { Message } from "capnp-es";
import { Message as RpcMessage } from "capnp-es/capnp/rpc";

/** The largest message accepted from the node (its own limit is 8 MiB of call data). */
const maxMessageBytes = 64 * 1024 * 1024;

export class StreamTransport {
  private buffered = Buffer.alloc(0);
  private readonly ready: RpcMessage[] = [];
  private waiting?: { resolve: (m: RpcMessage) => void; reject: (e?: Error) => void };
  private ended = false;
  private failure?: Error;

  constructor(private readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", (err: Error) => this.fail(err));
    socket.on("close", () => this.fail());
  }

  sendMessage(msg: RpcMessage): void {
    const out = new Message();
    out.setRoot(msg);
    this.socket.write(new Uint8Array(out.toArrayBuffer()));
  }

  recvMessage(): Promise<RpcMessage> {
    const next = this.ready.shift();
    if (next) return Promise.resolve(next);
    // Rejecting with undefined ends capnp-es's receive loop quietly.
    if (this.ended) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  close(): void {
    this.socket.end();
    this.fail();
  }

  private receive(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const size = frameSize(this.buffered);
      if (size === undefined) return;
      if (size > maxMessageBytes) {
        this.socket.destroy();
        return this.fail(new Error("the node sent an oversized message"));
      }
      if (this.buffered.length < size) return;
      const frame = new Uint8Array(this.buffered.subarray(0, size)).slice().buffer;
      this.buffered = this.buffered.subarray(size);
      this.deliver(new Message(frame, false).getRoot(RpcMessage));
    }
  }

  private deliver(m: RpcMessage): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting) waiting.resolve(m);
    else this.ready.push(m);
  }

  private fail(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = err;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.reject(err);
  }
}

/** The byte length of the frame at the start of `b`, or undefined while its table is partial. */
function frameSize(b: Buffer): number | undefined {
  if (b.length < 4) return undefined;
  const segments = b.readUInt32LE(0) + 1;
  if (segments > 512) return Number.MAX_SAFE_INTEGER;  // no real message has that many
  const tableBytes = 4 * (segments + 1) + ((segments + 1) % 2 === 0 ? 0 : 4);
  if (b.length < tableBytes) return undefined;
  let words = 0;
  for (let i = 0; i < segments; ++i) words += b.readUInt32LE(4 + 4 * i);
  return tableBytes + 8 * words;
}
