//! Authentication of requests, and the checks of who may see what.
//!
//! `authenticate` is the middleware in front of every API route (health checks and the
//! documentation stay public): it reads `Authorization: Bearer fbk_...`, checks the key
//! ([`crate::auth::KeyStore`]) and puts the [`Caller`] into the request, or answers `401` with
//! `WWW-Authenticate: Bearer`. While no key exists and the service listens on a loopback
//! address only, it runs open for local development ([`AuthMode::Open`]), and says so in its
//! log at every start.
//!
//! Object-level checks (OWASP API1): a customer key sees and acts on its owner's accounts only.
//! Another owner's account answers exactly as a missing one does (`404`), on every endpoint,
//! so a customer cannot even learn that it exists. Operations endpoints are for operator keys
//! (`403` for a customer key).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{AuthError, Caller, KeyStore};
use crate::domain::ids::{AccountId, OwnerId};
use crate::http::AppState;
use crate::http::problem::ApiError;

/// Whether requests need a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// A request without a key is the [`Caller::Developer`], allowed everything: no key
    /// existed when the service started, and only this machine can reach it. A request with a
    /// key is checked as in [`AuthMode::Keys`].
    Open,
    /// Every API request needs a live key.
    Keys,
}

/// Middleware: who is calling, or `401`.
pub(crate) async fn authenticate(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let authorization = request.headers().get(header::AUTHORIZATION).cloned();
    let caller = match (app.auth, authorization) {
        (AuthMode::Open, None) => Ok(Caller::Developer),
        // A key sent in development mode is checked all the same, so that scopes can be tried
        // out locally (with keys created after the server started, too).
        (_, authorization) => caller_of(&app.keys, authorization).await,
    };
    match caller {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(AuthError::Database(error)) => {
            ApiError::StorageUnavailable(crate::store::StoreError::Database(error)).into_response()
        }
        Err(error) => {
            let mut response = ApiError::Unauthorized(error.to_string()).into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

/// What anyone may fetch: health checks for orchestrators, the API's documentation and the
/// explorer page (whose own requests carry a key). Everything else needs one: a route added
/// tomorrow is closed until someone opens it here.
fn is_public(path: &str) -> bool {
    path == "/"
        || path == "/health"
        || path.starts_with("/health/")
        || path.starts_with("/swagger-ui")
        || path.starts_with("/api-docs/")
        || path == "/explorer"
        || path.starts_with("/explorer/")
}

async fn caller_of(keys: &KeyStore, authorization: Option<HeaderValue>) -> Result<Caller, AuthError> {
    let header = authorization.ok_or(AuthError::Missing)?;
    let key = header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or(AuthError::Malformed)?;
    keys.authenticate(key).await
}

/// The caller the middleware let through.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .copied()
            .ok_or_else(|| ApiError::Unauthorized("the request was not authenticated".into()))
    }
}

/// `403` unless the caller may use the operations endpoints.
pub(crate) fn require_operator(caller: Caller) -> Result<(), ApiError> {
    if caller.is_operator() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("this endpoint needs an operator key".into()))
    }
}

/// `404 account-not-found` unless `caller` may see account `account_id`: the same answer as for
/// an account that does not exist.
pub(crate) async fn ensure_visible(
    app: &AppState,
    caller: Caller,
    account_id: AccountId,
) -> Result<(), ApiError> {
    if may_see(app, caller, account_id).await? {
        Ok(())
    } else {
        Err(ApiError::AccountNotFound(account_id))
    }
}

/// Whether `caller` may see account `account_id`.
pub(crate) async fn may_see(app: &AppState, caller: Caller, account_id: AccountId) -> Result<bool, ApiError> {
    match caller.owner() {
        None => Ok(true),
        Some(owner) => Ok(owner_of(app, account_id).await? == Some(owner)),
    }
}

/// Who owns an account: the read model knows at once for most accounts; the log knows for
/// every one (its first event says), including one opened a moment ago.
async fn owner_of(app: &AppState, account_id: AccountId) -> Result<Option<OwnerId>, ApiError> {
    if let Some(owner) = app.read_models.owner_of(account_id.as_uuid()).await? {
        return Ok(Some(OwnerId(owner)));
    }
    Ok(app.log.owner_of(account_id).await?)
}
