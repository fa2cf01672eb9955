// The web chat in a real browser: Playwright drives Debian's chromium (headless) against a node
// this test starts with imctl on free loopback ports and a temporary data dir. Two users chat
// directly and in a group, see typing and read receipts, and one of them comes back after
// being away (a reload, then a new tab) and catches up, scrolling back through history.
// Environment: see support.mjs (PARLEY_IMCTL, PARLEY_CHROMIUM, PARLEY_SCREENSHOTS).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { chromium } from "playwright-core";
import { browserPath, patientContext, screenshots, startNode, userToken } from "./support.mjs";

let node;
let dataDir = "";
let base = "";
let browser;

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-e2e-"));
  node = await startNode(["cluster", "start", "--data-dir", dataDir]);
  base = node.base;
  browser = await chromium.launch({ executablePath: browserPath, headless: true });
});

after(async () => {
  await browser?.close();
  await node?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function token(user) {
  return userToken(["--data-dir", dataDir], user);
}

/** A browser user logged in to the chat, in a context of its own (own localStorage). */
async function user(name) {
  const context = await patientContext(browser);
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.fill("#token", token(name));
  await page.click("#login button[type=submit]");
  await page.locator("#status", { hasText: "online" }).waitFor();
  return { context, page };
}

async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
  await page.locator("#messages li.mine .text", { hasText: text }).last().waitFor();
}

async function shot(page, name) {
  if (screenshots) await page.screenshot({ path: path.join(screenshots, name) });
}

test("two browser users chat, one comes back and catches up", async () => {
  const alice = await user("web-alice");
  const bob = await user("web-bob");

  // A direct chat: bob sees it in his list with one unread message.
  await alice.page.fill("#peer", "web-bob");
  await alice.page.press("#peer", "Enter");
  await say(alice.page, "hello bob");
  const entry = bob.page.locator("#conversations li", { hasText: "web-alice" });
  await entry.locator(".unread", { hasText: "1" }).waitFor();
  await entry.click();
  await bob.page.locator("#messages li .text", { hasText: "hello bob" }).waitFor();

  // Bob opened it, so alice's message shows as read; bob's typing shows on alice's side.
  await alice.page.locator("#messages li.mine .read").first().waitFor();
  await bob.page.type("#text", "hi al");
  await alice.page.locator("#typing", { hasText: "web-bob is typing" }).waitFor();
  await bob.page.fill("#text", "hi alice");
  await bob.page.press("#text", "Enter");
  await alice.page.locator("#messages li .text", { hasText: "hi alice" }).waitFor();

  // A group: alice creates it, bob joins by its id, both write.
  await alice.page.fill("#group-name", "team");
  await alice.page.press("#group-name", "Enter");
  await alice.page.locator("#title", { hasText: "# " }).waitFor();
  const group = (await alice.page.textContent("#title")).slice(2);
  await bob.page.fill("#group-id", group);
  await bob.page.press("#group-id", "Enter");
  await bob.page.locator("#title", { hasText: `# ${group}` }).waitFor();
  await say(bob.page, "bob in the group");
  await alice.page.locator("#messages li .text", { hasText: "bob in the group" }).waitFor();
  await shot(alice.page, "web-chat.png");

  // Bob reloads: logged in again from what the tab kept, the group still open.
  await bob.page.reload();
  await bob.page.locator("#status", { hasText: "online" }).waitFor();
  await bob.page.locator("#messages li .text", { hasText: "bob in the group" }).waitFor();

  // Bob goes away; alice writes 40 more; bob's new tab catches up and scrolls back to #1.
  await bob.page.close();
  await alice.page.locator("#conversations li", { hasText: "web-bob" }).click();
  await alice.page.locator("#title", { hasText: "web-bob" }).waitFor();
  for (let i = 1; i <= 40; ++i) await say(alice.page, `away ${i}`);
  const back = await bob.context.newPage();
  await back.goto(`${base}/`);
  await back.locator("#status", { hasText: "online" }).waitFor();
  const direct = back.locator("#conversations li", { hasText: "web-alice" });
  await direct.locator(".unread", { hasText: "40" }).waitFor();
  await direct.click();
  await back.locator("#messages li .text", { hasText: "away 40" }).waitFor();
  const shown = await back.locator("#messages li").count();
  assert.equal(shown, 30, "the newest page first");
  await back.locator("#messages").evaluate((box) => (box.scrollTop = 0));
  await back.locator("#messages li .text", { hasText: "hello bob" }).waitFor();
  const texts = await back.locator("#messages li .text").allTextContents();
  assert.deepEqual(texts.slice(0, 3), ["hello bob", "hi alice", "away 1"]);
  assert.equal(texts.length, 42);
  assert.equal(texts.at(-1), "away 40");

  await alice.context.close();
  await bob.context.close();
});

test("a bad token is refused with the server's code", async () => {
  const context = await patientContext(browser);
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await page.fill("#token", "v2.forged");
  await page.click("#login button[type=submit]");
  await page.locator("#login-error", { hasText: "TOKEN_INVALID" }).waitFor();
  assert.equal(await page.locator("#chat").isHidden(), true);
  await context.close();
});
