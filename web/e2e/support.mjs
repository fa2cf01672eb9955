// What the browser tests share: nodes and etcd started as child processes on free loopback
// ports with temporary directories, and tokens issued with imctl.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import * as net from "node:net";

export const imctl = process.env.PARLEY_IMCTL ?? "";
export const browserPath = process.env.PARLEY_CHROMIUM ?? "/usr/bin/chromium";
export const screenshots = process.env.PARLEY_SCREENSHOTS ?? "";
/** How long a page may take to show what a test waits for: generous, for a loaded CI machine
 * (two cores, the suite running two tests at a time beside the browser). */
export const patienceMs = 60_000;

/** A child process whose output is kept, and which resolves once `pattern` has been printed. */
export function start(command, args, pattern) {
  assert.ok(command, "set PARLEY_IMCTL to the imctl binary");
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
  let printed = "";
  const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = new Promise((resolve, reject) => {
    const look = (chunk) => {
      printed += chunk.toString();
      const m = pattern.exec(printed);
      if (m) resolve(m);
    };
    child.stdout.on("data", look);
    child.stderr.on("data", look);
    exited.then((code) => reject(new Error(`${command} exited (${code}): ${printed}`)));
  });
  return {
    child,
    ready,
    exited,
    output: () => printed,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

/** A node of imctl (`imctl <args>`), its HTTP base URL once it serves the web pages. */
export async function startNode(args) {
  const node = start(
    imctl,
    [...args, "--port", "0", "--app-port", "0", "--http-port", "0", "--ws-port", "0"],
    /web chat on (http:\/\/127\.0\.0\.1:\d+)\/[\s\S]*WebSocket clients on/,
  );
  const m = await node.ready;
  return { ...node, base: m[1] };
}

/** A loopback port free now (the OS picks it; it is released before the caller binds it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A login token for `user`; `secret` is how imctl finds the secret (["--data-dir", D] ...). */
export function userToken(secret, user) {
  return execFileSync(imctl, ["token", "issue", user, ...secret]).toString().trim();
}

export function operatorToken(secretFile) {
  return execFileSync(imctl, ["token", "operator", "--secret-file", secretFile])
    .toString()
    .trim();
}

/** A browser context whose pages wait up to patienceMs for what a test expects. */
export async function patientContext(browser) {
  const context = await browser.newContext();
  context.setDefaultTimeout(patienceMs);
  return context;
}
