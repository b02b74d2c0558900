//! `/webhooks`: subscriptions to the integration events (see [`crate::integration`]).
//! Operators only.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strum::VariantArray;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::domain::text::Text;
use crate::http::AppState;
use crate::http::accounts::EmptyRequest;
use crate::http::auth::require_operator;
use crate::http::extract::{JsonBody, OptionalJsonBody, PathParam, require_json};
use crate::http::problem::{ApiError, InvalidParam, PROBLEM_JSON, Problem};
use crate::http::responses::{OperatorOnly, StorageProblems};
use crate::integration::IntegrationEventType;
use crate::integration::destination::Destination;
use crate::integration::subscriptions::{NewSubscription, Subscription};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(webhook, delete_webhook))
        .routes(routes!(parked_messages))
        .routes(routes!(retry_parked))
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

/// A subscription (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub webhook_id: Uuid,
    pub url: String,
    pub event_types: Vec<IntegrationEventType>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The log position it was made at: it is sent the events after it.
    pub starts_after: i64,
}

impl From<Subscription> for WebhookView {
    fn from(subscription: Subscription) -> Self {
        WebhookView {
            webhook_id: subscription.webhook_id,
            url: subscription.url,
            event_types: subscription.event_types,
            description: subscription.description,
            created_at: subscription.created_at,
            starts_after: subscription.starts_after,
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
        message). Operators only.",
    request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Subscribed", body = CreatedWebhookView,
            headers(("Location" = String, description = "`/webhooks/{id}`"))),
        (status = 400, description = "Malformed request (`malformed-request`) or invalid values \
            (`validation-failed`): a URL that is not `http`/`https`, carries credentials, or names a \
            private address; an unknown event type", body = Problem, content_type = PROBLEM_JSON),
        (status = 413, description = "Body too large (`payload-too-large`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not sent as `Content-Type: application/json` (`unsupported-media-type`)", body = Problem, content_type = PROBLEM_JSON),
        OperatorOnly,
        StorageProblems,
    )
)]
pub(crate) async fn create_webhook(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<CreateWebhookRequest>,
) -> Result<Response, ApiError> {
    require_operator(caller)?;
    let new = validate(request, app.webhook_allow_private)?;
    let webhook_id = app.ids.new_id();
    let (subscription, secret) = app.subscriptions.create(new, webhook_id, app.clock.now()).await?;
    tracing::info!(%webhook_id, url = %subscription.url, "webhook subscribed");
    let created = CreatedWebhookView {
        webhook: subscription.into(),
        secret: secret.expose(),
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/webhooks/{webhook_id}"))],
        axum::Json(created),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    summary = "Every webhook subscription",
    description = "Oldest first, without their secrets. Operators only.",
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
    let subscriptions = app.subscriptions.list().await?;
    Ok(axum::Json(WebhookList {
        webhooks: subscriptions.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/webhooks/{webhook_id}",
    tag = "webhooks",
    summary = "One webhook subscription",
    description = "Without its secret. Operators only.",
    params(("webhook_id" = Uuid, Path, description = "The subscription")),
    responses(
        (status = 200, description = "The subscription", body = WebhookView),
        (status = 400, description = "Malformed id (`malformed-request`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such subscription (`webhook-not-found`)", body = Problem, content_type = PROBLEM_JSON),
        OperatorOnly,
        StorageProblems,
    )
)]
pub(crate) async fn webhook(
    State(app): State<AppState>,
    caller: Caller,
    PathParam(webhook_id): PathParam<Uuid>,
) -> Result<axum::Json<WebhookView>, ApiError> {
    require_operator(caller)?;
    Ok(axum::Json(existing(&app, webhook_id).await?.into()))
}

#[utoipa::path(
    delete,
    path = "/webhooks/{webhook_id}",
    tag = "webhooks",
    summary = "Unsubscribe",
    description = "Deletes the subscription: nothing more is sent to it. Operators only.",
    params(("webhook_id" = Uuid, Path, description = "The subscription")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id (`malformed-request`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such subscription (`webhook-not-found`)", body = Problem, content_type = PROBLEM_JSON),
        OperatorOnly,
        StorageProblems,
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
        (status = 200, description = "The parked messages", body = ParkedList),
        (status = 400, description = "Malformed id (`malformed-request`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such subscription (`webhook-not-found`)", body = Problem, content_type = PROBLEM_JSON),
        OperatorOnly,
        StorageProblems,
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
        (status = 200, description = "Sent again", body = RetriedView),
        (status = 400, description = "Malformed request (`malformed-request`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such subscription (`webhook-not-found`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not sent as `Content-Type: application/json` (`unsupported-media-type`)", body = Problem, content_type = PROBLEM_JSON),
        OperatorOnly,
        StorageProblems,
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
