//! The explorer: a page at `/explorer` that shows one account's life as events, folds and
//! views, and the landing page at `/`.
//!
//! The page is static HTML, CSS and JavaScript compiled into the binary (`src/http/explorer/`),
//! so it works with no network and no build step. It is a client of the public API like any
//! other: every request it sends carries the key typed into it (kept in the tab's
//! `sessionStorage`, never in a URL), so these routes need no key and are not part of the
//! OpenAPI document. This module must not reach the command or query side: what the page
//! shows, it learns over HTTP.
//!
//! Every answer carries a Content-Security-Policy that allows only this origin (no inline
//! script or style, no third-party host), and `Cache-Control: no-cache` with an `ETag`: a
//! browser revalidates each time and gets `304` until the binary serving it changes, so a new
//! page never runs with an old script.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Serialize;

use crate::http::AppState;
use crate::http::problem::ApiError;

/// Only this origin, for everything; no inline code. `connect-src` covers the page's `fetch`
/// calls to the API, `img-src data:` nothing but the browser's own form controls.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// One file of the page, compiled in.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("explorer/index.html"),
};

const LANDING: Asset = Asset {
    name: "landing.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("explorer/landing.html"),
};

/// What `/explorer/{file}` serves. `index.html` is served at `/explorer` itself.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("explorer/app.js"),
    },
    Asset {
        name: "fold.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("explorer/fold.js"),
    },
    Asset {
        name: "money.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("explorer/money.js"),
    },
    Asset {
        name: "chart.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("explorer/chart.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("explorer/style.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("explorer/favicon.svg"),
    },
];

/// The explorer's routes (state is needed only to tell the page whether keys are required).
pub(crate) fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/", get(landing))
        .route("/explorer", get(page))
        .route("/explorer/", get(|| async { Redirect::permanent("/explorer") }))
        .route("/explorer/mode.json", get(mode))
        .route("/explorer/{file}", get(asset))
}

async fn landing(headers: HeaderMap) -> Response {
    serve(&LANDING, &headers)
}

async fn page(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|asset| asset.name == file) {
        Some(asset) => serve(asset, &headers),
        None => with_policy(
            ApiError::Status(
                StatusCode::NOT_FOUND,
                format!("the explorer has no file {file:?}"),
            )
            .into_response(),
        ),
    }
}

/// What the page needs to know before it sends its first request.
#[derive(Debug, Serialize)]
struct Mode {
    /// `false` in local development mode: requests without a key are allowed, so the page
    /// need not ask for one (a request without a key would otherwise be a `401`).
    keys_required: bool,
}

async fn mode(State(app): State<AppState>) -> Response {
    let mode = Mode {
        keys_required: !app.access.keyless_allowed().await,
    };
    let mut response = with_policy(Json(mode).into_response());
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The asset, or `304` when the browser's copy (by `If-None-Match`) is this one.
fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let etag = etag(asset.body);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type))],
            asset.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    with_policy(response)
}

/// Adds the security headers every explorer answer carries.
fn with_policy(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// A strong validator from the content itself (FNV-1a, 64 bits): it changes with the bytes
/// and only with them, without a hashing crate for a cache tag.
fn etag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}
