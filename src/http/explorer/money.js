// Amounts travel as integers in the currency's minor unit (2500 EUR is 25.00 EUR). These
// helpers convert between that and what a person reads and types, exactly: by digits, never
// through floating-point division.

// ISO 4217 exponents that are not 2, for the currencies the service supports
// (the same table as `CURRENCIES` in src/domain/money.rs).
const EXPONENTS = { BHD: 3, KWD: 3, ISK: 0, JPY: 0, KRW: 0 };

export function exponent(currency) {
  return EXPONENTS[currency] ?? 2;
}

/** `formatMoney(2500, "EUR")` is `"25.00 EUR"`; `formatMoney(2500, "JPY")` is `"2500 JPY"`. */
export function formatMoney(minor, currency) {
  return `${formatAmount(minor, currency)} ${currency}`;
}

/** The number alone, with the currency's decimals: `formatAmount(-5, "EUR")` is `"-0.05"`. */
export function formatAmount(minor, currency) {
  const digits = exponent(currency);
  const negative = minor < 0;
  const magnitude = String(Math.abs(minor));
  if (digits === 0) return (negative ? "-" : "") + magnitude;
  const padded = magnitude.padStart(digits + 1, "0");
  return (negative ? "-" : "") + padded.slice(0, -digits) + "." + padded.slice(-digits);
}

/** Parses what a person typed ("25", "25.5", "25.00") into minor units, or throws why not. */
export function parseMoney(text, currency) {
  const digits = exponent(currency);
  const match = /^\s*(\d+)(?:\.(\d*))?\s*$/.exec(text);
  if (!match) throw new Error(`"${text}" is not an amount (digits, and a point for decimals)`);
  const fraction = match[2] ?? "";
  if (fraction.length > digits) {
    throw new Error(`${currency} has ${digits} decimal${digits === 1 ? "" : "s"}`);
  }
  const minor = Number(match[1] + fraction.padEnd(digits, "0"));
  if (!Number.isSafeInteger(minor) || minor <= 0) throw new Error("the amount must be above zero");
  return minor;
}

/** The currencies the service supports, in code order (src/domain/money.rs). */
export const CURRENCIES = [
  "AUD", "BHD", "CAD", "CHF", "CNY", "CZK", "DKK", "EUR", "GBP", "HKD", "HUF", "INR",
  "ISK", "JPY", "KRW", "KWD", "MXN", "NOK", "NZD", "PLN", "SEK", "SGD", "USD", "ZAR",
];
