//! One SQL statement, written once, run on either backend.
//!
//! [`query`] mirrors `sqlx::query`: bind parameters in order (`$1`, `$2`, ... work on both
//! databases), then fetch rows into a [`Record`] or a [`Scalar`]. Parameters become [`Param`]s,
//! which encode as each backend stores the value: PostgreSQL gets native UUID, TIMESTAMPTZ,
//! JSONB and NUMERIC values, SQLite gets text for all four.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgRow, PgTypeInfo};
use sqlx::sqlite::{SqliteArgumentValue, SqliteRow, SqliteTypeInfo};
use sqlx::types::Json;
use sqlx::{Decode, Encode, FromRow, Postgres, Sqlite, Type};
use uuid::Uuid;

use crate::db::{Database, Pool, Transaction, TransactionInner, sqlite_time};

/// A row type both backends can decode (derive `sqlx::FromRow`, with [`Stored`] for UUID and
/// timestamp columns).
///
/// [`Stored`]: crate::db::Stored
pub trait Record: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin {}
impl<T> Record for T where T: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin {}

/// A single-column value both backends can decode (`i64`, `String`, `bool`, ...).
pub trait Scalar:
    for<'r> Decode<'r, Postgres> + Type<Postgres> + for<'r> Decode<'r, Sqlite> + Type<Sqlite> + Send + Unpin
{
}
impl<T> Scalar for T where
    T: for<'r> Decode<'r, Postgres>
        + Type<Postgres>
        + for<'r> Decode<'r, Sqlite>
        + Type<Sqlite>
        + Send
        + Unpin
{
}

/// A bound parameter. `None` inside a variant is SQL `NULL` of that type.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Int(Option<i64>),
    Int32(Option<i32>),
    Bool(Option<bool>),
    Text(Option<String>),
    Uuid(Option<Uuid>),
    Time(Option<DateTime<Utc>>),
    Json(Value),
    /// An integer wider than `BIGINT` (a sum of many `BIGINT`s): `NUMERIC` on PostgreSQL,
    /// decimal text on SQLite, whose integers have 64 bits. Read it back with
    /// [`Stored<i128>`](crate::db::Stored).
    Int128(Option<i128>),
}

macro_rules! param_from {
    ($variant:ident, $type:ty) => {
        impl From<$type> for Param {
            fn from(value: $type) -> Self {
                Param::$variant(Some(value.into()))
            }
        }
        impl From<Option<$type>> for Param {
            fn from(value: Option<$type>) -> Self {
                Param::$variant(value.map(Into::into))
            }
        }
    };
}

param_from!(Int, i64);
param_from!(Int128, i128);
param_from!(Int32, i32);
param_from!(Bool, bool);
param_from!(Text, String);
param_from!(Text, &str);
param_from!(Uuid, Uuid);
param_from!(Time, DateTime<Utc>);

impl From<Value> for Param {
    fn from(value: Value) -> Self {
        Param::Json(value)
    }
}

impl From<&Value> for Param {
    fn from(value: &Value) -> Self {
        Param::Json(value.clone())
    }
}

/// The value as a person reads it in a report: `NULL`, numbers and ids as they are, text
/// quoted, instants in RFC 3339.
impl std::fmt::Display for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Param::Int(Some(value)) => write!(f, "{value}"),
            Param::Int32(Some(value)) => write!(f, "{value}"),
            Param::Int128(Some(value)) => write!(f, "{value}"),
            Param::Bool(Some(value)) => write!(f, "{value}"),
            Param::Text(Some(value)) => write!(f, "{value:?}"),
            Param::Uuid(Some(value)) => write!(f, "{value}"),
            Param::Time(Some(value)) => write!(f, "{}", value.to_rfc3339()),
            Param::Json(value) => write!(f, "{value}"),
            Param::Int(None)
            | Param::Int32(None)
            | Param::Int128(None)
            | Param::Bool(None)
            | Param::Text(None)
            | Param::Uuid(None)
            | Param::Time(None) => f.write_str("NULL"),
        }
    }
}

impl Type<Postgres> for Param {
    fn type_info() -> PgTypeInfo {
        // Never used: `produces` names each value's own type.
        <String as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Param {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        match self {
            Param::Int(value) => Encode::<Postgres>::encode_by_ref(value, buf),
            Param::Int32(value) => Encode::<Postgres>::encode_by_ref(value, buf),
            Param::Bool(value) => Encode::<Postgres>::encode_by_ref(value, buf),
            Param::Text(value) => Encode::<Postgres>::encode_by_ref(value, buf),
            Param::Uuid(value) => Encode::<Postgres>::encode_by_ref(value, buf),
            Param::Time(value) => Encode::<Postgres>::encode_by_ref(value, buf),
            Param::Json(value) => <Json<&Value> as Encode<Postgres>>::encode(Json(value), buf),
            Param::Int128(Some(value)) => {
                buf.extend_from_slice(&pg_numeric(*value));
                Ok(IsNull::No)
            }
            Param::Int128(None) => Ok(IsNull::Yes),
        }
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(match self {
            Param::Int(_) => <i64 as Type<Postgres>>::type_info(),
            Param::Int32(_) => <i32 as Type<Postgres>>::type_info(),
            Param::Bool(_) => <bool as Type<Postgres>>::type_info(),
            Param::Text(_) => <String as Type<Postgres>>::type_info(),
            Param::Uuid(_) => <Uuid as Type<Postgres>>::type_info(),
            Param::Time(_) => <DateTime<Utc> as Type<Postgres>>::type_info(),
            Param::Json(_) => <Json<Value> as Type<Postgres>>::type_info(),
            Param::Int128(_) => PgTypeInfo::with_oid(Oid(PG_NUMERIC_OID)),
        })
    }
}

/// The OID of PostgreSQL's built-in `NUMERIC` type.
const PG_NUMERIC_OID: u32 = 1700;

/// `value` in PostgreSQL's binary `NUMERIC` format (`numeric_send` in its sources): the digit
/// count, the weight of the first digit, the sign and the display scale (each 16 bits, big
/// endian), then the digits in base 10,000, most significant first. sqlx encodes `NUMERIC` only
/// from its `bigdecimal` and `rust_decimal` features, neither of which this crate needs.
fn pg_numeric(value: i128) -> Vec<u8> {
    const NBASE: u128 = 10_000;
    let mut magnitude = value.unsigned_abs();
    let mut digits = Vec::new();
    while magnitude > 0 {
        digits.push(u16::try_from(magnitude % NBASE).unwrap_or(0));
        magnitude /= NBASE;
    }
    digits.reverse();
    // At most 10 digits: u128::MAX < 10,000^10.
    let count = u16::try_from(digits.len()).unwrap_or(0);
    let weight = count.saturating_sub(1);
    let sign: u16 = if value < 0 { 0x4000 } else { 0x0000 };
    let mut bytes = Vec::with_capacity(8 + 2 * digits.len());
    for word in [count, weight, sign, 0].into_iter().chain(digits) {
        bytes.extend_from_slice(&word.to_be_bytes());
    }
    bytes
}

impl Type<Sqlite> for Param {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for Param {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        let text = |text: String| SqliteArgumentValue::Text(Cow::Owned(text));
        let value = match self {
            Param::Int(Some(value)) => SqliteArgumentValue::Int64(*value),
            Param::Int32(Some(value)) => SqliteArgumentValue::Int(*value),
            Param::Bool(Some(value)) => SqliteArgumentValue::Int(i32::from(*value)),
            Param::Text(Some(value)) => text(value.clone()),
            Param::Uuid(Some(value)) => text(value.hyphenated().to_string()),
            Param::Time(Some(value)) => text(sqlite_time(*value)),
            Param::Json(value) => text(serde_json::to_string(value)?),
            Param::Int128(Some(value)) => text(value.to_string()),
            Param::Int(None)
            | Param::Int32(None)
            | Param::Bool(None)
            | Param::Text(None)
            | Param::Uuid(None)
            | Param::Time(None)
            | Param::Int128(None) => return Ok(IsNull::Yes), // sqlx pushes the NULL itself
        };
        buf.push(value);
        Ok(IsNull::No)
    }
}

/// The most values one statement binds: under SQLite's limit (32,766 bind parameters) and
/// PostgreSQL's (65,535).
pub const MAX_BINDS: usize = 32_000;

/// Statements with more bind parameters than this are prepared for one use only (see
/// [`Query::is_cached`]).
const CACHED_UP_TO_BINDS: usize = 256;

/// `rows` in runs that each fit one statement ([`MAX_BINDS`] values at most), in order: a
/// batch of any size is written in as few statements as the backends allow.
pub fn in_statements(mut rows: Vec<Vec<Param>>) -> Vec<Vec<Vec<Param>>> {
    let width = rows.first().map_or(1, Vec::len).max(1);
    let per_statement = (MAX_BINDS / width).max(1);
    let mut statements = Vec::with_capacity(rows.len().div_ceil(per_statement));
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(per_statement));
        statements.push(std::mem::replace(&mut rows, rest));
    }
    statements
}

/// `INSERT INTO table (columns) VALUES (...), (...)`: one statement for many rows, each row's
/// values in the order of the comma-separated `columns`.
pub fn insert_rows(table: &str, columns: &str, rows: impl IntoIterator<Item = Vec<Param>>) -> Query {
    query(format!("INSERT INTO {table} ({columns}) VALUES ")).values(rows)
}

/// [`insert_rows`], where a row whose `key` exists updates all its other columns instead.
/// (The rows must name each key once.)
pub fn upsert_rows(
    table: &str,
    key: &str,
    columns: &str,
    rows: impl IntoIterator<Item = Vec<Param>>,
) -> Query {
    let updates = columns
        .split(',')
        .map(str::trim)
        .filter(|column| *column != key)
        .map(|column| format!("{column} = excluded.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    insert_rows(table, columns, rows).push(&format!(" ON CONFLICT ({key}) DO UPDATE SET {updates}"))
}

/// Starts a statement. Placeholders are `$1`, `$2`, ... in the order of the binds.
pub fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query {
        sql: sql.into(),
        params: Vec::new(),
        kept_prepared: false,
    }
}

/// A statement and its parameters, not yet run.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "a query does nothing until it is fetched or executed"]
pub struct Query {
    sql: Cow<'static, str>,
    params: Vec<Param>,
    /// Kept prepared in the connection's statement cache whatever its size (see
    /// [`Query::kept_prepared`]).
    kept_prepared: bool,
}

/// Where a statement runs: the pool (a connection of its own) or an open transaction.
#[derive(Debug)]
pub enum Executor<'a> {
    Database(&'a Database),
    Transaction(&'a mut Transaction),
}

impl<'a> From<&'a Database> for Executor<'a> {
    fn from(database: &'a Database) -> Self {
        Executor::Database(database)
    }
}

impl<'a> From<&'a mut Transaction> for Executor<'a> {
    fn from(transaction: &'a mut Transaction) -> Self {
        Executor::Transaction(transaction)
    }
}

/// Evaluates `$body` with `$exec` bound to the sqlx executor behind `$on`, `$db` to its
/// database type and `$statement` to `$query` as that backend runs it best: the one place a
/// statement meets a backend.
macro_rules! run {
    ($on:expr, $query:expr, |$db:ident, $exec:ident, $statement:ident| $body:expr) => {
        match $on.into() {
            Executor::Database(Database {
                pool: Pool::Postgres(pool),
            }) => {
                type $db = Postgres;
                let $exec = pool;
                let $statement = $query;
                $body
            }
            Executor::Database(Database {
                pool: Pool::Sqlite { pool, .. },
            }) => {
                type $db = Sqlite;
                let $exec = pool;
                let $statement = $query.for_sqlite();
                $body
            }
            Executor::Transaction(Transaction {
                inner: TransactionInner::Postgres(tx),
            }) => {
                type $db = Postgres;
                let $exec = &mut **tx;
                let $statement = $query;
                $body
            }
            Executor::Transaction(Transaction {
                inner: TransactionInner::Sqlite { tx, .. },
            }) => {
                type $db = Sqlite;
                let $exec = &mut **tx;
                let $statement = $query.for_sqlite();
                $body
            }
        }
    };
}

impl Query {
    /// Binds the next parameter.
    pub fn bind(mut self, value: impl Into<Param>) -> Self {
        self.params.push(value.into());
        self
    }

    /// Appends SQL text (for statements whose filters depend on the request).
    pub fn push(mut self, sql: &str) -> Self {
        self.sql.to_mut().push_str(sql);
        self
    }

    /// Appends `(...), (...)`: one parenthesised list of placeholders per row, bound in order.
    pub fn values(mut self, rows: impl IntoIterator<Item = Vec<Param>>) -> Self {
        for (n, row) in rows.into_iter().enumerate() {
            self = self.push(if n == 0 { "(" } else { ", (" });
            for (m, value) in row.into_iter().enumerate() {
                if m > 0 {
                    self = self.push(", ");
                }
                self = self.push_bind(value);
            }
            self = self.push(")");
        }
        self
    }

    /// Appends `$n, $n+1, ...`: a comma-separated placeholder for each value, bound in order
    /// (for `IN (...)`).
    pub fn values_list<P: Into<Param>>(mut self, values: impl IntoIterator<Item = P>) -> Self {
        for (n, value) in values.into_iter().enumerate() {
            if n > 0 {
                self = self.push(", ");
            }
            self = self.push_bind(value);
        }
        self
    }

    /// Appends a placeholder for the next parameter and binds it.
    pub fn push_bind(mut self, value: impl Into<Param>) -> Self {
        self.params.push(value.into());
        let placeholder = format!("${}", self.params.len());
        self.sql.to_mut().push_str(&placeholder);
        self
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The statement as SQLite runs it best: with plain `?` placeholders when it numbers them
    /// `$1, $2, ... $n` in order, each once (which then means the same).
    ///
    /// SQLite finds a numbered placeholder by a linear scan of the statement's placeholders,
    /// when it parses the statement and again when sqlx binds each value: a statement of `n`
    /// placeholders costs O(n²), which for the thousands of values of a batch insert was most
    /// of a projector's time. Plain `?`s are bound by position, in O(n).
    fn for_sqlite(mut self) -> Self {
        if let Some(sql) = positional_placeholders(&self.sql) {
            self.sql = Cow::Owned(sql);
        }
        self
    }

    /// Whether the connection keeps this statement prepared for the next time. A statement
    /// with many values is a multi-row statement whose text changes with its row count: kept,
    /// each would hold a prepared statement of thousands of parameters in every connection's
    /// cache (hundreds of megabytes in a replay), and few would ever run again.
    fn is_cached(&self) -> bool {
        self.kept_prepared || self.params.len() <= CACHED_UP_TO_BINDS
    }

    /// Whether to keep this statement prepared even past the size up to which statements are
    /// (see [`Query::is_cached`]): for one of a fixed shape that runs again and again.
    pub(crate) fn kept_prepared(mut self, kept: bool) -> Self {
        self.kept_prepared = kept;
        self
    }

    fn rows<DB>(&self) -> sqlx::query::Query<'_, DB, <DB as sqlx::Database>::Arguments<'_>>
    where
        DB: sqlx::Database + sqlx::database::HasStatementCache,
        Param: for<'q> Encode<'q, DB> + Type<DB>,
    {
        self.params.iter().cloned().fold(
            sqlx::query(&self.sql).persistent(self.is_cached()),
            |query, param| query.bind(param),
        )
    }

    fn records<DB, T>(&self) -> sqlx::query::QueryAs<'_, DB, T, <DB as sqlx::Database>::Arguments<'_>>
    where
        DB: sqlx::Database + sqlx::database::HasStatementCache,
        Param: for<'q> Encode<'q, DB> + Type<DB>,
        T: for<'r> FromRow<'r, DB::Row>,
    {
        self.params.iter().cloned().fold(
            sqlx::query_as(&self.sql).persistent(self.is_cached()),
            |query, param| query.bind(param),
        )
    }

    fn scalars<DB, T>(&self) -> sqlx::query::QueryScalar<'_, DB, T, <DB as sqlx::Database>::Arguments<'_>>
    where
        DB: sqlx::Database + sqlx::database::HasStatementCache,
        Param: for<'q> Encode<'q, DB> + Type<DB>,
        (T,): for<'r> FromRow<'r, DB::Row>,
    {
        self.params.iter().cloned().fold(
            sqlx::query_scalar(&self.sql).persistent(self.is_cached()),
            |query, param| query.bind(param),
        )
    }

    /// Runs a statement that returns no rows; answers how many rows it changed.
    pub async fn execute<'e>(self, on: impl Into<Executor<'e>>) -> Result<u64, sqlx::Error> {
        run!(on, self, |DB, exec, statement| Ok(statement
            .rows::<DB>()
            .execute(exec)
            .await?
            .rows_affected()))
    }

    pub async fn fetch_all<'e, T: Record>(self, on: impl Into<Executor<'e>>) -> Result<Vec<T>, sqlx::Error> {
        run!(on, self, |DB, exec, statement| statement
            .records::<DB, T>()
            .fetch_all(exec)
            .await)
    }

    pub async fn fetch_optional<'e, T: Record>(
        self,
        on: impl Into<Executor<'e>>,
    ) -> Result<Option<T>, sqlx::Error> {
        run!(on, self, |DB, exec, statement| statement
            .records::<DB, T>()
            .fetch_optional(exec)
            .await)
    }

    pub async fn fetch_one<'e, T: Record>(self, on: impl Into<Executor<'e>>) -> Result<T, sqlx::Error> {
        run!(on, self, |DB, exec, statement| statement
            .records::<DB, T>()
            .fetch_one(exec)
            .await)
    }

    /// The first column of the only row.
    pub async fn fetch_scalar<'e, T: Scalar>(self, on: impl Into<Executor<'e>>) -> Result<T, sqlx::Error> {
        run!(on, self, |DB, exec, statement| statement
            .scalars::<DB, T>()
            .fetch_one(exec)
            .await)
    }

    /// The first column of the first row, if there is a row.
    pub async fn fetch_optional_scalar<'e, T: Scalar>(
        self,
        on: impl Into<Executor<'e>>,
    ) -> Result<Option<T>, sqlx::Error> {
        run!(on, self, |DB, exec, statement| statement
            .scalars::<DB, T>()
            .fetch_optional(exec)
            .await)
    }
}

/// `sql` with its placeholders `$1, $2, ... $n` replaced by `?`, if they appear outside quotes in
/// that order and each once; `None` if not, or if there are none.
fn positional_placeholders(sql: &str) -> Option<String> {
    let mut rewritten = String::with_capacity(sql.len());
    let mut next = 1_u64;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '$') if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut number = 0_u64;
                while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
                    number = number.saturating_mul(10).saturating_add(u64::from(digit));
                    chars.next();
                }
                if number != next {
                    return None;
                }
                next += 1;
                rewritten.push('?');
                continue;
            }
            (None, _) => {}
        }
        rewritten.push(c);
    }
    (next > 1).then_some(rewritten)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_cut_into_statements_under_the_bind_limit_in_order() {
        let width = 11;
        let rows: Vec<Vec<Param>> = (0..10_000_i64).map(|n| vec![Param::from(n); width]).collect();
        let statements = in_statements(rows);
        let per_statement = MAX_BINDS / width;
        assert_eq!(statements.len(), 10_000_usize.div_ceil(per_statement));
        assert!(statements.iter().all(|rows| rows.len() * width <= MAX_BINDS));
        let firsts: Vec<Param> = statements.iter().flatten().map(|row| row[0].clone()).collect();
        assert_eq!(firsts, (0..10_000_i64).map(Param::from).collect::<Vec<_>>());
        assert!(in_statements(Vec::new()).is_empty());
    }

    #[test]
    fn statements_of_many_values_are_not_kept_prepared() {
        let few = query("SELECT 1 WHERE 1 IN (")
            .values_list(0..CACHED_UP_TO_BINDS as i64)
            .push(")");
        assert!(few.is_cached());
        let many = query("SELECT 1 WHERE 1 IN (")
            .values_list(0..=CACHED_UP_TO_BINDS as i64)
            .push(")");
        assert!(!many.is_cached());
    }

    #[test]
    fn in_order_placeholders_become_positional_for_sqlite() {
        assert_eq!(
            positional_placeholders("INSERT INTO t (a, b) VALUES ($1, $2), ($3, '$4'), ($4, \"$9\")")
                .as_deref(),
            Some("INSERT INTO t (a, b) VALUES (?, ?), (?, '$4'), (?, \"$9\")")
        );
        assert_eq!(positional_placeholders("SELECT 1"), None);
        assert_eq!(positional_placeholders("UPDATE t SET a = $2 WHERE b = $1"), None);
        assert_eq!(positional_placeholders("SELECT $1 WHERE $1 = 2"), None);
        assert_eq!(positional_placeholders("SELECT $10"), None);
    }

    #[test]
    fn push_bind_numbers_placeholders_in_bind_order() {
        let built = query("SELECT 1 WHERE a = ")
            .push_bind(1_i64)
            .push(" AND b = ")
            .push_bind("x");
        assert_eq!(built.sql(), "SELECT 1 WHERE a = $1 AND b = $2");
        assert_eq!(
            built.params,
            vec![Param::Int(Some(1)), Param::Text(Some("x".into()))]
        );
    }

    #[test]
    fn wide_integers_encode_as_postgres_numeric_digits_in_base_ten_thousand() {
        let words = |value: i128| -> Vec<u16> {
            pg_numeric(value)
                .chunks(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect()
        };
        assert_eq!(words(0), [0, 0, 0, 0]);
        // 123,456,789 = 1 * 10000^2 + 2345 * 10000 + 6789
        assert_eq!(words(123_456_789), [3, 2, 0, 0, 1, 2345, 6789]);
        assert_eq!(words(-10_000), [2, 1, 0x4000, 0, 1, 0]);
        assert_eq!(words(i128::MIN).len(), 4 + 10);
    }

    #[test]
    fn upserts_of_many_rows_update_every_column_but_the_key() {
        let rows = vec![
            vec![Param::from(1_i64), Param::from("a")],
            vec![Param::from(2_i64), Param::from("b")],
        ];
        let upsert = upsert_rows("t", "id", "id, name", rows);
        assert_eq!(
            upsert.sql(),
            "INSERT INTO t (id, name) VALUES ($1, $2), ($3, $4) ON CONFLICT (id) DO UPDATE SET name = excluded.name"
        );
        assert_eq!(upsert.params.len(), 4);
    }
}
