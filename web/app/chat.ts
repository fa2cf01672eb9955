// The web chat served by a node's HTTP port: log in with a token, a conversation list with
// unread counts, direct and group chat, scrolling back through history, typing and read
// receipts. It is parley-client's Session over the node's WebSocket port; the token, the
// device id and how far this device has read stay in localStorage, so a reload reconnects
// and catches up on its own.

import {
  type ChatMessage,
  type Connection,
  type ConversationEntry,
  ParleyError,
  Session,
  type SyncState,
  type Target,
  webSocketTransport,
} from "./parley/browser.js";

const pageSize = 30;
const typingEveryMs = 2000;

function el<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const store = {
  get token(): string {
    return localStorage.getItem("parley.token") ?? "";
  },
  get device(): string {
    let d = localStorage.getItem("parley.device");
    if (!d) {
      d = `browser-${Math.random().toString(36).slice(2, 10)}`;
      localStorage.setItem("parley.device", d);
    }
    return d;
  },
  get state(): SyncState | undefined {
    const s = localStorage.getItem("parley.state");
    return s ? (JSON.parse(s) as SyncState) : undefined;
  },
  save(token: string, state: SyncState): void {
    localStorage.setItem("parley.token", token);
    localStorage.setItem("parley.state", JSON.stringify(state));
  },
  forget(): void {
    for (const k of ["parley.token", "parley.state", "parley.open"]) localStorage.removeItem(k);
  },
};

/** What the view holds of the open conversation. */
interface OpenConversation {
  id: string;
  target: Target;
  oldest: number; // lowest seq shown (0: none yet)
  newest: number; // highest seq shown
  loadingOlder: boolean;
  complete: boolean; // nothing older left
}

let session: Session | undefined;
let me = "";
let open: OpenConversation | undefined;
let lastTyping = 0;
let listTimer: ReturnType<typeof setTimeout> | undefined;
const typingTimers = new Map<string, ReturnType<typeof setTimeout>>();

function showError(where: "login-error" | "chat-error", e: unknown): void {
  el(where).textContent =
    e instanceof ParleyError ? e.code + ": " + e.message.slice(e.code.length + 2) : String(e);
}

function targetOf(conversation: string): Target {
  if (conversation.startsWith("group/")) return { group: conversation.slice("group/".length) };
  const [, a, b] = conversation.split("/");
  return { user: a === me ? b : a };
}

function titleOf(conversation: string): string {
  const t = targetOf(conversation);
  return "group" in t ? `# ${t.group}` : t.user;
}

function directWith(peer: string): string {
  return me < peer ? `dm/${me}/${peer}` : `dm/${peer}/${me}`;
}

async function login(token: string): Promise<void> {
  const config = (await (await fetch("/config.json")).json()) as { wsPort: number };
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.hostname}:${config.wsPort}/`;
  const s = new Session({
    connect: () => webSocketTransport(url),
    token: () => token,
    deviceId: store.device,
    state: store.state,
  });
  s.on("message", (m) => {
    store.save(token, s.state);
    received(m);
  });
  s.on("event", () => scheduleList());
  s.on("connected", () => connected(s));
  s.on("disconnected", () => setStatus(false));
  await s.start();
  session = s;
  store.save(token, s.state);
  connected(s);
  el("login").hidden = true;
  el("chat").hidden = false;
  el("logout").hidden = false;
  const reopen = localStorage.getItem("parley.open");
  if (reopen) await openConversation(reopen);
}

function connected(s: Session): void {
  const c = s.current;
  if (!c) return;
  me = c.userId;
  el("me").textContent = me;
  setStatus(true);
  watchConnection(c);
  scheduleList();
}

const watched = new WeakSet<Connection>();

/** Typing and read pushes come from the connection itself (the session does not keep them). */
function watchConnection(c: Connection): void {
  if (watched.has(c)) return;
  watched.add(c);
  c.on("typing", (conversation, user) => {
    if (open?.id !== conversation || user === me) return;
    el("typing").textContent = `${user} is typing…`;
    clearTimeout(typingTimers.get(conversation));
    typingTimers.set(
      conversation,
      setTimeout(() => (el("typing").textContent = ""), 3 * typingEveryMs),
    );
  });
  c.on("read", (conversation, user, seq) => {
    if (open?.id !== conversation || user === me) return;
    for (const li of el("messages").querySelectorAll<HTMLElement>("li.mine")) {
      if (Number(li.dataset.seq) <= seq && !li.querySelector(".read")) {
        const mark = document.createElement("span");
        mark.className = "read";
        mark.textContent = "✓ read";
        li.append(mark);
      }
    }
  });
}

function setStatus(online: boolean): void {
  const s = el("status");
  s.textContent = online ? "online" : "reconnecting";
  s.classList.toggle("online", online);
}

function scheduleList(): void {
  clearTimeout(listTimer);
  listTimer = setTimeout(() => void refreshList(), 100);
}

async function refreshList(): Promise<void> {
  const c = session?.current;
  if (!c) return;
  const entries: ConversationEntry[] = [];
  let cursor = "";
  for (let pages = 0; pages < 10; ++pages) {
    const page = await c.listConversations(cursor, 100);
    entries.push(...page.entries);
    if (!page.more) break;
    cursor = page.nextCursor;
  }
  const list = el("conversations");
  list.replaceChildren(
    ...entries.map((e) => {
      const li = document.createElement("li");
      li.dataset.conversation = e.conversation;
      li.classList.toggle("selected", e.conversation === open?.id);
      const name = document.createElement("span");
      name.textContent = titleOf(e.conversation);
      li.append(name);
      const unread = e.conversation === open?.id ? 0 : e.unread;
      if (unread > 0) {
        const badge = document.createElement("span");
        badge.className = "unread";
        badge.textContent = String(unread);
        li.append(badge);
      }
      li.onclick = () => void openConversation(e.conversation);
      return li;
    }),
  );
}

function render(m: { seq: number; sender: string; text: string }): HTMLLIElement {
  const li = document.createElement("li");
  li.dataset.seq = String(m.seq);
  li.classList.toggle("mine", m.sender === me);
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = m.sender;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = m.text;
  li.append(who, text);
  return li;
}

/** A message for the open conversation goes at the end (once); others update the list. */
function received(m: ChatMessage): void {
  if (open && m.conversation === open.id) {
    append(m);
    void markRead();
  }
  scheduleList();
}

function append(m: { seq: number; sender: string; text: string }): void {
  if (!open || m.seq <= open.newest) return;
  const box = el("messages");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.append(render(m));
  open.newest = m.seq;
  if (open.oldest === 0) open.oldest = m.seq;
  if (atBottom || m.sender === me) box.scrollTop = box.scrollHeight;
}

async function markRead(): Promise<void> {
  const c = session?.current;
  if (!c || !open || open.newest === 0) return;
  await c.markRead(open.id, open.newest).catch(() => undefined);
}

async function openConversation(id: string): Promise<void> {
  const c = session?.current;
  if (!c) return;
  open = { id, target: targetOf(id), oldest: 0, newest: 0, loadingOlder: false, complete: false };
  localStorage.setItem("parley.open", id);
  el("title").textContent = titleOf(id);
  el("typing").textContent = "";
  el("chat-error").textContent = "";
  el("messages").replaceChildren();
  el<HTMLInputElement>("text").disabled = false;
  el<HTMLButtonElement>("send").disabled = false;
  try {
    const page = await c.history(id, 0, pageSize);
    const current = open;
    for (const m of page.messages.reverse()) append(m);
    current.complete = !page.more;
    el("messages").scrollTop = el("messages").scrollHeight;
    await markRead();
  } catch (e) {
    if (!(e instanceof ParleyError && e.code === "NOT_FOUND")) showError("chat-error", e);
  }
  scheduleList();
}

/** Scrolling to the top loads the page before the oldest message shown. */
async function loadOlder(): Promise<void> {
  const c = session?.current;
  const current = open;
  if (!c || !current || current.loadingOlder || current.complete || current.oldest <= 1) return;
  current.loadingOlder = true;
  try {
    const page = await c.history(current.id, current.oldest, pageSize);
    if (open !== current) return;
    const box = el("messages");
    const fromBottom = box.scrollHeight - box.scrollTop;
    box.prepend(...page.messages.reverse().map(render));
    if (page.messages.length > 0) current.oldest = page.messages[0].seq;
    current.complete = !page.more;
    box.scrollTop = box.scrollHeight - fromBottom;
  } finally {
    current.loadingOlder = false;
  }
}

async function send(text: string): Promise<void> {
  const s = session;
  const current = open;
  if (!s || !current || text === "") return;
  const ack = await s.send(current.target, text);
  if (open === current) append({ seq: ack.seq, sender: me, text });
  scheduleList();
}

el("login").addEventListener("submit", (e) => {
  e.preventDefault();
  el("login-error").textContent = "";
  login(el<HTMLTextAreaElement>("token").value.trim()).catch((err) => {
    session?.stop();
    session = undefined;
    showError("login-error", err);
  });
});

el("logout").addEventListener("click", () => {
  session?.stop();
  session = undefined;
  store.forget();
  location.reload();
});

el("open-direct").addEventListener("submit", (e) => {
  e.preventDefault();
  const peer = el<HTMLInputElement>("peer").value.trim();
  if (peer) void openConversation(directWith(peer));
});

el("create-group").addEventListener("submit", (e) => {
  e.preventDefault();
  const name = el<HTMLInputElement>("group-name").value.trim();
  const c = session?.current;
  if (!c || !name) return;
  c.createGroup(name)
    .then((id) => openConversation(`group/${id}`))
    .catch((err) => showError("chat-error", err));
});

el("join-group").addEventListener("submit", (e) => {
  e.preventDefault();
  const id = el<HTMLInputElement>("group-id").value.trim();
  const c = session?.current;
  if (!c || !id) return;
  c.joinGroup(id)
    .then(() => openConversation(`group/${id}`))
    .catch((err) => showError("chat-error", err));
});

el("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = el<HTMLInputElement>("text");
  const text = input.value;
  input.value = "";
  send(text).catch((err) => showError("chat-error", err));
});

el("text").addEventListener("input", () => {
  const c = session?.current;
  if (!c || !open || Date.now() - lastTyping < typingEveryMs) return;
  lastTyping = Date.now();
  c.typing(open.id).catch(() => undefined);
});

el("messages").addEventListener("scroll", () => {
  if (el("messages").scrollTop < 40) void loadOlder();
});

if (store.token) {
  login(store.token).catch((err) => {
    session?.stop();
    session = undefined;
    showError("login-error", err);
  });
}
