//! The explorer page and the landing page: served from the binary, with their content types
//! and a strict Content-Security-Policy, without a key even when keys are required.
//! (`tests/browser/explorer.py` drives the page itself in a real browser.)

use axum::body::Body;
use axum::http::{Method, StatusCode};
use foldbank::domain::account::AccountEventType;
use strum::VariantArray;

use crate::common::{TestApp, TestDb, TestResponse, backend_tests};

backend_tests!(
    the_explorer_and_its_assets_are_served_without_a_key_under_a_strict_policy,
    the_landing_page_links_the_explorer_and_swagger_ui,
    an_unknown_explorer_file_is_a_404_problem,
    a_browser_holding_the_current_asset_gets_304,
    the_explorer_tells_the_page_whether_a_key_is_needed,
    the_pages_fold_knows_every_kind_of_account_event,
);

/// Every file the page loads, with its content type.
const FILES: [(&str, &str); 7] = [
    ("/explorer", "text/html; charset=utf-8"),
    ("/explorer/app.js", "text/javascript; charset=utf-8"),
    ("/explorer/fold.js", "text/javascript; charset=utf-8"),
    ("/explorer/chart.js", "text/javascript; charset=utf-8"),
    ("/explorer/money.js", "text/javascript; charset=utf-8"),
    ("/explorer/style.css", "text/css; charset=utf-8"),
    ("/explorer/favicon.svg", "image/svg+xml"),
];

#[track_caller]
fn assert_strict_policy(response: &TestResponse) {
    let policy = response
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("no Content-Security-Policy: {:?}", response.headers));
    let directives: Vec<&str> = policy.split(';').map(str::trim).collect();
    assert!(directives.contains(&"default-src 'self'"), "{policy}");
    assert!(directives.contains(&"script-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(!policy.contains("unsafe-eval"), "{policy}");
    assert!(!policy.contains("http"), "no other origin: {policy}");
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
}

async fn the_explorer_and_its_assets_are_served_without_a_key_under_a_strict_policy(db: TestDb) {
    let app = TestApp::new(db).await.requiring_keys();
    // The API itself is closed: the page's own requests carry the key typed into it.
    app.get("/accounts")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    for (path, content_type) in FILES {
        let response = app.get(path).await;
        assert_eq!(response.status, StatusCode::OK, "{path}: {}", response.text);
        assert_eq!(response.header("content-type"), Some(content_type), "{path}");
        assert_eq!(response.header("cache-control"), Some("no-cache"), "{path}");
        assert!(response.header("etag").is_some(), "{path}");
        assert_strict_policy(&response);
        assert!(!response.text.is_empty(), "{path}");
    }

    let slash = app.get("/explorer/").await;
    assert_eq!(slash.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(slash.header("location"), Some("/explorer"));

    let page = app.get("/explorer").await.text;
    for (asset, _) in &FILES[1..] {
        let loaded = asset.ends_with("app.js") || asset.ends_with(".css") || asset.ends_with(".svg");
        if loaded {
            assert!(page.contains(&format!("\"{asset}\"")), "the page loads {asset}");
        }
    }
    assert!(!page.contains("<script>"), "no inline script");
    assert!(!page.contains(" style="), "no inline style");
    assert!(
        !page.contains("https://") && !page.contains("http://"),
        "nothing from the network"
    );
}

async fn the_landing_page_links_the_explorer_and_swagger_ui(db: TestDb) {
    let app = TestApp::new(db).await.requiring_keys();

    let landing = app.get("/").await;

    assert_eq!(landing.status, StatusCode::OK, "{}", landing.text);
    assert_eq!(landing.header("content-type"), Some("text/html; charset=utf-8"));
    assert_strict_policy(&landing);
    assert!(landing.text.contains("href=\"/explorer\""), "{}", landing.text);
    assert!(landing.text.contains("href=\"/swagger-ui/\""), "{}", landing.text);
    assert_eq!(app.get("/swagger-ui/").await.status, StatusCode::OK);
}

async fn an_unknown_explorer_file_is_a_404_problem(db: TestDb) {
    let app = TestApp::new(db).await.requiring_keys();

    for path in [
        "/explorer/nope.js",
        "/explorer/..%2Fmod.rs",
        "/explorer/index.html.bak",
    ] {
        let response = app.get(path).await;
        response.assert_problem(StatusCode::NOT_FOUND, "not-found");
        assert_strict_policy(&response);
    }
}

async fn a_browser_holding_the_current_asset_gets_304(db: TestDb) {
    let app = TestApp::new(db).await;
    let first = app.get("/explorer/app.js").await;
    let etag = first.header("etag").expect("etag").to_owned();

    let again = app
        .send(
            Method::GET,
            "/explorer/app.js",
            &[("if-none-match", etag.as_str())],
            Body::empty(),
        )
        .await;
    let stale = app
        .send(
            Method::GET,
            "/explorer/app.js",
            &[("if-none-match", "\"0000000000000000\"")],
            Body::empty(),
        )
        .await;
    let other_file = app.get("/explorer/fold.js").await;

    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.text.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(stale.text, first.text);
    assert_ne!(other_file.header("etag"), Some(etag.as_str()));
}

async fn the_explorer_tells_the_page_whether_a_key_is_needed(db: TestDb) {
    let open = TestApp::new(db).await;
    let open_mode = open.get("/explorer/mode.json").await;
    let keyed = open.requiring_keys();
    let keyed_mode = keyed.get("/explorer/mode.json").await;

    assert_eq!(open_mode.status, StatusCode::OK);
    assert_eq!(open_mode.body["keys_required"], false, "{}", open_mode.text);
    assert_eq!(keyed_mode.status, StatusCode::OK);
    assert_eq!(keyed_mode.body["keys_required"], true, "{}", keyed_mode.text);
    assert_eq!(keyed_mode.header("cache-control"), Some("no-store"));
    assert_strict_policy(&keyed_mode);
}

/// The page folds events itself (`fold.js`, a mirror of `evolve`): a new kind of event must
/// not pass it by unnoticed.
async fn the_pages_fold_knows_every_kind_of_account_event(db: TestDb) {
    let app = TestApp::new(db).await;
    let fold = app.get("/explorer/fold.js").await;

    assert_eq!(fold.status, StatusCode::OK);
    for kind in AccountEventType::VARIANTS {
        let tag = format!("\"{kind}\"");
        assert!(fold.text.contains(&tag), "fold.js does not handle {tag}");
    }
}
