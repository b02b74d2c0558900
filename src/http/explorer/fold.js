// The fold, in the browser: state = fold(evolve, initial, events[..=n]).
//
// A small mirror of `evolve` in src/domain/account/evolve.rs, kept to what the page shows
// (balance, status, limits, today's withdrawals, transfers in flight, holds). The server's fold is
// the truth; this one exists so that each step of it can be shown. Folding here rather than
// asking `GET /accounts/{id}?at=` per event is deliberate: several events can share one
// instant (an opening and its first deposit do), and `at` shows the state after all of them,
// while the fold shows the state after each one.

export const INITIAL = Object.freeze({ opened: false });

/** How an event changes the balance, in minor units (`balance_change` in event.rs). */
export function balanceChange(event) {
  const data = event.data;
  switch (event.type) {
    case "MoneyDeposited":
    case "TransferCredited":
    case "TransferRefunded":
      return data.amount;
    case "MoneyWithdrawn":
    case "TransferDebited":
    case "HoldCaptured":
    case "OverdraftFeeCharged":
      return -data.amount;
    case "TransactionReversed":
      return data.signed_amount;
    default:
      return 0;
  }
}

const day = (instant) => String(instant).slice(0, 10);

function withWithdrawal(today, onDay, amount) {
  const total = (today && today.day === onDay ? today.total : 0) + amount;
  return { day: onDay, total };
}

/** Ends an open hold (`settle_hold` in state.rs): what it released on the day it was placed
 * goes back to the daily limit. */
function settleHold(next, data, status) {
  const hold = next.holds[data.hold_id];
  if (!hold || hold.status !== "open") return;
  const today = next.withdrawals_today;
  const releasedOn = day(data.occurred_at);
  if (today && today.day === hold.placed_on && hold.placed_on === releasedOn) {
    next.withdrawals_today = { day: today.day, total: Math.max(0, today.total - data.released) };
  }
  next.holds[data.hold_id] = { ...hold, status };
}

/** Applies one event to the state; like the server's, it refuses nothing. */
export function evolve(state, event) {
  const data = event.data;
  if (!state.opened) {
    if (event.type !== "AccountOpened") return state;
    return {
      opened: true,
      version: event.version,
      currency: data.currency,
      balance: 0,
      overdraft_limit: data.overdraft_limit,
      daily_withdrawal_limit: data.daily_withdrawal_limit ?? null,
      overdraft_fee: data.overdraft_fee ?? null,
      fees_due: {},
      withdrawals_today: null,
      status: "active",
      frozen_reason: null,
      frozen_by: null,
      // Personal data: opened by the server as it answers, null once the owner is erased.
      holder_name: data.holder_name ?? null,
      transfers_out: {},
      transfers_in: {},
      holds: {},
      updated_at: data.occurred_at,
    };
  }
  const next = {
    ...state,
    version: event.version,
    balance: state.balance + balanceChange(event),
    transfers_out: { ...state.transfers_out },
    transfers_in: { ...state.transfers_in },
    holds: { ...state.holds },
    fees_due: { ...state.fees_due },
    updated_at: data.occurred_at,
  };
  switch (event.type) {
    case "MoneyWithdrawn":
      next.withdrawals_today = withWithdrawal(state.withdrawals_today, day(data.occurred_at), data.amount);
      break;
    case "AccountFrozen":
      next.status = "frozen";
      next.frozen_reason = data.reason;
      // Stored at schema version 1, a freeze did not say who froze: only the bank could.
      next.frozen_by = data.by ?? "bank";
      break;
    case "AccountUnfrozen":
      next.status = "active";
      next.frozen_reason = null;
      next.frozen_by = null;
      break;
    case "AccountClosed":
      next.status = "closed";
      break;
    case "HolderRenamed":
      next.holder_name = data.holder_name;
      break;
    case "TransferDebited":
      next.withdrawals_today = withWithdrawal(state.withdrawals_today, day(data.occurred_at), data.amount);
      next.transfers_out[data.transfer_id] = {
        to_account: data.to_account,
        amount: data.amount,
        status: "pending",
        debited_on: day(data.occurred_at),
      };
      break;
    case "TransferCredited":
      next.transfers_in[data.transfer_id] = data.from_account;
      break;
    case "TransferCompleted": {
      const sent = next.transfers_out[data.transfer_id];
      if (sent) next.transfers_out[data.transfer_id] = { ...sent, status: "completed" };
      break;
    }
    case "TransferRefunded": {
      const sent = next.transfers_out[data.transfer_id];
      if (sent) {
        const today = next.withdrawals_today;
        const refundedOn = day(data.occurred_at);
        if (sent.status === "pending" && today && today.day === sent.debited_on && sent.debited_on === refundedOn) {
          next.withdrawals_today = { day: today.day, total: Math.max(0, today.total - sent.amount) };
        }
        next.transfers_out[data.transfer_id] = { ...sent, status: "refunded" };
      }
      break;
    }
    case "HoldPlaced":
      next.withdrawals_today = withWithdrawal(state.withdrawals_today, day(data.occurred_at), data.amount);
      next.holds[data.hold_id] = {
        amount: data.amount,
        status: "open",
        expires_at: data.expires_at,
        placed_on: day(data.occurred_at),
      };
      break;
    case "HoldCaptured":
      settleHold(next, data, "captured");
      break;
    case "HoldVoided":
      settleHold(next, data, "voided");
      break;
    case "HoldExpired":
      settleHold(next, data, "expired");
      break;
    // The account's half of the overdraft fee; the policy's command comes in between.
    case "AccountOverdrawn":
      next.fees_due[data.transaction_id] = true;
      break;
    case "OverdraftFeeCharged":
      delete next.fees_due[data.cause];
      break;
    default:
      break;
  }
  return next;
}

/** The state after each event: `states[n]` is `fold(evolve, INITIAL, events[..=n])`. */
export function foldSteps(events) {
  const states = [];
  let state = INITIAL;
  for (const event of events) {
    state = evolve(state, event);
    states.push(state);
  }
  return states;
}

/** Holds not yet captured, voided or expired. */
export function openHolds(state) {
  return Object.values(state.holds ?? {}).filter((hold) => hold.status === "open");
}

/** Money set aside by open holds (`held` in state.rs): still in the balance, not available. */
export function heldAmount(state) {
  return openHolds(state).reduce((held, hold) => held + hold.amount, 0);
}

/** What a withdrawal, a transfer or a new hold may still take: balance + overdraft - held. */
export function availableAmount(state) {
  return state.balance + state.overdraft_limit - heldAmount(state);
}

/** Transfers sent and not yet credited or refunded. */
export function pendingTransfers(state) {
  return Object.values(state.transfers_out ?? {}).filter((sent) => sent.status === "pending").length;
}
