//! `/webhooks`: subscriptions to the integration events (see [`crate::integration`]).
//! Operators only.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strum::VariantArray;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::domain::text::Text;
use crate::http::AppState;
use crate::http::accounts::EmptyRequest;
use crate::http::auth::require_operator;
use crate::http::extract::{JsonBody, OptionalJsonBody, PathParam, QueryParams, require_json};
use crate::http::idempotency::{CommandRequest, IdempotencyKeyParam};
use crate::http::problem::{ApiError, InvalidParam, PROBLEM_JSON, Problem};
use crate::http::reads::page_size;
use crate::http::recorded::IDEMPOTENT_REPLAYED;
use crate::http::responses::{OperatorOnly, StorageProblems, WebhookProblems};
use crate::integration::IntegrationEventType;
use crate::integration::delivery::AttemptOutcome;
use crate::integration::destination::Destination;
use crate::integration::subscriptions::{Backlogs, Created, KeyedRequest, NewSubscription, Subscription};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(webhook, delete_webhook))
        .routes(routes!(parked_messages))
        .routes(routes!(retry_parked))
        .routes(routes!(deliveries))
        .routes(routes!(replay))
}

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "url": "https://ledger.example.com/foldbank/events",
    "event_types": ["money.deposited.v1", "money.withdrawn.v1", "transfer.failed.v1"],
    "description": "the ledger service"
}))]
pub struct CreateWebhookRequest {
    /// Where to send the messages: `https` (or `http`), no user name or password, at most 2048
    /// characters. Private, loopback and link-local addresses are refused unless the service
    /// runs with `--webhook-allow-private`.
    #[schema(max_length = 2048)]
    pub url: String,
    /// The integration event types to send (at least one).
    #[schema(value_type = Vec<IntegrationEventType>, min_items = 1)]
    pub event_types: Vec<String>,
    /// For the operators. Free text: not blank, at most 200 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub description: Option<String>,
}

/// A subscription (never its secret), with what it has still to receive.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub webhook_id: Uuid,
    pub url: String,
    pub event_types: Vec<IntegrationEventType>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The log position it was made at: it is sent the events after it.
    pub starts_after: i64,
    pub backlog: BacklogView,
    /// The replay under way, if any (`POST /webhooks/{id}/replay`).
    pub replay: Option<ReplayView>,
}

/// What a subscription has still to receive.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct BacklogView {
    /// Messages not yet delivered, parked ones included.
    pub waiting: i64,
    /// Messages whose attempts ran out (`/webhooks/{id}/parked`).
    pub parked: i64,
    /// Events of the log after the last position up to which it has received everything
    /// (before its oldest message not yet delivered, and at most where the outbox stands); 0
    /// when it has everything.
    pub lag_events: i64,
}

/// A stretch of the log being sent again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayView {
    /// The next log position to enqueue again.
    pub next_position: i64,
    /// The last one: where the outbox stood when the replay was asked for.
    pub until_position: i64,
}

impl WebhookView {
    fn new(subscription: Subscription, backlogs: &Backlogs, head: i64) -> Self {
        let backlog = backlogs.of(subscription.webhook_id);
        let lag_events = backlogs.lag_events(&subscription, head);
        WebhookView {
            webhook_id: subscription.webhook_id,
            url: subscription.url,
            event_types: subscription.event_types,
            description: subscription.description,
            created_at: subscription.created_at,
            starts_after: subscription.starts_after,
            backlog: BacklogView {
                waiting: backlog.waiting,
                parked: backlog.parked,
                lag_events,
            },
            replay: subscription.replay.map(|replay| ReplayView {
                next_position: replay.next,
                until_position: replay.until,
            }),
        }
    }
}

/// A subscription just made, with its secret: shown now and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhookView {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_<base64>`: the key of the messages' signatures (Standard Webhooks). Keep it now;
    /// it cannot be shown again.
    pub secret: String,
}

/// Every subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "webhooks",
    summary = "Subscribe to integration events",
    description = "Registers a URL to be sent the integration events of the chosen types that \
        are appended from now on, one `POST` per event, signed per Standard Webhooks with the \
        `secret` this answer shows once (see the `webhooks` section of this document for each \
        message). With an `Idempotency-Key`, the same request sent again answers the same \
        subscription (`Idempotent-Replayed: true`) instead of making a second one. Operators only.",
    params(IdempotencyKeyParam),
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Subscribed", body = CreatedWebhookView,
            headers(("Location" = String, description = "`/webhooks/{id}`"))),
        (status = 400, description = "Malformed request (`malformed-request`) or invalid values \
            (`validation-failed`): a URL that is not `http`/`https`, carries credentials, or names a \
            private address; an unknown event type", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Body too large (`payload-too-large`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not sent as `Content-Type: application/json` (`unsupported-media-type`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "The `Idempotency-Key` was used with another request (`idempotency-key-reused`)", body = Problem, content_type = PROBLEM_JSON),
        OperatorOnly,
        StorageProblems,
    )
)]
pub(crate) async fn create_webhook(
    State(app): State<AppState>,
    command: CommandRequest,
    JsonBody(request): JsonBody<CreateWebhookRequest>,
) -> Result<Response, ApiError> {
    require_operator(command.caller)?;
    let new = validate(request, app.webhook_allow_private)?;
    let keyed = command
        .scoped_key()
        .map(|(key, fingerprint)| KeyedRequest { key, fingerprint });
    let created = app
        .subscriptions
        .create(
            new,
            app.ids.new_id(),
            app.clock.now(),
            keyed,
            &app.keyring.master_keys(),
        )
        .await?;
    let (subscription, secret, again) = match created {
        Created::New(subscription, secret) => (subscription, secret, false),
        Created::Again(subscription, secret) => (subscription, secret, true),
    };
    let webhook_id = subscription.webhook_id;
    if !again {
        tracing::info!(%webhook_id, url = %subscription.url, "webhook subscribed");
    }
    let created = CreatedWebhookView {
        webhook: WebhookView::new(subscription, &Backlogs::default(), 0),
        secret: secret.expose(),
    };
    let mut response = (
        StatusCode::CREATED,
        [(header::LOCATION, format!("/webhooks/{webhook_id}"))],
        axum::Json(created),
    )
        .into_response();
    if again {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, header::HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    summary = "Every webhook subscription",
    description = "Oldest first, without their secrets, each with what it has still to receive \
        (messages waiting and parked, lag behind the log) and its replay under way. Operators only.",
    responses(
        (status = 200, description = "The subscriptions", body = WebhookList),
        OperatorOnly,
        StorageProblems,
    )
)]
pub(crate) async fn list_webhooks(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<WebhookList>, ApiError> {
    require_operator(caller)?;
    let head = app.log.head().await?;
    let backlogs = app.subscriptions.backlogs().await?;
    let subscriptions = app.subscriptions.list().await?;
    Ok(axum::Json(WebhookList {
        webhooks: subscriptions
            .into_iter()
            .map(|subscription| WebhookView::new(subscription, &backlogs, head))
            .collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/webhooks/{webhook_id}",
    tag = "webhooks",
    summary = "One webhook subscription",
    description = "Without its secret, with what it has still to receive (messages waiting and \
        parked, lag behind the log) and its replay under way. Operators only.",
    params(("webhook_id" = Uuid, Path, description = "The subscription")),
    responses(
        WebhookProblems,
        (status = 200, description = "The subscription", body = WebhookView),
    )
)]
pub(crate) async fn webhook(
    State(app): State<AppState>,
    caller: Caller,
    PathParam(webhook_id): PathParam<Uuid>,
) -> Result<axum::Json<WebhookView>, ApiError> {
    require_operator(caller)?;
    let head = app.log.head().await?;
    let subscription = existing(&app, webhook_id).await?;
    let backlogs = app.subscriptions.backlog(webhook_id).await?;
    Ok(axum::Json(WebhookView::new(subscription, &backlogs, head)))
}

#[utoipa::path(
    delete,
    path = "/webhooks/{webhook_id}",
    tag = "webhooks",
    summary = "Unsubscribe",
    description = "Deletes the subscription: nothing more is sent to it. Operators only.",
    params(("webhook_id" = Uuid, Path, description = "The subscription")),
    responses(
        WebhookProblems,
        (status = 204, description = "Deleted"),
    )
)]
pub(crate) async fn delete_webhook(
    State(app): State<AppState>,
    caller: Caller,
    PathParam(webhook_id): PathParam<Uuid>,
) -> Result<StatusCode, ApiError> {
    require_operator(caller)?;
    if !app.subscriptions.delete(webhook_id).await? {
        return Err(ApiError::WebhookNotFound(webhook_id));
    }
    tracing::info!(%webhook_id, "webhook deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// A message whose attempts ran out: it holds up the later messages of its account.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParkedMessageView {
    /// The event's log position.
    pub position: i64,
    pub account_id: Uuid,
    /// The event's id, the message's `webhook-id`.
    pub event_id: Uuid,
    pub event_type: IntegrationEventType,
    pub attempts: i32,
    /// What the last attempt met: the status answered, a time-out, no connection.
    pub last_error: Option<String>,
    pub parked_at: DateTime<Utc>,
}

/// A subscription's parked messages, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParkedList {
    pub parked: Vec<ParkedMessageView>,
}

/// What a retry of the parked messages did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RetriedView {
    /// The messages sent again, each followed by the later messages of its account.
    pub retried: u64,
}

#[utoipa::path(
    get,
    path = "/webhooks/{webhook_id}/parked",
    tag = "webhooks",
    summary = "A subscription's parked messages",
    description = "The messages whose attempts ran out, oldest first, with the last error met. \
        Each holds up the later messages of its account for this subscription (they wait, in \
        order); other accounts keep flowing. Operators only.",
    params(("webhook_id" = Uuid, Path, description = "The subscription")),
    responses(
        WebhookProblems,
        (status = 200, description = "The parked messages", body = ParkedList),
    )
)]
pub(crate) async fn parked_messages(
    State(app): State<AppState>,
    caller: Caller,
    PathParam(webhook_id): PathParam<Uuid>,
) -> Result<axum::Json<ParkedList>, ApiError> {
    require_operator(caller)?;
    existing(&app, webhook_id).await?;
    let parked = app.subscriptions.parked(webhook_id).await?;
    Ok(axum::Json(ParkedList {
        parked: parked
            .into_iter()
            .filter_map(|message| {
                Some(ParkedMessageView {
                    event_type: message.event_type.parse().ok()?,
                    position: message.position,
                    account_id: message.account_id,
                    event_id: message.event_id,
                    attempts: message.attempts,
                    last_error: message.last_error,
                    parked_at: message.parked_at,
                })
            })
            .collect(),
    }))
}

#[utoipa::path(
    post,
    path = "/webhooks/{webhook_id}/parked/retry",
    tag = "webhooks",
    summary = "Send a subscription's parked messages again",
    description = "Every parked message of the subscription is sent again from now, its attempts \
        counted from zero, and the later messages of its account follow it in order. Retrying when \
        nothing is parked does nothing. The body is `{}` (or empty), as `application/json`. \
        Operators only.",
    params(("webhook_id" = Uuid, Path, description = "The subscription")),
    request_body(content = EmptyRequest, description = "`{}` (an empty body or `null` mean the same; either way `Content-Type: application/json`)"),
    responses(
        WebhookProblems,
        (status = 200, description = "Sent again", body = RetriedView),
        (status = 415, description = "Not sent as `Content-Type: application/json` (`unsupported-media-type`)", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn retry_parked(
    State(app): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    PathParam(webhook_id): PathParam<Uuid>,
    OptionalJsonBody(EmptyRequest {}): OptionalJsonBody<EmptyRequest>,
) -> Result<axum::Json<RetriedView>, ApiError> {
    require_operator(caller)?;
    require_json(&headers)?;
    existing(&app, webhook_id).await?;
    let retried = app
        .subscriptions
        .retry_parked(webhook_id, chrono::Utc::now())
        .await?;
    tracing::info!(%webhook_id, retried, "parked webhook messages sent again");
    Ok(axum::Json(RetriedView { retried }))
}

/// One attempt to deliver a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttemptView {
    pub attempted_at: DateTime<Utc>,
    /// The event's log position.
    pub position: i64,
    pub account_id: Uuid,
    /// The event's id, the message's `webhook-id`.
    pub event_id: Uuid,
    pub event_type: IntegrationEventType,
    /// 1 for the message's first attempt (since it was enqueued, retried or replayed).
    pub attempt: i32,
    pub outcome: AttemptOutcome,
    /// The status the receiver answered; absent when it did not answer (time-out, no
    /// connection).
    pub status: Option<i32>,
    /// From sending the request to its answer (or failure), in milliseconds.
    pub latency_ms: i64,
    /// Why it did not count as delivered: the status answered, a time-out, no connection.
    pub error: Option<String>,
}

/// A subscription's most recent delivery attempts, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryAttemptView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// How many, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/webhooks/{webhook_id}/deliveries",
    tag = "webhooks",
    summary = "A subscription's recent delivery attempts",
    description = "Every attempt to send the subscription a message, newest first: when, which \
        event, the status answered (or none), how long it took, and what became of the message \
        (`delivered`, `failed`: tried again after a back-off, `parked`: its attempts ran out). \
        The last 1,000 attempts of each subscription are kept. Operators only.",
    params(("webhook_id" = Uuid, Path, description = "The subscription"), DeliveryParams),
    responses(
        WebhookProblems,
        (status = 200, description = "The attempts", body = DeliveryList),
        (status = 400, description = "Malformed id (`malformed-request`) or `limit` out of range (`validation-failed`)", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn deliveries(
    State(app): State<AppState>,
    caller: Caller,
    PathParam(webhook_id): PathParam<Uuid>,
    QueryParams(params): QueryParams<DeliveryParams>,
) -> Result<axum::Json<DeliveryList>, ApiError> {
    require_operator(caller)?;
    let limit = page_size(params.limit)?;
    existing(&app, webhook_id).await?;
    let attempts = app.subscriptions.attempts(webhook_id, limit).await?;
    Ok(axum::Json(DeliveryList {
        deliveries: attempts
            .into_iter()
            .filter_map(|attempt| {
                Some(DeliveryAttemptView {
                    event_type: attempt.event_type.parse().ok()?,
                    outcome: attempt.outcome.parse().ok()?,
                    attempted_at: attempt.attempted_at,
                    position: attempt.position,
                    account_id: attempt.account_id,
                    event_id: attempt.event_id,
                    attempt: attempt.attempt,
                    status: attempt.status,
                    latency_ms: attempt.latency_ms,
                    error: attempt.error,
                })
            })
            .collect(),
    }))
}

/// A replay: the subscription's messages of a stretch of the log, sent again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "from_position": 1 }))]
pub struct ReplayRequest {
    /// The first log position to send again (1 for the whole log).
    #[schema(minimum = 1)]
    pub from_position: i64,
}

/// The stretch a replay sends again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayAccepted {
    pub from_position: i64,
    /// Where the outbox stood: what comes after, the subscription is sent as ever. Below
    /// `from_position` when there is nothing to replay.
    pub until_position: i64,
}

#[utoipa::path(
    post,
    path = "/webhooks/{webhook_id}/replay",
    tag = "webhooks",
    summary = "Send a subscription the events of the log again",
    description = "Enqueues again, for this subscription, the message of every event of its types \
        from `from_position` to where the outbox stands (the answer's `until_position`), including \
        events from before it subscribed; a message it still has, parked or waiting, is sent again \
        from now. Runs in the background, a page at a time while the subscription has fewer than \
        10,000 messages waiting, and survives restarts; `GET /webhooks/{id}` shows its progress. \
        Replaces any replay under way. Messages keep their `webhook-id`, so receivers that \
        already have one can tell. Operators only.",
    params(("webhook_id" = Uuid, Path, description = "The subscription")),
    request_body = ReplayRequest,
    responses(
        WebhookProblems,
        (status = 202, description = "Replay under way (or nothing to replay)", body = ReplayAccepted),
        (status = 400, description = "Malformed request (`malformed-request`) or `from_position` below 1 (`validation-failed`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Body too large (`payload-too-large`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not sent as `Content-Type: application/json` (`unsupported-media-type`)", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn replay(
    State(app): State<AppState>,
    caller: Caller,
    PathParam(webhook_id): PathParam<Uuid>,
    JsonBody(request): JsonBody<ReplayRequest>,
) -> Result<(StatusCode, axum::Json<ReplayAccepted>), ApiError> {
    require_operator(caller)?;
    if request.from_position < 1 {
        return Err(InvalidParam::new("from_position", "must be 1 or more").into());
    }
    let replay = app
        .subscriptions
        .replay(webhook_id, request.from_position)
        .await?
        .ok_or(ApiError::WebhookNotFound(webhook_id))?;
    tracing::info!(%webhook_id, from = replay.next, until = replay.until, "webhook replay asked for");
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(ReplayAccepted {
            from_position: replay.next,
            until_position: replay.until,
        }),
    ))
}

/// `404 webhook-not-found` unless the subscription exists.
async fn existing(app: &AppState, webhook_id: Uuid) -> Result<Subscription, ApiError> {
    app.subscriptions
        .get(webhook_id)
        .await?
        .ok_or(ApiError::WebhookNotFound(webhook_id))
}

/// The request's values, checked: every problem found, each named by its field.
fn validate(request: CreateWebhookRequest, allow_private: bool) -> Result<NewSubscription, ApiError> {
    let mut problems = Vec::new();
    let destination = Destination::parse(&request.url, allow_private)
        .map_err(|error| problems.push(InvalidParam::new("url", error)))
        .ok();
    let mut event_types = BTreeSet::new();
    if request.event_types.is_empty() {
        problems.push(InvalidParam::new("event_types", "name at least one event type"));
    }
    for name in &request.event_types {
        match name.parse::<IntegrationEventType>() {
            Ok(event_type) => {
                event_types.insert(event_type);
            }
            Err(_) => {
                let known: Vec<&str> = IntegrationEventType::VARIANTS
                    .iter()
                    .map(|t| t.as_str())
                    .collect();
                let shown: String = name.chars().take(64).collect();
                problems.push(InvalidParam::new(
                    "event_types",
                    format!("unknown event type {shown:?}; known: {}", known.join(", ")),
                ));
                break;
            }
        }
    }
    let description = match request.description.map(Text::new).transpose() {
        Ok(description) => description.map(|text| text.as_str().to_owned()),
        Err(error) => {
            problems.push(InvalidParam::new("description", error));
            None
        }
    };
    match destination {
        Some(destination) if problems.is_empty() => Ok(NewSubscription {
            destination,
            event_types,
            description,
        }),
        _ => Err(ApiError::Validation(problems)),
    }
}
