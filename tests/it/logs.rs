//! Logs an operator can use: the real binary with `--log-format json`, its standard output
//! read line by line as a log collector would.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use crate::common::{TestDb, backend_tests, free_port};

backend_tests!(json_logs_carry_request_and_command_fields_and_slow_commands_warn);

async fn json_logs_carry_request_and_command_fields_and_slow_commands_warn(db: TestDb) {
    let port = free_port();
    // A threshold of 0 ms makes every command slow: the WARN without any timing.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_foldbank"))
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args(db.cli_args())
        .args(["--log", "info", "--log-format", "json", "--slow-command-ms", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start the foldbank binary");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..400 {
        if client
            .get(format!("{base}/health/live"))
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the server did not come up");

    let opened: Value = client
        .post(format!("{base}/accounts"))
        .json(&json!({ "owner_id": uuid::Uuid::now_v7(), "currency": "EUR" }))
        .send()
        .await
        .expect("open")
        .json()
        .await
        .expect("JSON");
    let account = opened["account_id"].as_str().expect("account_id").to_owned();
    let deposit = client
        .post(format!("{base}/accounts/{account}/deposits"))
        .json(&json!({ "amount": 250, "currency": "EUR" }))
        .send()
        .await
        .expect("deposit");
    assert_eq!(deposit.status(), reqwest::StatusCode::CREATED);
    let request_id = deposit
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .expect("x-request-id")
        .to_owned();

    // Every line was written before its response went out (standard output is line-buffered),
    // so all of them are in the pipe once the server is gone.
    child.start_kill().expect("kill");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut output = String::new();
    stdout.read_to_string(&mut output).await.expect("read stdout");
    let _ = child.wait().await;
    let lines: Vec<Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();

    // The request's line: request id and route (from its span), status and latency as numbers.
    let request_line = lines
        .iter()
        .find(|line| {
            line["message"] == "request answered" && line["span"]["request_id"] == request_id.as_str()
        })
        .unwrap_or_else(|| panic!("no request line for {request_id} in:\n{output}"));
    assert_eq!(
        request_line["span"]["route"], "/accounts/{id}/deposits",
        "{request_line}"
    );
    assert_eq!(request_line["status"], 201, "{request_line}");
    assert!(request_line["latency_ms"].is_number(), "{request_line}");
    assert_eq!(request_line["level"], "INFO", "{request_line}");

    // The command's line: account, command type, outcome and latency as fields, at WARN.
    let command_line = lines
        .iter()
        .find(|line| line["command"] == "Deposit" && line["account_id"] == account.as_str())
        .unwrap_or_else(|| panic!("no command line for the deposit in:\n{output}"));
    assert_eq!(command_line["level"], "WARN", "{command_line}");
    assert_eq!(command_line["message"], "slow command", "{command_line}");
    assert_eq!(command_line["outcome"], "ok", "{command_line}");
    assert!(command_line["latency_ms"].is_number(), "{command_line}");
    assert_eq!(command_line["slow_threshold_ms"], 0, "{command_line}");
    let in_request = command_line["spans"]
        .as_array()
        .is_some_and(|spans| spans.iter().any(|span| span["request_id"] == request_id.as_str()));
    assert!(
        in_request,
        "the command's line carries its request id: {command_line}"
    );
}
