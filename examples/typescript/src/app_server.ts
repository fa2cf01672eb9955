// A small app server in TypeScript (Node, capnp-es): it authenticates with the node's secret,
// issues login tokens, and installs a banned-words before-send hook that the node calls for
// every message a client sends. The C++ example (examples/app_server.cpp) does more; this one
// shows the same API from another language.
//
//   node dist/app_server.js --app 127.0.0.1:8420 --secret-file parley-data/secret \
//        --user alice --user bob
//
// It prints one line per event ("token <user> <token>", "hook installed on <n> node(s)",
// "rejected <sender>: <word>", "ready"), serves the hook until its standard input closes, then
// clears the hook and exits 0. A failure prints "error: <code>: <message>" and exits 1.

import * as fs from "node:fs";
import * as net from "node:net";
import { Conn } from "capnp-es";
import { BeforeSendHook, Bootstrap, type Engine$Client } from "./schema/app.js";
import { StreamTransport } from "./transport.js";

const bannedWords = ["spam", "scam"];

interface Options {
  host: string;
  port: number;
  secretFile: string;
  users: string[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = { host: "127.0.0.1", port: 0, secretFile: "", users: [] };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--app") {
      const at = value.lastIndexOf(":");
      o.host = value.slice(0, at);
      o.port = Number(value.slice(at + 1));
    } else if (flag === "--secret-file") {
      o.secretFile = value;
    } else if (flag === "--user") {
      o.users.push(value);
    } else {
      throw new Error(`unknown option ${flag}`);
    }
  }
  if (!o.port || !o.secretFile) throw new Error("give --app HOST:PORT and --secret-file FILE");
  return o;
}

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** The hook: a message whose body contains a banned word is rejected with a reason. */
const bannedWordsHook = new BeforeSendHook.Server({
  async check(params, results) {
    const m = params.message;
    const body = new TextDecoder().decode(m.body.toUint8Array());
    const word = bannedWords.find((w) => body.includes(w));
    if (word === undefined) {
      results._initVerdict().allow = true;
      return;
    }
    results._initVerdict().reject = `please do not say "${word}"`;
    console.log(`rejected ${m.sender}: ${word}`);
  },
});

function untilStdinCloses(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.on("end", resolve);
    process.stdin.resume();
  });
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const secret = fs.readFileSync(o.secretFile);
  const socket = await connect(o.host, o.port);
  const conn = new Conn(new StreamTransport(socket));
  // Awaited rather than pipelined, so that a wrong secret fails here, with its own message.
  const engine: Engine$Client = (
    await conn
      .bootstrap(Bootstrap)
      .authenticate((p) => {
        p._initSecret(secret.length).copyBuffer(secret);
      })
      .promise()
  ).engine;

  const tokens = engine.tokens().getTokens();
  for (const user of o.users) {
    const issued = await tokens
      .issue((p) => {
        p.user = user;
        p.ttlSeconds = 3600;
      })
      .promise();
    console.log(`token ${user} ${issued.token}`);
  }

  const hooks = engine.hooks().getHooks();
  const installed = await hooks
    .setBeforeSend((p) => {
      p.hook = bannedWordsHook.client();
      p.timeoutMs = 1000;
      p.failOpen = false;
    })
    .promise();
  console.log(`hook installed on ${installed.nodes} node(s)`);
  console.log("ready");

  await untilStdinCloses();
  await hooks.clearBeforeSend().promise();
  console.log("hook cleared");
  socket.end();
}

function fail(err: unknown): never {
  // The node's errors read "<error_code>: <message>" (docs/APP-API.md); keep that part.
  const text = err instanceof Error ? err.message : String(err);
  const match = /([a-z_]+: .*)$/m.exec(text);
  console.error(`error: ${match ? match[1] : text}`);
  process.exit(1);
}

// capnp-es rejects the promise of every call that fails, also of a pipelined call nobody
// awaits (engine.tokens() above, when the node goes away): without this, Node would stop with
// a stack trace instead of the error.
process.on("unhandledRejection", fail);
main().then(() => process.exit(0), fail);
