//! The problem responses many operations share, for the `responses(...)` of `#[utoipa::path]`.
//!
//! Each type here implements [`utoipa::IntoResponses`] for a fixed set of statuses, each answered
//! with a [`Problem`] as `application/problem+json`, and described the same way everywhere. An
//! operation lists the set that fits it next to its own responses (its success, its `422` rules).
//! utoipa fills the responses map in the order they are listed, so a tuple after a set replaces
//! that set's entry for the same status: that is how an operation gives its own `404` a more
//! precise description. A set documents only statuses its operations answer; where none fits,
//! an operation lists its problems itself.

use std::collections::BTreeMap;

use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder, response::Response};
use utoipa::{IntoResponses, ToSchema};

use crate::http::extract::BODY_LIMIT_BYTES;
use crate::http::problem::{PROBLEM_JSON, Problem};

/// One shared problem response: its status and what it means.
#[derive(Debug, Clone, Copy)]
enum Shared {
    Malformed,
    BadRequest,
    /// A query's parameters, `min_position` beyond the log's head among them.
    BadQuery,
    AccountNotFound,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    ReadModelBehind,
    StorageUnavailable,
    /// A command whose write may or may not have been stored.
    OutcomeUnknown,
    /// A command that wrote nothing because the database failed: safe to retry.
    NotWritten,
    /// A customer key on an operations endpoint.
    OperatorOnly,
    WebhookNotFound,
    ProjectionNotFound,
}

impl Shared {
    fn status(self) -> &'static str {
        match self {
            Shared::Malformed | Shared::BadRequest | Shared::BadQuery => "400",
            Shared::AccountNotFound | Shared::WebhookNotFound | Shared::ProjectionNotFound => "404",
            Shared::OperatorOnly => "403",
            Shared::Conflict => "409",
            Shared::PreconditionFailed => "412",
            Shared::PayloadTooLarge => "413",
            Shared::UnsupportedMediaType => "415",
            Shared::ReadModelBehind | Shared::StorageUnavailable | Shared::NotWritten => "503",
            Shared::OutcomeUnknown => "500",
        }
    }

    fn description(self) -> String {
        match self {
            Shared::Malformed => "Malformed request (`malformed-request`)".into(),
            Shared::BadRequest => {
                "Malformed request (`malformed-request`) or invalid values (`validation-failed`)".into()
            }
            Shared::BadQuery => "Malformed request (`malformed-request`), invalid values \
                (`validation-failed`), or a `min_position` beyond the head of the log, which no \
                wait could reach (`position-beyond-head`)"
                .into(),
            Shared::AccountNotFound => {
                "No such account, or not one this key may see (`account-not-found`)".into()
            }
            Shared::OperatorOnly => "Needs an operator key (`forbidden`)".into(),
            Shared::WebhookNotFound => "No such subscription (`webhook-not-found`)".into(),
            Shared::ProjectionNotFound => "No read model of that name (`projection-not-found`)".into(),
            Shared::Conflict => {
                "Concurrent modification persisted after retries (`concurrency-conflict`)".into()
            }
            Shared::PreconditionFailed => "`If-Match` version does not match (`precondition-failed`)".into(),
            Shared::PayloadTooLarge => {
                format!("Body over {} KiB (`payload-too-large`)", BODY_LIMIT_BYTES / 1024)
            }
            Shared::UnsupportedMediaType => "Not sent as `Content-Type: application/json`, \
                also when the body is empty (`unsupported-media-type`)"
                .into(),
            Shared::ReadModelBehind => "`min_position` not reached in time (`projection-behind`), \
                or the database is unavailable (`storage-unavailable`)"
                .into(),
            Shared::StorageUnavailable => "The database is unavailable (`storage-unavailable`)".into(),
            Shared::NotWritten => "The database is unavailable and nothing was written \
                (`storage-unavailable`): safe to retry"
                .into(),
            Shared::OutcomeUnknown => "The command took too long or its commit was not confirmed \
                (`outcome-unknown`): it may or may not have been written. Send it again with the \
                same `Idempotency-Key` to learn which, without writing it twice"
                .into(),
        }
    }
}

/// The responses map of `problems`.
fn problems(problems: &[Shared]) -> BTreeMap<String, RefOr<Response>> {
    problems
        .iter()
        .map(|problem| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(Problem::name())))
                .build();
            let response = ResponseBuilder::new()
                .description(problem.description())
                .content(PROBLEM_JSON, content)
                .build();
            (problem.status().to_owned(), RefOr::T(response))
        })
        .collect()
}

/// What a command on an existing account with a JSON body can answer: 400, 404, 409, 412 (its
/// `If-Match` did not hold), 413 and 415, and 500 or 503 when its write failed.
#[derive(Debug)]
pub(crate) struct CommandProblems;

impl IntoResponses for CommandProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        use Shared::*;
        problems(&[
            BadRequest,
            AccountNotFound,
            Conflict,
            PreconditionFailed,
            PayloadTooLarge,
            UnsupportedMediaType,
            OutcomeUnknown,
            NotWritten,
        ])
    }
}

/// [`CommandProblems`] for the commands whose body is `{}` or nothing
/// ([`EmptyRequest`](crate::http::accounts::EmptyRequest)): no values to be invalid, and no 413,
/// which their documentation has never listed.
#[derive(Debug)]
pub(crate) struct EmptyBodyCommandProblems;

impl IntoResponses for EmptyBodyCommandProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        use Shared::*;
        problems(&[
            Malformed,
            AccountNotFound,
            Conflict,
            PreconditionFailed,
            UnsupportedMediaType,
            OutcomeUnknown,
            NotWritten,
        ])
    }
}

/// What a command creating something (an account, a transfer) can answer: 400, 413 and 415 for
/// its body, 500 and 503 for its write.
#[derive(Debug)]
pub(crate) struct BodyProblems;

impl IntoResponses for BodyProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        use Shared::*;
        problems(&[
            BadRequest,
            PayloadTooLarge,
            UnsupportedMediaType,
            OutcomeUnknown,
            NotWritten,
        ])
    }
}

/// What every read of a read model can answer: 400 and 503 (`min_position` not reached).
#[derive(Debug)]
pub(crate) struct QueryProblems;

impl IntoResponses for QueryProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        use Shared::*;
        problems(&[BadQuery, ReadModelBehind])
    }
}

/// [`QueryProblems`] for a read of one account's records: also 404.
#[derive(Debug)]
pub(crate) struct AccountQueryProblems;

impl IntoResponses for AccountQueryProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        use Shared::*;
        problems(&[BadQuery, AccountNotFound, ReadModelBehind])
    }
}

/// 503 when the database cannot be reached: for operations that take no input.
#[derive(Debug)]
pub(crate) struct StorageProblems;

impl IntoResponses for StorageProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[Shared::StorageUnavailable])
    }
}

/// 403 for a customer key: for the operations endpoints, which need an operator key.
#[derive(Debug)]
pub(crate) struct OperatorOnly;

impl IntoResponses for OperatorOnly {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[Shared::OperatorOnly])
    }
}

/// What pausing or resuming a read model can answer: 400, 403 for a customer key, 404 for a
/// name that is no read model, 415, 503.
#[derive(Debug)]
pub(crate) struct ProjectionProblems;

impl IntoResponses for ProjectionProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        use Shared::*;
        problems(&[
            Malformed,
            OperatorOnly,
            ProjectionNotFound,
            UnsupportedMediaType,
            StorageUnavailable,
        ])
    }
}

/// What every operation on one webhook subscription can answer: 400 (a malformed id), 403 for a
/// customer key, 404 and 503.
#[derive(Debug)]
pub(crate) struct WebhookProblems;

impl IntoResponses for WebhookProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        use Shared::*;
        problems(&[Malformed, OperatorOnly, WebhookNotFound, StorageUnavailable])
    }
}
