// The explorer: a client of foldbank's public API, nothing more. Every request carries the
// key typed into the page as `Authorization: Bearer`; the key stays in this tab's
// sessionStorage (gone when the tab closes) and never appears in a URL. In local development
// mode (no key exists on the server) the page sends none.
//
// Rendering builds DOM nodes and sets `textContent`, never `innerHTML`: descriptions and
// reasons come from the API and are shown as text, whatever they contain.

import { CURRENCIES, formatMoney, parseMoney } from "/explorer/money.js";
import {
  availableAmount,
  balanceChange,
  foldSteps,
  heldAmount,
  openHolds,
  pendingTransfers,
} from "/explorer/fold.js";
import { chartSteps, drawBalanceChart } from "/explorer/chart.js";

const KEY_STORAGE = "foldbank.api-key";
const EVENTS_PAGE = 25;
const PROJECTIONS_EVERY_MS = 2000;

const $ = (id) => document.getElementById(id);

const session = {
  key: sessionStorage.getItem(KEY_STORAGE),
  keysRequired: true,
  projectionsTimer: null,
  accountsCursor: null,
  /** A pause or resume is on its way: the projections' refresh leaves the switch alone. */
  pausing: false,
};

/** The account on screen: its log, the fold of what is loaded, its read-model views. */
let current = null;

class Problem extends Error {
  constructor(status, body) {
    super(body?.detail ?? body?.title ?? `HTTP ${status}`);
    this.status = status;
    this.type = body?.type;
    this.title = body?.title ?? `HTTP ${status}`;
  }
}

/** Calls the API; resolves to `{ body, headers }`, or rejects with the problem it answered. */
async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (session.key) headers.Authorization = `Bearer ${session.key}`;
  const command = method === "POST";
  if (command) {
    // Commands are JSON, also those without parameters (`{}`): the service refuses other types.
    headers["Content-Type"] = "application/json";
    // A fresh key per command: a retry of the same request would reuse it.
    headers["Idempotency-Key"] = uuid();
  }
  const response = await fetch(path, {
    method,
    headers,
    body: command ? JSON.stringify(body ?? {}) : undefined,
    cache: "no-store",
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Problem(response.status, json);
  return { body: json, headers: response.headers };
}

/** A random UUID (v4); `crypto.randomUUID` exists only in secure contexts, this everywhere. */
function uuid() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const short = (id) => (id ? `${String(id).slice(0, 8)}…${String(id).slice(-4)}` : "—");

function node(tag, { className, text, attrs } = {}, children = []) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  for (const [name, value] of Object.entries(attrs ?? {})) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

function say(id, text, isError = false) {
  const target = $(id);
  target.textContent = text;
  target.classList.toggle("error", isError);
}

function problemText(error) {
  return error instanceof Problem ? `${error.title}: ${error.message}` : String(error.message ?? error);
}

// ---- the key ------------------------------------------------------------------------------

async function start() {
  try {
    const mode = await (await fetch("/explorer/mode.json", { cache: "no-store" })).json();
    session.keysRequired = mode.keys_required;
  } catch {
    session.keysRequired = true;
  }
  fillCurrencies();
  wireForms();
  if (session.key) {
    say("key-status", "Using the key kept in this tab.");
  } else if (session.keysRequired) {
    say("key-status", "This service needs an API key: type one to begin (it is kept in this tab only).");
    $("api-key").focus();
    return;
  } else {
    say("key-status", "Local development mode: no key needed.");
  }
  await begin();
}

async function begin() {
  await loadAccounts(true);
  refreshProjections();
  clearInterval(session.projectionsTimer);
  session.projectionsTimer = setInterval(refreshProjections, PROJECTIONS_EVERY_MS);
  const fromHash = /^#account=([0-9a-f-]{36})$/i.exec(location.hash);
  if (fromHash) await showAccount(fromHash[1]);
}

function wireForms() {
  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) return;
    session.key = key;
    sessionStorage.setItem(KEY_STORAGE, key);
    $("api-key").value = "";
    say("key-status", "Using the key you typed (kept in this tab only).");
    await begin();
  });
  $("forget-key").addEventListener("click", () => {
    session.key = null;
    sessionStorage.removeItem(KEY_STORAGE);
    clearInterval(session.projectionsTimer);
    say("key-status", "Key forgotten.");
    $("account-list").replaceChildren();
    $("account-view").hidden = true;
    $("commands-panel").hidden = true;
    current = null;
  });
  $("more-accounts").addEventListener("click", () => loadAccounts(false));
  $("find-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("find-id").value.trim();
    if (id) showAccount(id);
  });
  $("open-form").addEventListener("submit", openAccount);
  $("deposit-form").addEventListener("submit", (event) => movement(event, "deposits", "deposit-amount"));
  $("withdraw-form").addEventListener("submit", (event) => movement(event, "withdrawals", "withdraw-amount"));
  $("transfer-form").addEventListener("submit", transfer);
  $("pause-balances").addEventListener("change", togglePause);
  $("more-events").addEventListener("click", () => loadEvents(false));
  $("fold-previous").addEventListener("click", () => current && selectStep(current.selected - 1));
  $("fold-next").addEventListener("click", () => current && selectStep(current.selected + 1));
  $("travel-slider").addEventListener("input", () => {
    $("travel-at").value = new Date(Number($("travel-slider").value)).toISOString();
  });
  $("travel-slider").addEventListener("change", () => travel());
  $("travel-form").addEventListener("submit", (event) => {
    event.preventDefault();
    travel();
  });
}

function fillCurrencies() {
  const select = $("open-currency");
  for (const code of CURRENCIES) select.append(node("option", { text: code, attrs: { value: code } }));
  select.value = "EUR";
  $("open-owner").value = uuid();
}

// ---- accounts -----------------------------------------------------------------------------

async function loadAccounts(reset) {
  if (reset) {
    session.accountsCursor = null;
    $("account-list").replaceChildren();
    $("account-ids").replaceChildren();
  }
  const cursor = session.accountsCursor ? `&cursor=${encodeURIComponent(session.accountsCursor)}` : "";
  try {
    const { body } = await api(`/accounts?limit=50${cursor}`);
    for (const account of body.items) {
      const button = node("button", {
        className: "account-button",
        attrs: { type: "button", "data-account-id": account.account_id },
      }, [
        node("span", { className: "money", text: formatMoney(account.balance, account.currency) }),
        node("span", { className: "muted", text: ` ${account.status} · ${short(account.account_id)}` }),
      ]);
      button.addEventListener("click", () => showAccount(account.account_id));
      $("account-list").append(node("li", {}, [button]));
      $("account-ids").append(node("option", { attrs: { value: account.account_id } }));
    }
    if (reset && body.items.length > 0) $("open-owner").value = body.items[0].owner_id;
    session.accountsCursor = body.next_cursor ?? null;
    $("more-accounts").hidden = !session.accountsCursor;
    if (reset && body.items.length === 0) {
      $("account-list").append(node("li", { className: "note", text: "No accounts yet: open one below." }));
      $("open-details").open = true;
    }
  } catch (error) {
    say("key-status", `Could not list accounts: ${problemText(error)}`, true);
  }
}

async function openAccount(event) {
  event.preventDefault();
  const currency = $("open-currency").value;
  try {
    const request = { owner_id: $("open-owner").value.trim(), currency };
    const deposit = $("open-deposit").value.trim();
    const overdraft = $("open-overdraft").value.trim();
    const fee = $("open-fee").value.trim();
    if (deposit && deposit !== "0") request.initial_deposit = parseMoney(deposit, currency);
    if (overdraft && overdraft !== "0") request.overdraft_limit = parseMoney(overdraft, currency);
    if (fee && fee !== "0") request.overdraft_fee = parseMoney(fee, currency);
    const { body } = await api("/accounts", { method: "POST", body: request });
    $("open-details").open = false;
    await afterCommand("open", body, body.account_id);
    await loadAccounts(true);
  } catch (error) {
    say("key-status", `Could not open the account: ${problemText(error)}`, true);
  }
}

/**
 * Shows account `id`. `minPosition`, when given, is a position its read models must reflect
 * first: an account just opened may not be in them yet.
 */
async function showAccount(id, minPosition = 0) {
  current = {
    id,
    minPosition,
    account: null,
    events: [],
    states: [],
    eventsCursor: null,
    selected: -1,
    movements: [],
    holds: [],
  };
  history.replaceState(null, "", `#account=${id}`);
  try {
    await loadCurrent(minPosition || undefined);
  } catch (error) {
    say("key-status", `Could not show account ${id}: ${problemText(error)}`, true);
    return;
  }
  $("account-view").hidden = false;
  $("commands-panel").hidden = false;
  $("account-id").textContent = id;
  $("consistency").replaceChildren(node("p", {
    className: "note",
    text: "A command answers the log position of its last event; the reads after it show the read model reaching it.",
  }));
  $("travel-view").replaceChildren();
  await Promise.all([loadEvents(true), loadHistory(), loadTransfers()]);
  resetTravel();
}

/** `min_position` for reads of the account's read models: what this page has written. */
const waitForWrites = () => (current.minPosition > 0 ? `&min_position=${current.minPosition}` : "");

/** The account as the `account_balances` read model has it, and the position it reflects. */
async function loadCurrent(minPosition) {
  const wait = minPosition === undefined ? "" : `?min_position=${minPosition}`;
  const { body, headers } = await api(`/accounts/${current.id}${wait}`);
  current.account = body;
  const facts = [
    ["balance", formatMoney(body.balance, body.currency)],
    // Held money is still in the balance: `available` is balance + overdraft - held.
    ["held", formatMoney(body.held, body.currency)],
    ["available", formatMoney(body.available, body.currency)],
    ["status", body.frozen_reason ? `${body.status} by the ${body.frozen_by} (${body.frozen_reason})` : body.status],
    ["overdraft limit", formatMoney(body.overdraft_limit, body.currency)],
    ["daily withdrawal limit", body.daily_withdrawal_limit == null ? "none" : formatMoney(body.daily_withdrawal_limit, body.currency)],
    ["overdraft fee", body.overdraft_fee == null ? "none" : formatMoney(body.overdraft_fee, body.currency)],
    ["version", String(body.version)],
    ["read model position", headers.get("X-Projection-Position") ?? "—"],
    ["owner", body.owner_id],
    ["holder", body.holder_name ?? (body.personal_data === "erased" ? "(erased)" : "none")],
  ];
  $("current-state").replaceChildren(...facts.map(([term, value]) => node("div", {}, [node("dt", { text: term }), node("dd", { text: value })])));
  $("current-state").dataset.balance = String(body.balance);
  $("current-state").dataset.held = String(body.held);
  $("current-state").dataset.available = String(body.available);
  current.readPosition = Number(headers.get("X-Projection-Position"));
  return current.readPosition;
}

// ---- the stream and the fold ----------------------------------------------------------------

async function loadEvents(reset) {
  if (reset) {
    current.events = [];
    current.eventsCursor = null;
    $("timeline").tBodies[0].replaceChildren();
  }
  const cursor = current.eventsCursor ? `&cursor=${encodeURIComponent(current.eventsCursor)}` : "";
  try {
    const [{ body }, signedUpTo] = await Promise.all([
      api(`/accounts/${current.id}/events?limit=${EVENTS_PAGE}${cursor}`),
      signedPosition(),
    ]);
    current.signedUpTo = signedUpTo;
    const firstNew = current.events.length;
    current.events.push(...body.events);
    current.states = foldSteps(current.events);
    current.eventsCursor = body.next_cursor ?? null;
    $("more-events").hidden = !current.eventsCursor;
    body.events.forEach((event, offset) => $("timeline").tBodies[0].append(timelineRow(event, firstNew + offset)));
    sayCoverage();
    selectStep(current.events.length - 1);
  } catch (error) {
    say("account-status", `Could not read the events: ${problemText(error)}`, true);
  }
}

/**
 * The position up to which a signed checkpoint covers the log (`GET /chain`'s `signed_up_to`):
 * a number, `null` before the first checkpoint, or `undefined` when this key may not ask
 * (operator keys only).
 */
async function signedPosition() {
  try {
    const { body } = await api("/chain?limit=1");
    return body.signed_up_to ?? null;
  } catch {
    return undefined;
  }
}

function sayCoverage() {
  const signedUpTo = current.signedUpTo;
  const covered = current.events.filter((event) => signedUpTo != null && event.position <= signedUpTo).length;
  say("chain-coverage", signedUpTo === undefined
    ? "Whether a signed checkpoint covers these events is for operator keys to see (GET /chain)."
    : signedUpTo === null
      ? "No checkpoint signed yet: the service signs the chain's head when started with --signing-key-file."
      : `${covered} of ${current.events.length} events loaded are covered by a signed checkpoint (the log up to position ${signedUpTo}).`);
}

/** The short form of an event's link, and whether a signed checkpoint covers it. */
function hashCell(event) {
  if (!event.hash) return node("td", { className: "muted", text: "not linked" });
  const signed = current.signedUpTo != null && event.position <= current.signedUpTo;
  return node("td", { className: "hash", attrs: { title: event.hash } }, [
    node("code", { text: `${event.hash.slice(0, 10)}…` }),
    node("span", { className: signed ? "signed" : "muted", text: signed ? " signed" : current.signedUpTo === undefined ? "" : " not yet signed" }),
  ]);
}

function timelineRow(event, index) {
  const data = event.data;
  const currency = data.currency ?? current.account?.currency ?? "EUR";
  const change = balanceChange(event);
  const choose = node("button", { className: "event-type", text: event.type, attrs: { type: "button" } });
  choose.addEventListener("click", () => selectStep(index));
  const eventCell = node("td", {}, [choose, ...eventDetails(event)]);
  // Key ids are UUIDv7: their first digits are a timestamp, their last ones tell keys apart.
  const keyId = event.metadata?.key_id;
  const causedBy = node("td", { className: "muted" }, [
    node("span", { className: "command", text: event.metadata?.command ?? "?" }),
    node("span", { text: keyId ? `key …${String(keyId).slice(-8)}` : "no key", attrs: keyId ? { title: keyId } : {} }),
  ]);
  const cells = [
    ["version", node("td", { text: String(event.version) })],
    ["position", node("td", { text: String(event.position) })],
    ["event", eventCell],
    ["amount", node("td", { className: `money ${change < 0 ? "debit" : ""}`, text: change === 0 ? "" : formatMoney(change, currency) })],
    ["business time", node("td", { className: "time", text: readableTime(event.occurred_at), attrs: { title: event.occurred_at } })],
    ["recorded", node("td", { className: "time", text: readableTime(event.recorded_at, event.occurred_at), attrs: { title: event.recorded_at } })],
    ["caused by", causedBy],
    ["hash", hashCell(event)],
  ];
  // The labels let narrow screens show each row as a card (style.css).
  for (const [label, cell] of cells) cell.dataset.label = label;
  return node("tr", {
    className: `event type-${event.type}`,
    attrs: { "data-version": event.version, "data-position": event.position, "data-type": event.type },
  }, cells.map(([, cell]) => cell));
}

/** `2026-11-28 07:40:25.653`, or only the time when `sameDayAs` is on the same day. */
function readableTime(instant, sameDayAs) {
  const text = String(instant).replace("T", " ").replace(/(\.\d{3})\d*/, "$1").replace(/Z$/, "");
  return sameDayAs && String(sameDayAs).slice(0, 10) === text.slice(0, 10) ? text.slice(11) : text;
}

/** What a transfer step or a reversal adds to its row: the other side, the reason. */
function eventDetails(event) {
  const data = event.data;
  const details = [];
  const link = (label, id) => {
    const button = node("button", { className: "link", text: `${label} ${short(id)}`, attrs: { type: "button" } });
    button.addEventListener("click", () => showAccount(id));
    return button;
  };
  if (data.transfer_id) details.push(node("span", { className: "muted", text: ` transfer ${short(data.transfer_id)}` }));
  if (event.type === "TransferDebited") details.push(link("to", data.to_account));
  if (event.type === "TransferCredited") details.push(link("from", data.from_account));
  if (event.type === "TransferRefunded") {
    details.push(node("span", { className: "reason", text: ` refused by ${short(data.to_account)}: ${data.reason}` }));
  }
  if (event.type === "TransactionReversed") details.push(node("span", { className: "muted", text: ` reverses ${short(data.transaction_id)}` }));
  // Choreography: the account records the crossing; the fee policy, reacting to it, sends the
  // charge. The two events are linked by the movement that crossed zero.
  if (event.type === "AccountOverdrawn") {
    details.push(node("span", { className: "policy-label", text: ` balance ${formatMoney(data.balance, data.currency)} after ${short(data.transaction_id)}: the fee policy reacts` }));
  }
  if (event.type === "OverdraftFeeCharged") {
    details.push(node("span", { className: "policy-label", text: ` fee ${formatMoney(data.amount, data.currency)} for ${short(data.cause)}, charged by the fee policy` }));
  }
  const hold = holdLabel(event);
  if (hold) {
    details.push(
      node("span", { className: "hold-label", text: hold }),
      node("span", { className: "muted", text: ` hold ${short(data.hold_id)}` }),
    );
  }
  if (data.description) details.push(node("span", { className: "muted", text: ` “${data.description}”` }));
  if (event.type === "AccountFrozen") details.push(node("span", { className: "muted", text: ` (${data.reason})` }));
  return details;
}

/** What a hold event did, in words: `hold placed 80.00 EUR, expires 2026-12-13 09:30:00.000`. */
function holdLabel(event) {
  const data = event.data;
  const money = (minor) => formatMoney(minor, data.currency);
  switch (event.type) {
    case "HoldPlaced":
      return `hold placed ${money(data.amount)}, expires ${readableTime(data.expires_at)}`;
    case "HoldCaptured":
      // A partial capture releases the rest, available again: say how much.
      return data.released > 0
        ? `hold captured ${money(data.amount)}, ${money(data.released)} released`
        : `hold captured ${money(data.amount)} in full`;
    case "HoldVoided":
      return `hold voided, ${money(data.released)} released`;
    case "HoldExpired":
      return `hold expired, ${money(data.released)} released`;
    default:
      return null;
  }
}

function selectStep(index) {
  if (!current || index < 0 || index >= current.events.length) return;
  current.selected = index;
  for (const row of $("timeline").tBodies[0].rows) row.classList.remove("selected");
  const row = $("timeline").tBodies[0].rows[index];
  row?.classList.add("selected");
  row?.setAttribute("aria-current", "step");
  $("fold-previous").disabled = index === 0;
  $("fold-next").disabled = index === current.events.length - 1;
  renderFold(index);
}

function renderFold(index) {
  const event = current.events[index];
  const after = current.states[index];
  const before = index > 0 ? current.states[index - 1] : { opened: false };
  const money = (state, value) => (state.opened && value != null ? formatMoney(value, state.currency) : "—");
  const fields = [
    ["status", (state) => (state.opened ? (state.frozen_reason ? `${state.status} by the ${state.frozen_by} (${state.frozen_reason})` : state.status) : "not opened")],
    ["balance", (state) => money(state, state.balance)],
    ["held", (state) => money(state, state.opened ? heldAmount(state) : null)],
    ["available", (state) => money(state, state.opened ? availableAmount(state) : null)],
    ["open holds", (state) => (state.opened ? String(openHolds(state).length) : "—")],
    ["overdraft limit", (state) => money(state, state.overdraft_limit)],
    ["daily withdrawal limit", (state) => (state.opened ? (state.daily_withdrawal_limit == null ? "none" : money(state, state.daily_withdrawal_limit)) : "—")],
    ["withdrawn that day", (state) => (state.withdrawals_today ? `${money(state, state.withdrawals_today.total)} on ${state.withdrawals_today.day}` : "—")],
    ["transfers in flight", (state) => (state.opened ? String(pendingTransfers(state)) : "—")],
    ["overdraft fees due", (state) => (state.opened ? String(Object.keys(state.fees_due ?? {}).length) : "—")],
    ["version", (state) => (state.opened ? String(state.version) : "0")],
  ];
  const rows = fields.map(([name, show]) => {
    const was = show(before);
    const is = show(after);
    const changed = was !== is;
    return node("tr", { className: changed ? "changed" : "" }, [
      node("th", { text: name, attrs: { scope: "row" } }),
      node("td", { text: was }),
      node("td", { text: is }),
      node("td", { className: "change-mark", text: changed ? "changed" : "" }),
    ]);
  });
  const table = node("table", { className: "fold" }, [
    node("caption", { text: `After event ${event.version} of ${current.events.length} loaded: ${event.type} at position ${event.position}` }),
    node("thead", {}, [node("tr", {}, [
      node("th", { text: "field", attrs: { scope: "col" } }),
      node("th", { text: "before", attrs: { scope: "col" } }),
      node("th", { text: "after", attrs: { scope: "col" } }),
      node("th", { text: "", attrs: { scope: "col" } }),
    ])]),
    node("tbody", {}, rows),
  ]);
  $("fold-view").replaceChildren(table);
  $("fold-view").dataset.version = String(event.version);
  $("fold-view").dataset.balance = String(after.balance ?? "");
}

// ---- the history and holds read models: the chart, the open holds ---------------------------

/**
 * Every item of a paginated list, following `next_cursor` (`path` has a query already), and
 * the position its read model had reached when the first page, the newest items, was read.
 */
async function readAll(path) {
  const items = [];
  let position = null;
  let cursor = "";
  for (;;) {
    const { body, headers } = await api(`${path}${cursor}`);
    items.push(...body.items);
    position ??= Number(headers.get("X-Projection-Position"));
    if (!body.next_cursor) return { items, position };
    cursor = `&cursor=${encodeURIComponent(body.next_cursor)}`;
  }
}

/**
 * The movements, then the holds read at least as far on in the log: a holds read model behind
 * the movements would draw a capture's payment without the release of its hold. The chart
 * leaves out what the holds read model has beyond the movements' position.
 */
async function loadHistory() {
  let movements;
  let holds;
  try {
    movements = await readAll(`/accounts/${current.id}/transactions?limit=500${waitForWrites()}`);
    const wait = Math.max(current.minPosition, movements.position);
    holds = await readAll(`/accounts/${current.id}/holds?limit=500&min_position=${wait}`);
  } catch (error) {
    say("account-status", `Could not read the movements and holds: ${problemText(error)}`, true);
    return;
  }
  current.movements = movements.items.reverse(); // Newest first; a chart reads left to right.
  current.holds = holds.items;
  renderOpenHolds();
  const { currency, overdraft_limit: overdraft } = current.account;
  const steps = chartSteps(current.movements, current.holds, overdraft, movements.position);
  drawBalanceChart($("chart"), steps, currency, (movement) => {
    const index = current.events.findIndex((event) => event.version === movement.version);
    if (index >= 0) {
      selectStep(index);
      $("fold-title").scrollIntoView({ block: "nearest" });
    }
  });
}

/** The panel of the holds open now, from the holds read model (the fold's are per event). */
function renderOpenHolds() {
  const open = current.holds.filter((hold) => hold.status === "open");
  const held = open.reduce((sum, hold) => sum + hold.amount, 0);
  say("holds-summary", open.length === 0
    ? "No open holds."
    : `${open.length} open, ${formatMoney(held, current.account.currency)} held.`);
  $("holds-summary").dataset.held = String(held);
  $("hold-list").replaceChildren(...open.map((hold) => holdItem(hold, Date.now())));
}

/**
 * One open hold: its amount, what for, its deadline. `seenAt` is the instant it is shown for
 * (now, or a time-travel instant): a deadline before it is passed, the hold about to expire.
 */
function holdItem(hold, seenAt) {
  const deadline = readableTime(hold.expires_at);
  const passed = Date.parse(hold.expires_at) <= seenAt;
  return node("li", { className: "hold", attrs: { "data-hold-id": hold.hold_id } }, [
    node("span", { className: "money", text: formatMoney(hold.amount, hold.currency) }),
    node("span", {
      className: hold.description ? "hold-description" : "hold-description muted",
      text: hold.description ? `“${hold.description}”` : "no description",
    }),
    node("span", {
      className: passed ? "deadline behind" : "deadline",
      text: passed ? `deadline ${deadline} passed: expiring` : `expires ${deadline}`,
      attrs: { title: hold.expires_at },
    }),
    node("span", {
      className: "muted",
      text: `hold ${short(hold.hold_id)}, placed ${readableTime(hold.placed_at)}`,
      attrs: { title: hold.hold_id },
    }),
  ]);
}

/** A list of open holds, or a note that there is none. */
function holdList(holds, seenAt, id) {
  if (holds.length === 0) return node("p", { className: "note", text: "none", attrs: { id } });
  const items = holds.map((hold) => holdItem(hold, seenAt));
  return node("ul", { className: "holds", attrs: { id } }, items);
}

// ---- time travel ----------------------------------------------------------------------------

function resetTravel() {
  const slider = $("travel-slider");
  const opened = Date.parse(current.account.opened_at);
  const now = Date.now();
  slider.min = String(opened);
  slider.max = String(Math.max(now, opened + 1));
  slider.value = slider.max;
  $("travel-at").value = new Date(Number(slider.max)).toISOString();
}

/**
 * Asks the service for the account at an instant: `GET /accounts/{id}?at=` folds the log up to
 * it, `GET /accounts/{id}/balance?at=` reads the history read model, and
 * `GET /accounts/{id}/holds?at=` the holds open then. Shown beside today's.
 */
async function travel() {
  const at = $("travel-at").value.trim();
  if (!current || !at) return;
  const query = `?at=${encodeURIComponent(at)}`;
  const view = $("travel-view");
  try {
    const [{ body: then }, { body: balance }, { items: heldThen }] = await Promise.all([
      api(`/accounts/${current.id}${query}`),
      api(`/accounts/${current.id}/balance${query}`),
      readAll(`/accounts/${current.id}/holds${query}&limit=500`),
    ]);
    const now = current.account;
    const heldNow = current.holds.filter((hold) => hold.status === "open");
    const folded = (minor) => formatMoney(minor, then.currency);
    const column = (title, id, facts, holds) =>
      node("div", { className: "moment", attrs: { id } }, [
        node("h3", { text: title }),
        node("dl", { className: "facts" }, facts.flatMap(([term, value, valueId]) => [
          node("dt", { text: term }),
          node("dd", { text: value, attrs: valueId ? { id: valueId } : {} }),
        ])),
        node("h4", { text: "open holds (holds read model)" }),
        holds,
      ]);
    view.replaceChildren(
      column(`At ${at}`, "travel-then", [
        ["balance (history read model)", formatMoney(balance.balance, balance.currency), "travel-balance"],
        ["balance (fold of the log)", folded(then.balance)],
        ["held (fold of the log)", folded(then.held), "travel-held"],
        ["available (fold of the log)", folded(then.available), "travel-available"],
        ["status", then.status],
        ["version", String(then.version)],
      ], holdList(heldThen, Date.parse(at), "travel-holds")),
      column("Now", "travel-now", [
        ["balance", formatMoney(now.balance, now.currency), "now-balance"],
        ["balance (fold of the log)", "—"],
        ["held", formatMoney(now.held, now.currency), "now-held"],
        ["available", formatMoney(now.available, now.currency), "now-available"],
        ["status", now.status],
        ["version", String(now.version)],
      ], holdList(heldNow, Date.now(), "now-holds")),
    );
    $("travel-balance").dataset.minorUnits = String(balance.balance);
  } catch (error) {
    view.replaceChildren(node("p", { className: "error", text: `At ${at}: ${problemText(error)}` }));
  }
}

// ---- transfers --------------------------------------------------------------------------------

async function loadTransfers() {
  try {
    const { body } = await api(`/accounts/${current.id}/transfers?limit=50${waitForWrites()}`);
    const list = $("transfer-list");
    list.replaceChildren();
    if (body.items.length === 0) list.append(node("li", { className: "note", text: "No transfers." }));
    for (const transfer of body.items) list.append(transferItem(transfer));
  } catch (error) {
    say("account-status", `Could not read the transfers: ${problemText(error)}`, true);
  }
}

function transferItem(transfer) {
  const money = formatMoney(transfer.amount, transfer.currency);
  const outgoing = transfer.from_account === current.id;
  const other = outgoing ? transfer.to_account : transfer.from_account;
  const open = node("button", { className: "link", text: `${outgoing ? "to" : "from"} ${short(other)}`, attrs: { type: "button" } });
  open.addEventListener("click", () => showAccount(other));
  const steps = [
    node("li", { text: `requested, ${short(transfer.from_account)} debited (position ${transfer.debit_position})` }),
  ];
  if (transfer.credit_position != null) {
    steps.push(node("li", { text: `${short(transfer.to_account)} credited (position ${transfer.credit_position})` }));
  }
  if (transfer.refund_position != null) {
    steps.push(node("li", { className: "reason", text: `refunded to ${short(transfer.from_account)} (position ${transfer.refund_position}): ${transfer.reason}` }));
  }
  if (transfer.status === "pending") steps.push(node("li", { className: "muted", text: "in flight: waiting for the process manager" }));
  return node("li", { className: `transfer status-${transfer.status}`, attrs: { "data-transfer-id": transfer.transfer_id } }, [
    node("span", { className: "money", text: money }),
    " ",
    open,
    node("span", { className: `badge ${transfer.status}`, text: transfer.status }),
    node("ol", { className: "steps" }, steps),
  ]);
}

// ---- commands: the write side, then the read side -------------------------------------------

async function movement(event, path, inputId) {
  event.preventDefault();
  if (!current) return;
  const input = $(inputId);
  try {
    const amount = parseMoney(input.value, current.account.currency);
    const { body } = await api(`/accounts/${current.id}/${path}`, {
      method: "POST",
      body: { amount, currency: current.account.currency },
    });
    input.value = "";
    await afterCommand(path === "deposits" ? "deposit" : "withdrawal", body, current.id);
    if (path === "withdrawals") await followOverdraftFee(body);
  } catch (error) {
    commandFailed(error);
  }
}

async function transfer(event) {
  event.preventDefault();
  if (!current) return;
  try {
    const amount = parseMoney($("transfer-amount").value, current.account.currency);
    const { body } = await api("/transfers", {
      method: "POST",
      body: {
        from_account: current.id,
        to_account: $("transfer-to").value.trim(),
        amount,
        currency: current.account.currency,
      },
    });
    $("transfer-amount").value = "";
    await afterCommand("transfer", body, current.id);
    await followTransfer(body);
  } catch (error) {
    commandFailed(error);
  }
}

function commandFailed(error) {
  $("consistency").replaceChildren(node("p", { className: "error", text: `Refused: ${problemText(error)}` }));
}

/**
 * Shows eventual consistency as it happens: the command's position, a read that does not wait
 * (its `X-Projection-Position` may be behind), then a read with `min_position` that waits until
 * the read model reflects the command.
 */
async function afterCommand(name, answer, accountId) {
  const steps = node("ol", { className: "steps" });
  $("consistency").replaceChildren(steps);
  const step = (text, className = "") => steps.append(node("li", { text, className }));
  step(`${name}: appended to the log at position ${answer.position} (stream version ${answer.version})`);
  if (!current || current.id !== accountId) {
    // A new account: until its read models reach the command, reading it would be a 404.
    await showAccount(accountId, answer.position);
    $("consistency").replaceChildren(steps);
    step(`read with min_position=${answer.position}: the read model is at position ${current.readPosition}, the account is there`);
    return;
  }
  current.minPosition = Math.max(current.minPosition, answer.position);
  const seen = await loadCurrent();
  step(
    seen >= answer.position
      ? `read at once: the read model was already at position ${seen}`
      : `read at once: the read model was at position ${seen}, ${answer.position - seen} behind`,
    seen >= answer.position ? "" : "behind",
  );
  let waited;
  try {
    waited = await loadCurrent(answer.position);
  } catch (error) {
    if (!(error instanceof Problem && error.type?.endsWith(":projection-behind"))) throw error;
    step(
      `read with min_position=${answer.position}: not reached within the read wait (503 projection-behind)` +
        ($("pause-balances").checked ? ": the read model is paused; resume it to see the write" : ""),
      "behind",
    );
    await loadEvents(true);
    return;
  }
  step(`read with min_position=${answer.position}: the read model is at position ${waited}, the write is visible`);
  await Promise.all([loadEvents(true), loadHistory(), loadTransfers(), loadAccounts(true)]);
  resetTravel();
}

/**
 * Pauses or resumes the `account_balances` read model (an operator endpoint), so that eventual
 * consistency can be watched: while it is paused, a command's read at once stays behind and its
 * `min_position` read answers 503; once resumed, the same read answers the write.
 */
async function togglePause() {
  const paused = $("pause-balances").checked;
  const steps = node("ol", { className: "steps" });
  $("consistency").replaceChildren(steps);
  const step = (text, className = "") => steps.append(node("li", { text, className }));
  let body;
  session.pausing = true;
  try {
    ({ body } = await api(`/projections/account_balances/${paused ? "pause" : "resume"}`, {
      method: "POST",
      body: {},
    }));
  } catch (error) {
    $("pause-balances").checked = !paused;
    step(`Refused: ${problemText(error)}`, "error");
    return;
  } finally {
    session.pausing = false;
  }
  try {
    if (paused) {
      step(`account_balances paused at position ${body.checkpoint}: commands still append to the log`, "behind");
      return;
    }
    step(`account_balances resumed at position ${body.checkpoint}`);
    if (current && current.minPosition > 0) {
      const waited = await loadCurrent(current.minPosition);
      step(`read with min_position=${current.minPosition}: the read model is at position ${waited}, every write is visible`);
      await Promise.all([loadEvents(true), loadHistory(), loadTransfers(), loadAccounts(true)]);
      resetTravel();
    }
    await refreshProjections();
  } catch (error) {
    step(`resumed, but the read after it failed: ${problemText(error)}`, "error");
  }
}

const pause = () => new Promise((resolve) => setTimeout(resolve, 250));

/**
 * Follows the transfer's process manager: waits until the process manager has credited the destination or refunded
 * the source, then, after a credit, until the source's stream records the completion too (its
 * last step, a moment later). Gives up after about ten seconds each, saying so.
 */
async function followTransfer(accepted) {
  const steps = $("consistency").querySelector("ol");
  const say = (text, className = "") => steps?.append(node("li", { text, className }));
  let settled = null;
  for (let attempt = 0; attempt < 40 && !settled; attempt += 1) {
    const { body } = await api(`/transfers/${accepted.transfer_id}?min_position=${accepted.position}`);
    if (body.status !== "pending") settled = body;
    else await pause();
  }
  if (!settled) {
    say("the transfer is still in flight", "behind");
    return;
  }
  current.minPosition = Math.max(current.minPosition, settled.credit_position ?? 0, settled.refund_position ?? 0);
  if (settled.status === "failed") {
    say(`transfer ${short(settled.transfer_id)} failed: refunded at position ${settled.refund_position} (${settled.reason})`);
  } else {
    say(`transfer ${short(settled.transfer_id)}: destination credited at position ${settled.credit_position}`);
    const completion = await sourceEvent(accepted, "TransferCompleted");
    say(completion
      ? `transfer ${short(settled.transfer_id)} completed: the source recorded it at position ${completion.position}`
      : "the source has not yet recorded the completion", completion ? "" : "behind");
  }
  await Promise.all([
    loadEvents(true),
    loadHistory(),
    loadTransfers(),
    loadCurrent(current.minPosition),
  ]);
}

/**
 * Follows the overdraft fee policy, a reaction with no coordinator (choreography): when the
 * withdrawal `answer` took the balance below zero, its own events end with `AccountOverdrawn`;
 * the policy, following the log, then charges the fee, a moment later, naming the withdrawal as
 * its cause. Gives up after about ten seconds, saying so.
 */
async function followOverdraftFee(answer) {
  const steps = $("consistency").querySelector("ol");
  const say = (text, className = "") => steps?.append(node("li", { text, className }));
  if (current.account?.overdraft_fee == null) return;
  const account = current.id;
  // The withdrawal's own events: its MoneyWithdrawn and, when it crossed, AccountOverdrawn.
  const after = answer.version - 2;
  const { body } = await api(`/accounts/${account}/events?limit=500${after > 0 ? `&cursor=${after}` : ""}`);
  const crossing = body.events.find(
    (event) => event.type === "AccountOverdrawn" && event.data.transaction_id === answer.transaction_id,
  );
  if (!crossing) return;
  say(`the balance went below zero: the account recorded AccountOverdrawn at position ${crossing.position}, and nothing more; the overdraft fee policy reacts`);
  for (let attempt = 0; attempt < 40; attempt += 1) {
    const { body: later } = await api(`/accounts/${account}/events?cursor=${crossing.version}&limit=500`);
    const fee = later.events.find(
      (event) => event.type === "OverdraftFeeCharged" && event.data.cause === answer.transaction_id,
    );
    if (fee) {
      say(`the policy charged the fee: OverdraftFeeCharged at position ${fee.position}, once for this crossing`);
      if (current?.id !== account) return;
      current.minPosition = Math.max(current.minPosition, fee.position);
      await Promise.all([loadEvents(true), loadHistory(), loadCurrent(current.minPosition)]);
      return;
    }
    await pause();
  }
  say("the fee is not charged yet", "behind");
}

/** The event of type `type` for this transfer on the source's stream, once it is there. */
async function sourceEvent(accepted, type) {
  for (let attempt = 0; attempt < 40; attempt += 1) {
    const { body } = await api(`/accounts/${accepted.from_account}/events?cursor=${accepted.version}&limit=500`);
    const found = body.events.find((event) => event.type === type && event.data.transfer_id === accepted.transfer_id);
    if (found) return found;
    await pause();
  }
  return null;
}

// ---- projections --------------------------------------------------------------------------------

async function refreshProjections() {
  if (document.visibilityState === "hidden") return;
  try {
    const { body } = await api("/projections");
    const rows = body.projections.map((projection) =>
      node("tr", { className: projection.last_error ? "failing" : "", attrs: { "data-follower": projection.name } }, [
        node("th", { text: projection.name, attrs: { scope: "row" } }),
        node("td", { text: String(projection.checkpoint) + (projection.paused_at ? " (paused)" : "") }),
        node("td", { text: projection.lag_events === 0 ? "0" : `${projection.lag_events} (${projection.lag_ms} ms)` }),
        node("td", {
          className: projection.last_error ? "error" : "muted",
          text: (projection.last_error ?? "none") + (projection.parked.length ? ` · ${projection.parked.length} parked` : ""),
        }),
      ]));
    $("projections").tBodies[0].replaceChildren(...rows);
    // The switch shows what the service says, whoever paused it (and after a reload).
    const balances = body.projections.find((projection) => projection.name === "account_balances");
    if (balances && !session.pausing) $("pause-balances").checked = balances.paused_at != null;
    say("projections-status", `Head of the log: position ${body.head}.`);
    await refreshWebhooks();
  } catch (error) {
    if (error instanceof Problem && error.status === 403) {
      clearInterval(session.projectionsTimer);
      say("projections-status", "Projections are for operator keys.");
    } else if (error instanceof Problem && error.status === 401) {
      clearInterval(session.projectionsTimer);
      say("projections-status", `The key was refused: ${problemText(error)}`, true);
    } else {
      say("projections-status", `Could not read the projections: ${problemText(error)}`, true);
    }
  }
}

// ---- webhooks -----------------------------------------------------------------------------------

/** The webhook subscriptions with their backlog; operators only, like the projections. */
async function refreshWebhooks() {
  try {
    const { body } = await api("/webhooks");
    const rows = body.webhooks.map((webhook) =>
      node("tr", { className: webhook.backlog.parked ? "failing" : "", attrs: { "data-webhook": webhook.webhook_id } }, [
        node("th", { text: webhook.description ?? webhook.url, attrs: { scope: "row", title: webhook.url } }),
        node("td", { text: String(webhook.backlog.waiting) }),
        node("td", { className: webhook.backlog.parked ? "error" : "muted", text: String(webhook.backlog.parked) }),
        node("td", { text: String(webhook.backlog.lag_events) + (webhook.replay ? " · replaying" : "") }),
      ]));
    $("webhooks").tBodies[0].replaceChildren(...rows);
    say("webhooks-status", rows.length ? "" : "No subscription yet: POST /webhooks makes one.");
  } catch (error) {
    say("webhooks-status", `Could not read the webhooks: ${problemText(error)}`, true);
  }
}

start();
