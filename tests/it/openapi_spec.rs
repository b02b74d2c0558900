//! The committed OpenAPI document must equal the one the code generates.

#[test]
fn the_committed_openapi_document_is_up_to_date() {
    let generated = foldbank::http::openapi::openapi_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed != generated {
        if std::env::var("UPDATE_OPENAPI").is_ok_and(|value| value == "1") {
            std::fs::write(path, &generated).expect("write openapi/openapi.json");
            return;
        }
        panic!(
            "openapi/openapi.json is out of date; regenerate it with \
             `cargo run -- openapi > openapi/openapi.json` (or UPDATE_OPENAPI=1 cargo test)"
        );
    }
}

#[test]
fn every_documented_operation_declares_its_problem_responses() {
    let json = foldbank::http::openapi::openapi();
    let paths = json["paths"].as_object().expect("paths");
    assert!(!paths.is_empty());
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            let responses = operation["responses"].as_object().expect("responses");
            let has_problem = responses.iter().any(|(status, response)| {
                (status.starts_with('4') || status.starts_with('5'))
                    && response["content"]["application/problem+json"].is_object()
            });
            assert!(
                has_problem,
                "{method} {path} documents no problem+json error response"
            );
        }
    }
}

/// Swagger UI is served from assets inside the binary: no request leaves the machine.
#[tokio::test]
async fn swagger_ui_and_the_document_are_served_offline() {
    let app = crate::common::TestApp::new(crate::common::TestDb::sqlite().await).await;

    let root = app.get("/").await;
    let page = app.get("/swagger-ui/").await;
    let bundle = app.get("/swagger-ui/swagger-ui-bundle.js").await;
    let config = app.get("/swagger-ui/swagger-initializer.js").await;
    let document = app.get("/api-docs/openapi.json").await;

    assert_eq!(root.status, axum::http::StatusCode::OK);
    assert!(root.text.contains("href=\"/swagger-ui/\""), "{}", root.text);
    assert_eq!(page.status, axum::http::StatusCode::OK);
    assert!(page.text.contains("swagger-ui"), "{}", page.text);
    assert!(
        !page.text.contains("https://"),
        "the page loads nothing from the network"
    );
    assert_eq!(bundle.status, axum::http::StatusCode::OK);
    assert!(bundle.text.len() > 100_000, "the bundle itself is served");
    assert!(config.text.contains("/api-docs/openapi.json"), "{}", config.text);
    assert_eq!(document.body, foldbank::http::openapi::openapi());
}

/// Every `currency` refers to one `Currency` component, so an SDK generated from the document
/// has one currency enum rather than one per field.
#[test]
fn currencies_are_one_schema_component() {
    let json = foldbank::http::openapi::openapi();
    let currency = &json["components"]["schemas"]["Currency"];
    assert!(
        currency["enum"]
            .as_array()
            .is_some_and(|codes| codes.contains(&"EUR".into())),
        "{currency}"
    );
    let text = json.to_string();
    assert_eq!(
        text.matches("\"EUR\",\"GBP\"").count(),
        1,
        "the codes are listed once"
    );
    assert!(text.matches("#/components/schemas/Currency\"").count() >= 8);
}
