//! Exact money: integer minor units with an ISO 4217 currency.
//!
//! Amounts never touch floating point. Every arithmetic operation is checked, so an overflow
//! surfaces as a [`MoneyError`] instead of wrapping or panicking.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The largest amount a single command may move: 10^15 minor units.
///
/// Far above any real payment, far below `i64::MAX`, so sums of a few thousand movements cannot
/// overflow by accident and a typo of many zeroes is refused at the door.
pub const MAX_AMOUNT_MINOR_UNITS: i64 = 1_000_000_000_000_000;

/// The most an account may hold: 10^17 minor units, a hundred thousand of the largest payment.
///
/// Far below `i64::MAX` on purpose. Money that left an account for a transfer must always be
/// able to come back (a refund is compensation: refusing it would strand the money and stop the
/// process manager), and the money an account has sent and not yet settled is at most what it held. With
/// every credit kept under this cap, a balance plus all its pending refunds stays below
/// `2 × 10^17 + overdraft`, about 2% of `i64::MAX`: a refund cannot overflow.
pub const MAX_BALANCE_MINOR_UNITS: i64 = 100_000_000_000_000_000;

/// Why a money value or operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency code {0:?} is not three upper-case letters")]
    MalformedCurrency(String),
    #[error("currency {0} is not supported")]
    UnsupportedCurrency(String),
    #[error("amount must be positive, got {0}")]
    NonPositiveAmount(i64),
    #[error("amount {0} exceeds the maximum of {MAX_AMOUNT_MINOR_UNITS} minor units")]
    AmountTooLarge(i64),
    #[error("limit must be between 0 and {MAX_AMOUNT_MINOR_UNITS} minor units, got {0}")]
    LimitOutOfRange(i64),
    #[error("arithmetic overflow")]
    Overflow,
}

/// Supported currencies and their minor-unit exponent (ISO 4217).
///
/// A small, explicit table: a bank supports the currencies it has accounts in, and an unknown
/// code is more likely a typo than a new currency.
const CURRENCIES: &[(&str, u8)] = &[
    ("AUD", 2),
    ("BHD", 3),
    ("CAD", 2),
    ("CHF", 2),
    ("CNY", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("MXN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PLN", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("USD", 2),
    ("ZAR", 2),
];

/// An ISO 4217 currency code from the supported table.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// All supported currencies, in code order.
    pub fn all() -> impl Iterator<Item = Currency> {
        CURRENCIES.iter().map(|(code, _)| {
            let bytes = code.as_bytes();
            Currency([bytes[0], bytes[1], bytes[2]])
        })
    }

    /// The three-letter code.
    pub fn code(&self) -> &str {
        // The bytes were checked to be ASCII upper-case letters on construction.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// How many decimal places the minor unit has (2 for EUR: 1 EUR = 100 cents).
    pub fn minor_unit_exponent(&self) -> u8 {
        CURRENCIES
            .iter()
            .find(|(code, _)| code.as_bytes() == self.0)
            .map_or(2, |(_, exponent)| *exponent)
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        let bytes = code.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(MoneyError::MalformedCurrency(code.to_owned()));
        }
        if !CURRENCIES.iter().any(|(known, _)| *known == code) {
            return Err(MoneyError::UnsupportedCurrency(code.to_owned()));
        }
        Ok(Currency([bytes[0], bytes[1], bytes[2]]))
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;

    fn try_from(code: String) -> Result<Self, Self::Error> {
        code.parse()
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> Self {
        currency.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

/// A positive amount a command may move: `1..=10^15` minor units.
///
/// Constructing one is the only way to get one, so a decider never sees zero, negative or
/// absurd amounts (parse, don't validate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Amount(i64);

impl Amount {
    pub fn new(minor_units: i64) -> Result<Self, MoneyError> {
        if minor_units <= 0 {
            Err(MoneyError::NonPositiveAmount(minor_units))
        } else if minor_units > MAX_AMOUNT_MINOR_UNITS {
            Err(MoneyError::AmountTooLarge(minor_units))
        } else {
            Ok(Amount(minor_units))
        }
    }

    pub fn minor_units(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Amount {
    type Error = MoneyError;

    fn try_from(minor_units: i64) -> Result<Self, Self::Error> {
        Amount::new(minor_units)
    }
}

impl From<Amount> for i64 {
    fn from(amount: Amount) -> Self {
        amount.0
    }
}

/// A non-negative limit (overdraft, daily withdrawals): `0..=10^15` minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Limit(i64);

impl Limit {
    pub const ZERO: Limit = Limit(0);

    pub fn new(minor_units: i64) -> Result<Self, MoneyError> {
        if (0..=MAX_AMOUNT_MINOR_UNITS).contains(&minor_units) {
            Ok(Limit(minor_units))
        } else {
            Err(MoneyError::LimitOutOfRange(minor_units))
        }
    }

    pub fn minor_units(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Limit {
    type Error = MoneyError;

    fn try_from(minor_units: i64) -> Result<Self, Self::Error> {
        Limit::new(minor_units)
    }
}

impl From<Limit> for i64 {
    fn from(limit: Limit) -> Self {
        limit.0
    }
}

/// An amount in a currency, as carried by events: `{"minor_units": 1250, "currency": "EUR"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub minor_units: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor_units: i64, currency: Currency) -> Self {
        Money {
            minor_units,
            currency,
        }
    }

    pub fn zero(currency: Currency) -> Self {
        Money::new(0, currency)
    }

    pub fn checked_add(self, minor_units: i64) -> Result<Money, MoneyError> {
        self.minor_units
            .checked_add(minor_units)
            .map(|sum| Money::new(sum, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, minor_units: i64) -> Result<Money, MoneyError> {
        self.minor_units
            .checked_sub(minor_units)
            .map(|difference| Money::new(difference, self.currency))
            .ok_or(MoneyError::Overflow)
    }
}

impl fmt::Display for Money {
    /// Formats with the currency's exponent, exactly: `1250 EUR` minor units prints `12.50 EUR`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = u32::from(self.currency.minor_unit_exponent());
        let sign = if self.minor_units < 0 { "-" } else { "" };
        let magnitude = self.minor_units.unsigned_abs();
        if exponent == 0 {
            return write!(f, "{sign}{magnitude} {}", self.currency);
        }
        let scale = 10_u64.pow(exponent);
        let width = exponent as usize;
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            magnitude / scale,
            magnitude % scale,
            self.currency
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn currencies_and_money_print_as_people_read_them() {
        let eur: Currency = "EUR".parse().expect("EUR");
        let jpy: Currency = "JPY".parse().expect("JPY");
        assert_eq!(eur.to_string(), "EUR");
        assert_eq!(format!("{eur:?}"), "Currency(EUR)");
        assert_eq!(String::from(eur), "EUR");
        assert_eq!(Money::new(1250, eur).to_string(), "12.50 EUR");
        assert_eq!(Money::new(-5, eur).to_string(), "-0.05 EUR");
        assert_eq!(Money::new(1250, jpy).to_string(), "1250 JPY");
        assert_eq!(Money::new(0, eur).to_string(), "0.00 EUR", "zero has no sign");
        let all: Vec<Currency> = Currency::all().collect();
        assert!(all.contains(&eur) && all.contains(&jpy), "{all:?}");
        for currency in all {
            assert_eq!(currency.code().parse::<Currency>(), Ok(currency));
        }
    }

    use super::*;

    fn eur() -> Currency {
        "EUR".parse().expect("EUR is supported")
    }

    #[test]
    fn currency_codes_must_be_three_upper_case_letters() {
        for bad in ["", "eu", "eur", "EURO", "E1R", "€€€"] {
            assert_eq!(
                bad.parse::<Currency>(),
                Err(MoneyError::MalformedCurrency(bad.to_owned()))
            );
        }
    }

    #[test]
    fn unknown_currency_codes_are_unsupported() {
        assert_eq!(
            "XYZ".parse::<Currency>(),
            Err(MoneyError::UnsupportedCurrency("XYZ".to_owned()))
        );
    }

    #[test]
    fn currencies_know_their_minor_unit_exponent() {
        let exponent = |code: &str| code.parse::<Currency>().map(|c| c.minor_unit_exponent());
        assert_eq!(exponent("EUR"), Ok(2));
        assert_eq!(exponent("USD"), Ok(2));
        assert_eq!(exponent("JPY"), Ok(0));
        assert_eq!(exponent("KWD"), Ok(3));
    }

    #[test]
    fn amounts_must_be_positive_and_bounded() {
        assert_eq!(Amount::new(0), Err(MoneyError::NonPositiveAmount(0)));
        assert_eq!(Amount::new(-5), Err(MoneyError::NonPositiveAmount(-5)));
        assert!(Amount::new(1).is_ok());
        assert!(Amount::new(MAX_AMOUNT_MINOR_UNITS).is_ok());
        assert_eq!(
            Amount::new(MAX_AMOUNT_MINOR_UNITS + 1),
            Err(MoneyError::AmountTooLarge(MAX_AMOUNT_MINOR_UNITS + 1))
        );
    }

    #[test]
    fn limits_may_be_zero_but_not_negative() {
        assert_eq!(Limit::new(0), Ok(Limit::ZERO));
        assert_eq!(Limit::new(-1), Err(MoneyError::LimitOutOfRange(-1)));
    }

    #[test]
    fn arithmetic_overflow_is_an_error_not_a_wrap() {
        let near_max = Money::new(i64::MAX - 1, eur());
        assert_eq!(near_max.checked_add(2), Err(MoneyError::Overflow));
        let near_min = Money::new(i64::MIN + 1, eur());
        assert_eq!(near_min.checked_sub(2), Err(MoneyError::Overflow));
    }

    #[test]
    fn money_displays_exactly_with_the_currency_exponent() {
        assert_eq!(Money::new(1250, eur()).to_string(), "12.50 EUR");
        assert_eq!(Money::new(-5, eur()).to_string(), "-0.05 EUR");
        let yen = "JPY".parse().expect("JPY is supported");
        assert_eq!(Money::new(1250, yen).to_string(), "1250 JPY");
    }

    #[test]
    fn currency_round_trips_through_serde_as_its_code() {
        let json = serde_json::to_string(&eur()).expect("serializes");
        assert_eq!(json, "\"EUR\"");
        let back: Currency = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, eur());
        assert!(serde_json::from_str::<Currency>("\"eur\"").is_err());
    }
}
