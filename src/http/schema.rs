//! OpenAPI schemas for values whose rules live in the domain, so clients (and fuzzers) know
//! them.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::domain::money::Currency;

/// The `Currency` schema component: one of the supported ISO 4217 codes. Every `currency`
/// field refers to it (`#[schema(value_type = CurrencyCode)]`), so a client generated from the
/// document gets one currency enum, not one per field.
#[derive(Debug)]
pub(crate) struct CurrencyCode;

impl utoipa::PartialSchema for CurrencyCode {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Currency::all().map(|currency| currency.code().to_owned())))
            .description(Some("ISO 4217 code of a supported currency"))
            .examples([serde_json::json!("EUR")])
            .into()
    }
}

impl utoipa::ToSchema for CurrencyCode {
    fn name() -> std::borrow::Cow<'static, str> {
        "Currency".into()
    }
}

/// Deserializes an amount or limit in minor units from a JSON integer, or from a JSON number
/// with a zero fraction (`25.0`): JSON Schema counts both as integers, so a client generating
/// requests from the OpenAPI document may send either. Fractions and numbers too large to be
/// exact in a double are refused.
pub(crate) fn minor_units<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    use serde::Deserialize;
    use serde::de::Error;

    /// The largest integer a double holds exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;

    match serde_json::Number::deserialize(deserializer)? {
        number if number.is_i64() => number.as_i64().ok_or_else(|| D::Error::custom("not an integer")),
        number => match number.as_f64() {
            Some(value) if value.fract() == 0.0 && value.abs() <= EXACT => Ok(value as i64),
            _ => Err(D::Error::custom(format!(
                "{number} is not a whole number of minor units"
            ))),
        },
    }
}

/// [`minor_units`] for optional fields.
pub(crate) fn optional_minor_units<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Wrapper(#[serde(deserialize_with = "minor_units")] i64);

    use serde::Deserialize;
    Ok(Option::<Wrapper>::deserialize(deserializer)?.map(|Wrapper(value)| value))
}
