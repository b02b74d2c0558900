//! Column types that decode the same way on both backends.
//!
//! PostgreSQL stores UUIDs and instants natively (`UUID`, `TIMESTAMPTZ`); the SQLite schema
//! stores them as text (hyphenated UUIDs; fixed-width RFC 3339 UTC with microseconds, which
//! sorts as time does). A row type names its column through [`Stored`] and gets the plain Rust
//! type:
//!
//! ```ignore
//! #[derive(sqlx::FromRow)]
//! struct Row {
//!     #[sqlx(try_from = "Stored<Uuid>")]
//!     account_id: Uuid,
//!     #[sqlx(try_from = "Stored<Option<DateTime<Utc>>>")]
//!     finished_at: Option<DateTime<Utc>>,
//! }
//! ```
//!
//! Binding goes the other way through [`Param`](crate::db::Param).
//!
//! Integers wider than `BIGINT` (running totals) are `NUMERIC` on PostgreSQL and decimal text on
//! SQLite; a statement reads them as text on both (`CAST(total AS TEXT) AS total`) into a
//! `Stored<i128>` column. Without the cast PostgreSQL answers `NUMERIC`, which `Stored<i128>`
//! refuses as a type mismatch rather than guessing.

use chrono::{DateTime, Utc};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Postgres, Sqlite, Type};
use uuid::Uuid;

/// A value read from a column that each backend stores in its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored<T>(pub T);

/// How SQLite's text becomes the value.
trait FromSqliteText: Sized {
    fn from_text(text: &str) -> Result<Self, BoxDynError>;
}

impl FromSqliteText for Uuid {
    fn from_text(text: &str) -> Result<Self, BoxDynError> {
        Ok(Uuid::parse_str(text)?)
    }
}

impl FromSqliteText for DateTime<Utc> {
    fn from_text(text: &str) -> Result<Self, BoxDynError> {
        Ok(DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc))
    }
}

/// `Stored<T>` and `Stored<Option<T>>` for a type PostgreSQL decodes natively and SQLite from
/// text.
macro_rules! stored {
    ($type:ty) => {
        impl Type<Postgres> for Stored<$type> {
            fn type_info() -> PgTypeInfo {
                <$type as Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <$type as Type<Postgres>>::compatible(ty)
            }
        }
        impl Decode<'_, Postgres> for Stored<$type> {
            fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
                <$type as Decode<Postgres>>::decode(value).map(Stored)
            }
        }
        impl Type<Sqlite> for Stored<$type> {
            fn type_info() -> SqliteTypeInfo {
                <String as Type<Sqlite>>::type_info()
            }
            fn compatible(ty: &SqliteTypeInfo) -> bool {
                <String as Type<Sqlite>>::compatible(ty)
            }
        }
        impl Decode<'_, Sqlite> for Stored<$type> {
            fn decode(value: SqliteValueRef<'_>) -> Result<Self, BoxDynError> {
                <$type as FromSqliteText>::from_text(<&str as Decode<Sqlite>>::decode(value)?).map(Stored)
            }
        }
        impl From<Stored<$type>> for $type {
            fn from(stored: Stored<$type>) -> Self {
                stored.0
            }
        }

        impl Type<Postgres> for Stored<Option<$type>> {
            fn type_info() -> PgTypeInfo {
                <Stored<$type> as Type<Postgres>>::type_info()
            }
            fn compatible(ty: &PgTypeInfo) -> bool {
                <Stored<$type> as Type<Postgres>>::compatible(ty)
            }
        }
        impl Decode<'_, Postgres> for Stored<Option<$type>> {
            fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
                <Option<Stored<$type>> as Decode<Postgres>>::decode(value).map(|v| Stored(v.map(|s| s.0)))
            }
        }
        impl Type<Sqlite> for Stored<Option<$type>> {
            fn type_info() -> SqliteTypeInfo {
                <Stored<$type> as Type<Sqlite>>::type_info()
            }
            fn compatible(ty: &SqliteTypeInfo) -> bool {
                <Stored<$type> as Type<Sqlite>>::compatible(ty)
            }
        }
        impl Decode<'_, Sqlite> for Stored<Option<$type>> {
            fn decode(value: SqliteValueRef<'_>) -> Result<Self, BoxDynError> {
                <Option<Stored<$type>> as Decode<Sqlite>>::decode(value).map(|v| Stored(v.map(|s| s.0)))
            }
        }
        impl From<Stored<Option<$type>>> for Option<$type> {
            fn from(stored: Stored<Option<$type>>) -> Self {
                stored.0
            }
        }
    };
}

stored!(Uuid);
stored!(DateTime<Utc>);

/// An exact wide integer, read as decimal text on both backends.
impl Type<Postgres> for Stored<i128> {
    fn type_info() -> PgTypeInfo {
        <String as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <String as Type<Postgres>>::compatible(ty)
    }
}
impl Decode<'_, Postgres> for Stored<i128> {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        Ok(Stored(<&str as Decode<Postgres>>::decode(value)?.parse()?))
    }
}
impl Type<Sqlite> for Stored<i128> {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}
impl Decode<'_, Sqlite> for Stored<i128> {
    fn decode(value: SqliteValueRef<'_>) -> Result<Self, BoxDynError> {
        Ok(Stored(<&str as Decode<Sqlite>>::decode(value)?.parse()?))
    }
}
impl From<Stored<i128>> for i128 {
    fn from(stored: Stored<i128>) -> Self {
        stored.0
    }
}

/// For an enum stored as a `TEXT` code through its strum derives (`IntoStaticStr`,
/// `EnumString`): `as_str()` to bind it, and `TryFrom<String>` to decode it in a row type with
/// `#[sqlx(try_from = "String")]`.
#[macro_export]
macro_rules! stored_as_text {
    ($type:ty) => {
        impl $type {
            /// The code stored in the database.
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl TryFrom<String> for $type {
            type Error = strum::ParseError;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                text.parse()
            }
        }
    };
}
