// The admin page in a real browser, against a two-node cluster this test starts (etcd and two
// `imctl node start` on free loopback ports, temporary dirs, no TLS between the nodes): the
// page signs in with an operator token, shows the members and every shard's owner, sees
// shards move to the second node as it joins, inspects an actor, and drains the second node:
// the page shows its shards moving back until the first owns them all, and that node stops.
// Environment: see support.mjs.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { chromium } from "playwright-core";
import {
  browserPath,
  patientContext,
  freePort,
  operatorToken,
  screenshots,
  start,
  startNode,
  userToken,
} from "./support.mjs";

const shards = 8;
let dir = "";
let etcd;
let endpoint = "";
const nodes = [];
let browser;

function nodeArgs(id, expected) {
  return [
    "node", "start", "--id", id, "--etcd", endpoint, "--data-dir", path.join(dir, id),
    "--secret-file", path.join(dir, "secret"), "--cluster-port", "0", "--insecure-cluster-port",
    "--expected-nodes", String(expected), "--shards", String(shards),
  ];
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-e2e-admin-"));
  // The cluster's shared secret, made here (32 random bytes, mode 0600) so that both nodes
  // start with the same one.
  fs.writeFileSync(path.join(dir, "secret"), crypto.randomBytes(32), { mode: 0o600 });
  const [client, peer] = [await freePort(), await freePort()];
  endpoint = `127.0.0.1:${client}`;
  etcd = start(
    "etcd",
    [
      "--data-dir", path.join(dir, "etcd"), "--name", "e2e",
      "--listen-client-urls", `http://${endpoint}`, "--advertise-client-urls", `http://${endpoint}`,
      "--listen-peer-urls", `http://127.0.0.1:${peer}`,
      "--initial-advertise-peer-urls", `http://127.0.0.1:${peer}`,
      "--initial-cluster", `e2e=http://127.0.0.1:${peer}`,
    ],
    /ready to serve client requests/,
  );
  await etcd.ready;
  nodes.push(await startNode(nodeArgs("node-1", 1)));
  browser = await chromium.launch({ executablePath: browserPath, headless: true });
});

after(async () => {
  await browser?.close();
  for (const n of nodes) await n.stop();
  await etcd?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The shard cells' owners, in shard order. */
async function owners(page) {
  return (await page.locator("#shards span").allTextContents()).map((t) => t.split(": ")[1]);
}

test("the admin page shows members and owners, inspects an actor, and drains a node", async () => {
  const page = await (await patientContext(browser)).newPage();
  page.on("dialog", (d) => void d.accept());
  await page.goto(`${nodes[0].base}/admin.html`);

  // A user token is not an operator token.
  await page.fill("#token", userToken(["--secret-file", path.join(dir, "secret")], "alice"));
  await page.click("#login button[type=submit]");
  await page.locator("#login-error", { hasText: "auth.not_authenticated" }).waitFor();

  await page.fill("#token", operatorToken(path.join(dir, "secret")));
  await page.click("#login button[type=submit]");
  await page.locator("#members tr[data-node=node-1]").waitFor();
  await page.locator("#shards span").nth(shards - 1).waitFor();
  assert.deepEqual(await owners(page), Array(shards).fill("node-1"));

  // A second node joins: the page shows shards moving to it.
  nodes.push(await startNode(nodeArgs("node-2", 1)));
  await page.locator("#shards span", { hasText: "node-2" }).first().waitFor({ timeout: 60_000 });
  await page.locator("#members tr[data-node=node-2]").waitFor();

  // An actor, wherever its shard is.
  await page.fill("#entity", "user/alice");
  await page.click("#inspect button");
  await page.locator("#report td", { hasText: "sessions" }).waitFor();
  const report = Object.fromEntries(
    await page
      .locator("#report tr")
      .evaluateAll((rows) => rows.map((r) => [r.cells[0].textContent, r.cells[1].textContent])),
  );
  assert.equal(report.entity, "user/alice");
  assert.match(report.node, /^node-[12]$/);
  assert.equal(report.sessions, "0");
  await page.fill("#entity", "nonsense");
  await page.click("#inspect button");
  await page.locator("#report td", { hasText: "request.bad_request" }).waitFor();
  if (screenshots) await page.screenshot({ path: path.join(screenshots, "web-admin.png"), fullPage: true });

  // Drain node-2 from the page: its shards come back to node-1 and it stops.
  await page.locator("#members tr[data-node=node-2] button").click();
  await page.locator("#admin-error", { hasText: "node-2 is draining" }).waitFor();
  await page.waitForFunction(
    (n) => {
      const cells = [...document.querySelectorAll("#shards span")];
      return cells.length === n && cells.every((c) => c.textContent.endsWith(": node-1"));
    },
    shards,
    { timeout: 60_000 },
  );
  assert.equal(await nodes[1].exited, 0);
  await page.locator("#figures td", { hasText: "map epoch" }).waitFor();
});
