// The balance against business time, drawn as SVG from the `account_transactions` read model
// (each movement's `balance_after` at its `occurred_at`). One marker per movement; its shape and
// class say what kind it was, so transfers, refunds and reversals stand apart from deposits and
// withdrawals. No charting library: a step line and some markers need none.

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
};

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
    default:
      return element("path", { d: `M${x - r},${y - r}L${x + r},${y + r}M${x - r},${y + r}L${x + r},${y - r}` });
  }
}

/**
 * Draws `movements` (oldest first) into `container`, replacing what was there.
 * `onSelect(movement)` is called when a marker is clicked or chosen with Enter.
 */
export function drawBalanceChart(container, movements, currency, onSelect) {
  container.replaceChildren();
  if (movements.length === 0) {
    const empty = document.createElement("p");
    empty.textContent = "No money has moved yet.";
    container.append(empty);
    return;
  }
  const times = movements.map((movement) => Date.parse(movement.occurred_at));
  const balances = movements.map((movement) => movement.balance_after);
  const first = Math.min(...times);
  const last = Math.max(...times);
  const low = Math.min(0, ...balances);
  const high = Math.max(0, ...balances);
  const spanX = WIDTH - PAD.left - PAD.right;
  const spanY = HEIGHT - PAD.top - PAD.bottom;
  // All at one instant (a scripted burst): spread by order so every marker stays visible.
  const x = (index) =>
    PAD.left + (last === first ? (spanX * (index + 0.5)) / movements.length : (spanX * (times[index] - first)) / (last - first));
  const y = (balance) => PAD.top + (high === low ? spanY / 2 : (spanY * (high - balance)) / (high - low));

  const svg = element("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-labelledby": "chart-title",
    class: "chart",
  });
  svg.append(element("title", { id: "chart-title" }, `Balance of the account over business time, ${movements.length} movements`));

  svg.append(element("line", { class: "axis", x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0) }));
  svg.append(element("line", { class: "axis", x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: HEIGHT - PAD.bottom }));
  for (const value of new Set([high, 0, low])) {
    svg.append(element("text", { class: "tick", x: PAD.left - 8, y: y(value) + 4, "text-anchor": "end" }, formatAmount(value, currency)));
  }
  const timeLabel = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 19);
  svg.append(element("text", { class: "tick", x: PAD.left, y: HEIGHT - 12, "text-anchor": "start" }, timeLabel(first)));
  if (last !== first) {
    svg.append(element("text", { class: "tick", x: WIDTH - PAD.right, y: HEIGHT - 12, "text-anchor": "end" }, timeLabel(last)));
  }

  // A step line: the balance holds until the next movement changes it.
  let path = `M${x(0)},${y(balances[0])}`;
  for (let index = 1; index < movements.length; index += 1) {
    path += `H${x(index)}V${y(balances[index])}`;
  }
  svg.append(element("path", { class: "balance-line", d: path }));

  movements.forEach((movement, index) => {
    const kind = KINDS[movement.kind] ?? { shape: "cross", label: movement.kind };
    const point = element("g", {
      class: `point kind-${movement.kind}`,
      tabindex: 0,
      role: "button",
      "data-version": movement.version,
      "data-kind": movement.kind,
      "aria-label": `${kind.label} ${formatMoney(movement.amount, currency)} at ${movement.occurred_at}, balance ${formatMoney(movement.balance_after, currency)}`,
    });
    point.append(element("title", {}, `${kind.label}: ${formatMoney(movement.amount, currency)}\n${movement.occurred_at}\nbalance ${formatMoney(movement.balance_after, currency)}`));
    point.append(marker(kind.shape, x(index), y(movement.balance_after)));
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
  for (const [name, kind] of Object.entries(KINDS)) {
    const item = document.createElement("li");
    const swatch = element("svg", { viewBox: "0 0 16 16", width: 16, height: 16, "aria-hidden": "true", class: `kind-${name}` });
    swatch.append(marker(kind.shape, 8, 8));
    item.append(swatch, ` ${kind.label}`);
    legend.append(item);
  }
  container.append(legend);
}
