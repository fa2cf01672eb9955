// parley-client against a real node started by this test (imctl cluster start, on a free
// loopback port, with a temporary data dir), under Node's test runner. PARLEY_IMCTL names the
// imctl binary.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  type ChatMessage,
  Connection,
  ParleyError,
  Session,
  tcpTransport,
  webSocketTransport,
} from "../src/index.js";

const imctl = process.env.PARLEY_IMCTL ?? "";
let node: ChildProcess;
let port = 0;
let wsPort = 0;
let dataDir = "";

before(async () => {
  assert.ok(imctl, "set PARLEY_IMCTL to the imctl binary");
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-ts-client-"));
  node = spawn(
    imctl,
    [
      "cluster", "start", "--data-dir", dataDir,
      "--port", "0", "--app-port", "0", "--http-port", "0", "--ws-port", "0",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  [port, wsPort] = await new Promise<[number, number]>((resolve, reject) => {
    let printed = "";
    const look = (chunk: Buffer) => {
      printed += chunk.toString();
      const client = /node listening on 127\.0\.0\.1:(\d+)/.exec(printed);
      const ws = /WebSocket clients on ws:\/\/127\.0\.0\.1:(\d+)/.exec(printed);
      if (client && ws) resolve([Number(client[1]), Number(ws[1])]);
    };
    node.stdout?.on("data", look);
    node.stderr?.on("data", look);
    node.once("exit", (code) => reject(new Error(`the node exited (${code}): ${printed}`)));
  });
});

after(async () => {
  const exited = new Promise((resolve) => node.once("exit", resolve));
  node.kill("SIGTERM");
  await exited;
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function token(user: string): string {
  return execFileSync(imctl, ["token", "issue", user, "--data-dir", dataDir]).toString().trim();
}

async function connection(user: string, device = "web-1"): Promise<Connection> {
  const c = new Connection(await tcpTransport("127.0.0.1", port));
  await c.login(token(user), device);
  return c;
}

function session(user: string, device = "web-1"): Session {
  return new Session({
    connect: () => tcpTransport("127.0.0.1", port),
    token: () => token(user),
    deviceId: device,
    initialBackoffMs: 20,
    maxBackoffMs: 200,
  });
}

/** Resolves with the next `count` messages `s` hands to its listeners. */
function messages(
  s: { on(event: "message", listener: (m: ChatMessage) => void): void },
  count: number,
): Promise<ChatMessage[]> {
  return new Promise((resolve) => {
    const got: ChatMessage[] = [];
    s.on("message", (m) => {
      got.push(m);
      if (got.length === count) resolve(got.slice());
    });
  });
}

function once(s: Session, event: "connected" | "disconnected"): Promise<void> {
  return new Promise((resolve) => s.on(event, () => resolve()));
}

/**
 * `p`, or a failure naming `what` if it has not settled within `ms`: a wait that can never end
 * fails its test (whose `finally` then stops its sessions) instead of holding the runner until
 * ctest's timeout with no word of where it stood.
 */
function within<T>(p: Promise<T>, what: string, ms = 30_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

test("a connection logs in, sends with an ack, and the peer gets the push", async () => {
  const alice = await connection("ts-alice");
  const bob = await connection("ts-bob");
  const pushed = messages(bob, 1);
  const ack = await alice.send({ user: "ts-bob" }, "c1", "hello from TypeScript");
  assert.equal(ack.conversation, "dm/ts-alice/ts-bob");
  assert.equal(ack.seq, 1);
  const [m] = await within(pushed, "push to Bob");
  assert.equal(m.text, "hello from TypeScript");
  assert.equal(m.sender, "ts-alice");
  assert.equal(m.seq, 1);
  // A resend gets the original seq; the page holds it once.
  assert.equal((await alice.send({ user: "ts-bob" }, "c1", "hello from TypeScript")).seq, 1);
  const page = await bob.pull("dm/ts-alice/ts-bob", 0);
  assert.deepEqual(
    page.messages.map((x) => x.seq),
    [1],
  );
  alice.close();
  bob.close();
});

test("bad input gets the server's error code", async () => {
  const c = new Connection(await tcpTransport("127.0.0.1", port));
  await assert.rejects(c.login("v2.forged", "web-1"), (e: unknown) => {
    assert.ok(e instanceof ParleyError);
    assert.equal(e.code, "TOKEN_INVALID");
    assert.equal(e.retriable, false);
    return true;
  });
  const alice = await connection("ts-alice", "web-2");
  await assert.rejects(alice.pull("dm/ts-bob/ts-carol", 0), (e: unknown) => {
    assert.ok(e instanceof ParleyError);
    assert.equal(e.code, "FORBIDDEN");
    return true;
  });
  c.close();
  alice.close();
});

test("a session catches up what it missed while away, in order", async () => {
  const carol = session("ts-carol");
  await carol.start();
  const dan = await connection("ts-dan");
  const seen = messages(carol, 1);
  await dan.send({ user: "ts-carol" }, "d1", "first");
  // The device has seen #1 before it goes away.
  assert.equal((await within(seen, "push to Carol"))[0].seq, 1);
  const state = carol.state;
  carol.stop();
  for (let i = 2; i <= 4; ++i) await dan.send({ user: "ts-carol" }, `d${i}`, `message ${i}`);
  // A new session of the same device, from where the old one was.
  const again = new Session({
    connect: () => tcpTransport("127.0.0.1", port),
    token: () => token("ts-carol"),
    deviceId: "web-1",
    state: { inboxCursor: state.inboxCursor, conversations: { ...state.conversations } },
  });
  try {
    const missed = messages(again, 3);
    await again.start();
    assert.deepEqual(
      (await within(missed, "catch-up")).map((m) => [m.seq, m.text]),
      [
        [2, "message 2"],
        [3, "message 3"],
        [4, "message 4"],
      ],
    );
  } finally {
    again.stop();
    dan.close();
  }
});

test("a session reconnects after its transport drops and sends made meanwhile are stored once", async () => {
  const erin = session("ts-erin");
  await erin.start();
  const fred = await connection("ts-fred");
  try {
    await dropAndResend(erin, fred);
  } finally {
    erin.stop();
    fred.close();
  }
});

async function dropAndResend(
  erin: Session,
  fred: Connection,
  names = { erin: "ts-erin", fred: "ts-fred" },
  before: string[] = [],
): Promise<void> {
  // The transport drops with a send in flight and another queued while away. Every listener
  // is in place before the drop: the session reconnects after 10-20 ms, and on a loaded
  // machine it can be back and handed Fred's message before Fred's own ack arrives.
  const down = once(erin, "disconnected");
  const back = once(erin, "connected");
  const caught = new Promise<ChatMessage>((resolve) =>
    erin.on("message", (m) => {
      if (m.sender === names.fred) resolve(m);
    }),
  );
  const first = erin.send({ user: names.fred }, "in flight", "e-1");
  erin.current?.close();
  await within(down, "disconnect");
  const second = erin.send({ user: names.fred }, "while away", "e-2");
  await fred.send({ user: names.erin }, "f1", "did you drop?");
  await within(back, "reconnect");
  const acks = await within(Promise.all([first, second]), "acks of both sends");
  assert.deepEqual(
    acks.map((a) => a.seq).sort(),
    [...new Set(acks.map((a) => a.seq))].sort(),
  );
  assert.equal((await within(caught, "message from Fred")).text, "did you drop?");
  // Each stored once, whatever was resent.
  const page = await fred.pull(`dm/${names.erin}/${names.fred}`, 0);
  const ids = page.messages.filter((m) => m.sender === names.erin).map((m) => m.clientMsgId);
  assert.deepEqual(ids.sort(), [...before, "e-1", "e-2"].sort());
}

// Node 20 has a WebSocket only with --experimental-websocket (CMake passes it where it exists);
// browsers are tested by web/e2e.
const haveWebSocket = typeof (globalThis as { WebSocket?: unknown }).WebSocket === "function";

test(
  "a session over WebSocket chats with one over TCP and survives a dropped socket",
  { skip: haveWebSocket ? false : "this node has no WebSocket" },
  async () => {
    const erin = new Session({
      connect: () => webSocketTransport(`ws://127.0.0.1:${wsPort}/`),
      token: () => token("ts-gina"),
      deviceId: "browser-1",
      initialBackoffMs: 20,
      maxBackoffMs: 200,
    });
    await erin.start();
    const fred = await connection("ts-hank");
    try {
      const got = messages(fred, 1);
      const ack = await erin.send({ user: "ts-hank" }, "over a WebSocket", "ws-1");
      const [m] = await within(got, "push to Hank");
      assert.equal(m.text, "over a WebSocket");
      assert.equal(m.seq, ack.seq);
      await dropAndResend(erin, fred, { erin: "ts-gina", fred: "ts-hank" }, ["ws-1"]);
    } finally {
      erin.stop();
      fred.close();
    }
  },
);
