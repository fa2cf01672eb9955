// The admin page served by a node's HTTP port: this node's figures and live rates, the
// cluster's members with the shards each owns, every shard's owner, one actor inspected, and
// a drain button per member. It reads the node's admin API (server/admin.hpp) with an
// operator token (`imctl token operator`), kept in sessionStorage for the tab's lifetime.

interface Status {
  node: string;
  cluster: boolean;
  serving: boolean;
  coordinating: boolean;
  mapEpoch: number;
  members: string[];
  owners: string[];
  counters: Record<string, number>;
}

interface ApiError {
  error: string;
  message: string;
}

const pollMs = 1000;
let token = sessionStorage.getItem("parley.operator") ?? "";
let previous: { at: number; counters: Record<string, number> } | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;

function el<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

class AdminError extends Error {}

async function call<T>(method: "GET" | "POST", path: string): Promise<T> {
  const res = await fetch(`/admin/api${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}` },
  });
  const body = (await res.json()) as T | ApiError;
  if (!res.ok) {
    const e = body as ApiError;
    throw new AdminError(`${e.error}: ${e.message}`);
  }
  return body as T;
}

function row(cells: (string | Node)[], header = false): HTMLTableRowElement {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement(header ? "th" : "td");
    td.append(c);
    tr.append(td);
  }
  return tr;
}

function rates(s: Status): Record<string, string> {
  const now = performance.now();
  const out: Record<string, string> = {};
  if (previous) {
    const seconds = (now - previous.at) / 1000;
    for (const name of ["messagesSent", "pushes", "logins"]) {
      const delta = s.counters[name] - (previous.counters[name] ?? 0);
      out[name] = `${(delta / seconds).toFixed(1)}/s`;
    }
  }
  previous = { at: now, counters: s.counters };
  return out;
}

function show(s: Status): void {
  el("node").textContent = s.node;
  const status = el("status");
  status.textContent = s.serving ? "serving" : "not serving";
  status.classList.toggle("online", s.serving);
  const perSecond = rates(s);
  const figures: [string, string][] = [
    ["node", s.node],
    ["map epoch", String(s.mapEpoch)],
    ["coordinator", s.coordinating ? "yes" : "no"],
    ["connections", String(s.counters.connections)],
    ["active actors", String(s.counters.activeEntities)],
    ["messages sent", `${s.counters.messagesSent} (${perSecond.messagesSent ?? "…"})`],
    ["pushes", `${s.counters.pushes} (${perSecond.pushes ?? "…"})`],
    ["logins", `${s.counters.logins} (${perSecond.logins ?? "…"})`],
    ["shard moves", `${s.counters.shardMoves} (${s.counters.shardMoveMs} ms in all)`],
  ];
  el("figures").querySelector("tbody")?.replaceChildren(...figures.map(([k, v]) => row([k, v])));

  const owned = new Map<string, number>(s.members.map((m) => [m, 0]));
  for (const owner of s.owners) owned.set(owner, (owned.get(owner) ?? 0) + 1);
  el("members")
    .querySelector("tbody")
    ?.replaceChildren(
      ...[...owned.entries()].map(([member, shards]) => {
        const drain = document.createElement("button");
        drain.textContent = "Drain";
        drain.disabled = !s.cluster;
        drain.title = s.cluster ? `move ${member}'s shards away, then stop it` : "a single node";
        drain.onclick = () => {
          if (!confirm(`Drain ${member}? Its shards move to the others and it stops.`)) return;
          call("POST", `/drain?node=${encodeURIComponent(member)}`)
            .then(() => (el("admin-error").textContent = `${member} is draining`))
            .catch((e) => (el("admin-error").textContent = String(e.message ?? e)));
        };
        const tr = row([member, String(shards), drain]);
        tr.dataset.node = member;
        return tr;
      }),
    );

  el("shards").replaceChildren(
    ...s.owners.map((owner, shard) => {
      const cell = document.createElement("span");
      cell.dataset.shard = String(shard);
      cell.textContent = `${shard}: ${owner}`;
      return cell;
    }),
  );
}

async function poll(): Promise<void> {
  clearTimeout(timer);
  try {
    show(await call<Status>("GET", "/status"));
  } catch (e) {
    if (e instanceof AdminError && e.message.startsWith("auth.")) return signOut(e.message);
    el("status").textContent = "unreachable";
    el("status").classList.remove("online");
  }
  timer = setTimeout(() => void poll(), pollMs);
}

async function signIn(candidate: string): Promise<void> {
  token = candidate;
  await call<Status>("GET", "/status");
  sessionStorage.setItem("parley.operator", token);
  el("login").hidden = true;
  el("admin").hidden = false;
  el("logout").hidden = false;
  await poll();
}

function signOut(why = ""): void {
  clearTimeout(timer);
  token = "";
  sessionStorage.removeItem("parley.operator");
  el("login").hidden = false;
  el("admin").hidden = true;
  el("logout").hidden = true;
  el("login-error").textContent = why;
}

el("login").addEventListener("submit", (e) => {
  e.preventDefault();
  el("login-error").textContent = "";
  signIn(el<HTMLTextAreaElement>("token").value.trim()).catch((err) => signOut(String(err.message ?? err)));
});

el("logout").addEventListener("click", () => signOut());

el("inspect").addEventListener("submit", (e) => {
  e.preventDefault();
  const entity = el<HTMLInputElement>("entity").value.trim();
  const body = el("report").querySelector("tbody");
  call<Record<string, unknown>>("GET", `/inspect?entity=${encodeURIComponent(entity)}`)
    .then((r) => {
      const lines: [string, string][] = [];
      for (const [k, v] of Object.entries(r)) {
        if (k === "figures") {
          for (const [f, n] of Object.entries(v as Record<string, number>)) lines.push([f, String(n)]);
        } else {
          lines.push([k, String(v)]);
        }
      }
      body?.replaceChildren(...lines.map(([k, v]) => row([k, v])));
    })
    .catch((err) => body?.replaceChildren(row(["error", String(err.message ?? err)])));
});

if (token) signIn(token).catch((err) => signOut(String(err.message ?? err)));
