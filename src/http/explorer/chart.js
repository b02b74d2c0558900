// The balance against business time, drawn as SVG from the `account_transactions` read model
// (each movement's `balance_after` at its `occurred_at`). One marker per movement; its shape and
// class say what kind it was, so transfers, refunds and reversals stand apart from deposits and
// withdrawals. Beside it, dashed, what is available (balance + overdraft - held): the same
// movements plus the `account_holds` read model, since a hold moves it without moving the
// balance. No charting library: two step lines and some markers need none.

import { formatAmount, formatMoney } from "/explorer/money.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 800;
const HEIGHT = 280;
const PAD = { left: 90, right: 20, top: 20, bottom: 40 };

/** What a movement kind looks like: marker shape and legend text. */
export const KINDS = {
  deposit: { shape: "up", label: "deposit" },
  withdrawal: { shape: "down", label: "withdrawal" },
  transfer_out: { shape: "diamond", label: "transfer sent" },
  transfer_in: { shape: "diamond", label: "transfer received" },
  transfer_refund: { shape: "square", label: "transfer refunded" },
  reversal: { shape: "cross", label: "reversal" },
  hold_capture: { shape: "circle", label: "hold captured" },
  overdraft_fee: { shape: "square", label: "overdraft fee" },
};

/** The two lines, for the legend: the dash tells them apart, not only the colour. */
const LINES = [
  { className: "balance-line", label: "balance" },
  { className: "available-line", label: "available (balance + overdraft - held)" },
];

/**
 * The points of both lines, in log order: one per movement (its `balance_after`) and one per
 * hold placed or settled, which moves `available` but not the balance. A capture is both at
 * one position, so it is one step: the line never shows the half-way state between its two
 * halves. Hold steps after `upTo`, the position the movements were read at, are left out: the
 * holds read model may be ahead, and both lines should show one moment of the log.
 */
export function chartSteps(movements, holds, overdraftLimit, upTo = Infinity) {
  const changes = new Map();
  const at = (position, instant) => {
    if (!changes.has(position)) {
      changes.set(position, { position, at: instant, movement: null, heldChange: 0 });
    }
    return changes.get(position);
  };
  for (const movement of movements) at(movement.position, movement.occurred_at).movement = movement;
  for (const hold of holds) {
    const { amount, placed_position: placed, position: settled } = hold;
    if (placed <= upTo) at(placed, hold.placed_at).heldChange += amount;
    // Settled, none of it is held any more; what a capture paid out is its movement.
    if (hold.settled_at && settled <= upTo) at(settled, hold.settled_at).heldChange -= amount;
  }
  let balance = 0;
  let held = 0;
  return [...changes.values()]
    .sort((a, b) => a.position - b.position)
    .map((step) => {
      balance = step.movement ? step.movement.balance_after : balance;
      held += step.heldChange;
      return { ...step, balance, available: balance + overdraftLimit - held };
    });
}

function element(name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function marker(shape, x, y) {
  const r = 6;
  switch (shape) {
    case "up":
      return element("polygon", { points: `${x},${y - r} ${x - r},${y + r} ${x + r},${y + r}` });
    case "down":
      return element("polygon", { points: `${x},${y + r} ${x - r},${y - r} ${x + r},${y - r}` });
    case "diamond":
      return element("polygon", { points: `${x},${y - r} ${x + r},${y} ${x},${y + r} ${x - r},${y}` });
    case "square":
      return element("rect", { x: x - r + 1, y: y - r + 1, width: 2 * r - 2, height: 2 * r - 2 });
    case "circle":
      return element("circle", { cx: x, cy: y, r: r - 1 });
    default:
      return element("path", { d: `M${x - r},${y - r}L${x + r},${y + r}M${x - r},${y + r}L${x + r},${y - r}` });
  }
}

/** A step line through `points` ([x, y], left to right): a value holds until the next. */
function stepPath(points) {
  let path = `M${points[0][0]},${points[0][1]}`;
  for (const [x, y] of points.slice(1)) path += `H${x}V${y}`;
  return path;
}

/** What a marker says of its movement, to a screen reader and in its tooltip. */
function describe(step, kind, currency, separator) {
  const movement = step.movement;
  return [
    `${kind.label} ${formatMoney(movement.amount, currency)}`,
    movement.occurred_at,
    `balance ${formatMoney(step.balance, currency)}`,
    `available ${formatMoney(step.available, currency)}`,
  ].join(separator);
}

function legendItem(swatch, label) {
  const item = document.createElement("li");
  item.append(swatch, ` ${label}`);
  return item;
}

/**
 * Draws `steps` (from `chartSteps`) into `container`, replacing what was there.
 * `onSelect(movement)` is called when a marker is clicked or chosen with Enter.
 */
export function drawBalanceChart(container, steps, currency, onSelect) {
  container.replaceChildren();
  const movements = steps.filter((step) => step.movement).length;
  if (movements === 0) {
    const empty = document.createElement("p");
    empty.textContent = "No money has moved yet.";
    container.append(empty);
    return;
  }
  const times = steps.map((step) => Date.parse(step.at));
  const values = steps.flatMap((step) => [step.balance, step.available]);
  const first = Math.min(...times);
  const last = Math.max(...times);
  const low = Math.min(0, ...values);
  const high = Math.max(0, ...values);
  const spanX = WIDTH - PAD.left - PAD.right;
  const spanY = HEIGHT - PAD.top - PAD.bottom;
  // All at one instant (a scripted burst): spread by order so every marker stays visible.
  const x = (index) =>
    PAD.left +
    (last === first
      ? (spanX * (index + 0.5)) / steps.length
      : (spanX * (times[index] - first)) / (last - first));
  const y = (value) =>
    PAD.top + (high === low ? spanY / 2 : (spanY * (high - value)) / (high - low));

  const svg = element("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-labelledby": "chart-title",
    class: "chart",
  });
  svg.append(element("title", { id: "chart-title" },
    `Balance and available money of the account over business time, ${movements} movements`));

  const [left, right, top, bottom] = [PAD.left, WIDTH - PAD.right, PAD.top, HEIGHT - PAD.bottom];
  svg.append(element("line", { class: "axis", x1: left, x2: right, y1: y(0), y2: y(0) }));
  svg.append(element("line", { class: "axis", x1: left, x2: left, y1: top, y2: bottom }));
  for (const value of new Set([high, 0, low])) {
    const at = { class: "tick", x: left - 8, y: y(value) + 4, "text-anchor": "end" };
    svg.append(element("text", at, formatAmount(value, currency)));
  }
  const timeLabel = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  const baseline = HEIGHT - 12;
  const start = { class: "tick", x: left, y: baseline, "text-anchor": "start" };
  svg.append(element("text", start, timeLabel(first)));
  if (last !== first) {
    const end = { class: "tick", x: right, y: baseline, "text-anchor": "end" };
    svg.append(element("text", end, timeLabel(last)));
  }

  // Available first, so that where the two lines meet (no overdraft, nothing held) the
  // balance is drawn over it.
  const line = (value) => stepPath(steps.map((step, index) => [x(index), y(step[value])]));
  svg.append(element("path", { class: "available-line", d: line("available") }));
  svg.append(element("path", { class: "balance-line", d: line("balance") }));

  steps.forEach((step, index) => {
    const movement = step.movement;
    if (!movement) return;
    const kind = KINDS[movement.kind] ?? { shape: "cross", label: movement.kind };
    const point = element("g", {
      class: `point kind-${movement.kind}`,
      tabindex: 0,
      role: "button",
      "data-version": movement.version,
      "data-kind": movement.kind,
      "aria-label": describe(step, kind, currency, ", "),
    });
    point.append(element("title", {}, describe(step, kind, currency, "\n")));
    point.append(marker(kind.shape, x(index), y(step.balance)));
    point.addEventListener("click", () => onSelect(movement));
    point.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        onSelect(movement);
      }
    });
    svg.append(point);
  });
  container.append(svg);

  const legend = document.createElement("ul");
  legend.className = "legend";
  for (const { className, label } of LINES) {
    const swatch = element("svg", {
      viewBox: "0 0 24 16",
      width: 24,
      height: 16,
      "aria-hidden": "true",
      class: "line-swatch",
    });
    swatch.append(element("path", { class: className, d: "M1,8H23" }));
    legend.append(legendItem(swatch, label));
  }
  for (const [name, kind] of Object.entries(KINDS)) {
    const swatch = element("svg", {
      viewBox: "0 0 16 16",
      width: 16,
      height: 16,
      "aria-hidden": "true",
      class: `kind-${name}`,
    });
    swatch.append(marker(kind.shape, 8, 8));
    legend.append(legendItem(swatch, kind.label));
  }
  container.append(legend);
}
