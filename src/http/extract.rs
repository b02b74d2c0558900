//! Extractors whose rejections are [`ApiError`]s, so even a request that never reaches a handler
//! is answered with a problem document.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::de::DeserializeOwned;

use crate::command::Precondition;
use crate::http::problem::ApiError;

/// The request body limit, shared by the tower layer and error messages.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// Every command must say `Content-Type: application/json`, with a body or without: `415`
/// otherwise.
///
/// A command without parameters (`/close`) may have an empty body, but not another media type:
/// a web page can send a cross-site `POST` with a form's or `text/plain` type (or none) without
/// the browser asking first, never one with `application/json`. Refusing the others keeps a
/// page the developer visits from closing accounts of a server in local development mode.
pub(crate) fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    if is_json(headers) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            "a command is sent as Content-Type: application/json, also when its body is empty".into(),
        ))
    }
}

/// Whether the request's media type is `application/json` (parameters such as `charset` aside).
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

/// A JSON request body.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
            limit_bytes: BODY_LIMIT_BYTES,
        },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(
            "the request body must be JSON (Content-Type: application/json)".into(),
        ),
        _ => ApiError::MalformedRequest(rejection.body_text()),
    }
}

/// A JSON body that may be empty: then `T::default()`. (Its `Content-Type` must still be
/// `application/json`, which [`CommandRequest`](crate::http::idempotency::CommandRequest) checks.)
///
/// For commands without parameters (`/unfreeze`, `/close`), where `{}` and nothing mean the same.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJsonBody<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJsonBody<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
                        limit_bytes: BODY_LIMIT_BYTES,
                    },
                    _ => ApiError::MalformedRequest(rejection.body_text()),
                })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        // `null` means "no parameters" as much as an empty body does.
        match axum::Json::<Option<T>>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(OptionalJsonBody(value.unwrap_or_default())),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A path parameter; a malformed one (say, an account id that is not a UUID) is a 400 problem.
#[derive(Debug, Clone, Copy)]
pub struct PathParam<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParam<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParam(value)),
            Err(PathRejection::FailedToDeserializePathParams(error)) => Err(ApiError::MalformedRequest(
                format!("invalid path parameter: {}", error.body_text()),
            )),
            Err(rejection) => Err(ApiError::Internal(Box::new(rejection))),
        }
    }
}

impl utoipa::IntoParams for IfMatch {
    fn into_params(
        _parameter_in: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r#"^(\*|"[0-9]{1,18}")?$"#))
            .examples([serde_json::json!("\"3\"")]);
        vec![
            ParameterBuilder::new()
                .name("If-Match")
                .parameter_in(ParameterIn::Header)
                .required(utoipa::openapi::Required::False)
                .description(Some(
                    "Run only if the account is at this version (the quoted `ETag` of an earlier \
                     response), or `*` for any version; a mismatch answers 412.",
                ))
                .schema(Some(schema))
                .build(),
        ]
    }
}

/// Query-string parameters; malformed ones (a bad UUID, a malformed instant, a number that is not
/// one) are a 400 problem.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryParams(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(error)) => Err(ApiError::MalformedRequest(
                format!("invalid query parameter: {}", error.body_text()),
            )),
            Err(rejection) => Err(ApiError::MalformedRequest(rejection.body_text())),
        }
    }
}

/// The `If-Match` header: `"<version>"` pins the version the command must see; `*` or no header
/// means any version.
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Precondition);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // An empty header value is treated like an absent header.
        let Some(value) = parts
            .headers
            .get(header::IF_MATCH)
            .filter(|value| !value.is_empty())
        else {
            return Ok(IfMatch(Precondition::None));
        };
        let malformed = || {
            ApiError::MalformedRequest(
                "If-Match must be one strong entity tag holding a version, like \"3\", or *".into(),
            )
        };
        let text = value.to_str().map_err(|_| malformed())?.trim();
        if text == "*" {
            return Ok(IfMatch(Precondition::None));
        }
        let version = text
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .and_then(|digits| digits.parse::<i64>().ok())
            .filter(|version| *version >= 0)
            .ok_or_else(malformed)?;
        Ok(IfMatch(Precondition::Version(version)))
    }
}

/// Longer client-supplied request ids are not recorded: metadata stays small.
const MAX_CORRELATION_ID_LEN: usize = 128;

/// The request id (`x-request-id`), recorded as the correlation id of the events a request causes.
#[derive(Debug, Clone, Default)]
pub struct CorrelationId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for CorrelationId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let id = parts
            .headers
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .filter(|id| id.len() <= MAX_CORRELATION_ID_LEN)
            .map(str::to_owned);
        Ok(CorrelationId(id))
    }
}

/// `ETag: "<version>"`.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Adds the [`etag`] of `version`: what a client sends back as `If-Match`.
pub(crate) fn with_etag(mut response: Response, version: i64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&etag(version)) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}
