//! Authentication of requests, and the checks of who may see what.
//!
//! `authenticate` is the middleware in front of every API route (health checks and the
//! documentation stay public): it reads `Authorization: Bearer fbk_...`, checks the key
//! ([`crate::auth::KeyStore`]) and puts the [`Caller`] into the request, or answers `401` with
//! `WWW-Authenticate: Bearer`. While no key exists and the service listens on a loopback
//! address only, it runs open for local development ([`AuthMode::Open`]), and says so in its
//! log at every start; it serves requests without a key only to `Host` names of this machine
//! (`421` otherwise, against DNS rebinding), and only until the first key exists ([`Access`]).
//!
//! Object-level checks (OWASP API1): a customer key sees and acts on its owner's accounts only.
//! Another owner's account answers exactly as a missing one does (`404`), on every endpoint,
//! so a customer cannot even learn that it exists. Operations endpoints are for operator keys
//! (`403` for a customer key).

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use sha2::{Digest, Sha256};

use crate::auth::{AuthError, Caller, KeyStore};
use crate::domain::ids::{AccountId, OwnerId};
use crate::http::AppState;
use crate::http::problem::ApiError;
use crate::http::rate_limit::client_address;

/// Whether requests need a key, as the server starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// A request without a key is the [`Caller::Developer`], allowed everything: no key
    /// existed when the service started, and only this machine can reach it. It lasts until
    /// the first key exists ([`Access`]). A request with a key is checked as in
    /// [`AuthMode::Keys`].
    Open,
    /// Every API request needs a live key.
    Keys,
}

/// How often an open server asks whether a key exists now.
const LOCAL_MODE_RECHECK: Duration = Duration::from_secs(2);

/// The access policy of a running server: [`AuthMode::Keys`], or local development mode until
/// a key exists. Cheap to clone: clones share the state.
#[derive(Debug, Clone)]
pub struct Access {
    local: Option<Arc<LocalMode>>,
}

/// Local development mode: open while the key table has no live key, closed for good (until a
/// restart) once it has one. Every process sharing the database closes within
/// [`LOCAL_MODE_RECHECK`] of the first `foldbank keys create`.
#[derive(Debug)]
struct LocalMode {
    keys: KeyStore,
    closed: AtomicBool,
    started: Instant,
    /// When the next request asks the key table again (milliseconds since `started`).
    next_check_ms: AtomicU64,
}

impl Access {
    pub fn new(mode: AuthMode, keys: KeyStore) -> Self {
        let local = (mode == AuthMode::Open).then(|| {
            Arc::new(LocalMode {
                keys,
                closed: AtomicBool::new(false),
                started: Instant::now(),
                next_check_ms: AtomicU64::new(0),
            })
        });
        Access { local }
    }

    /// Whether a request without a key is served (as the [`Caller::Developer`]).
    pub async fn keyless_allowed(&self) -> bool {
        let Some(local) = &self.local else {
            return false;
        };
        if local.closed.load(Ordering::Acquire) {
            return false;
        }
        let now = u64::try_from(local.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let due = local.next_check_ms.load(Ordering::Acquire);
        let next = now.saturating_add(u64::try_from(LOCAL_MODE_RECHECK.as_millis()).unwrap_or(0));
        // One request asks; the others meanwhile go by the last answer.
        if now >= due
            && local
                .next_check_ms
                .compare_exchange(due, next, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            match local.keys.any_active().await {
                Ok(true) => {
                    local.closed.store(true, Ordering::Release);
                    tracing::warn!(
                        "an API key exists now: local development mode is over, every request needs a key"
                    );
                }
                Ok(false) => {}
                Err(error) => {
                    // Unsure: not open for this request, and the next one asks again.
                    tracing::warn!(%error, "cannot tell whether an API key exists; refusing requests without one for now");
                    local.next_check_ms.store(now, Ordering::Release);
                    return false;
                }
            }
        }
        !local.closed.load(Ordering::Acquire)
    }
}

/// Middleware: who is calling, or `401`.
///
/// Requests without a valid key count against their address's allowance ([`RateLimits`]),
/// and an address that spent it is answered `429` before its key is looked up.
///
/// [`RateLimits`]: crate::http::rate_limit::RateLimits
pub(crate) async fn authenticate(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let address = client_address(&request);
    let host = host_of(&request);
    match identify(&app, request.headers(), host.as_deref(), address).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

/// The caller of `request`, or the problem to answer.
async fn identify(
    app: &AppState,
    headers: &HeaderMap,
    host: Option<&str>,
    address: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    let authorization = headers.get(header::AUTHORIZATION);
    if authorization.is_none() && app.access.keyless_allowed().await {
        // Local development mode is for this machine only: a web page the developer visits
        // must not reach it through a DNS name rebound to 127.0.0.1.
        return if host.is_none_or(names_loopback) {
            Ok(Caller::Developer)
        } else {
            Err(ApiError::MisdirectedRequest)
        };
    }
    let digest = authorization.map(|value| <[u8; 32]>::from(Sha256::digest(value.as_bytes())));
    app.limits.check_not_blocked(address, digest)?;
    // A key sent in development mode is checked all the same, so that scopes can be tried
    // out locally.
    match caller_of(&app.keys, authorization).await {
        Ok(caller) => {
            if let Some(digest) = digest {
                app.limits.valid_key(digest);
            }
            Ok(caller)
        }
        Err(AuthError::Database(error)) => Err(ApiError::StorageUnavailable(
            crate::store::StoreError::Database(error),
        )),
        Err(error) => {
            app.limits.charge_refused(address)?;
            Err(ApiError::Unauthorized(error.to_string()))
        }
    }
}

/// The host a request names: its `Host` header, or the authority of its URI (HTTP/2 sends
/// `:authority` instead); `None` when it names none, as a client that is no browser may send
/// it. A `Host` that is not text is kept as such, and names no loopback.
fn host_of(request: &Request) -> Option<String> {
    match request.headers().get(header::HOST) {
        Some(host) => Some(host.to_str().unwrap_or("\u{fffd}").to_owned()),
        None => request
            .uri()
            .authority()
            .map(|authority| authority.as_str().to_owned()),
    }
}

/// Whether `host` names this machine's loopback interface.
fn names_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // `[::1]:8080`
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
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

async fn caller_of(keys: &KeyStore, authorization: Option<&HeaderValue>) -> Result<Caller, AuthError> {
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
