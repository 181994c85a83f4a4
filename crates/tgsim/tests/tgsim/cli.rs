//! The `tgsim load` binary end to end, pushing to a webhook bot.

use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use serde_json::Value;

use crate::helpers::{TOKEN, toy_bot_react};

#[tokio::test]
async fn tgsim_load_prints_a_json_summary() {
    // A free port for tgsim, known before it starts so the bot can call it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let api = format!("http://127.0.0.1:{port}/bot{TOKEN}");
    let client = reqwest::Client::new();
    let app = Router::new().route(
        "/hook",
        post(move |body: axum::Json<Value>| {
            let client = client.clone();
            let api = api.clone();
            async move {
                toy_bot_react(&client, &api, &body.0).await;
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("walk.txt");
    std::fs::write(&script, "# toy walk\n/start\n[PC]\nstill broken\n").expect("script");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tgsim"))
        .args([
            "load",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--token",
            TOKEN,
        ])
        .args([
            "--no-rate-limit",
            "--users",
            "3",
            "--repetitions",
            "2",
            "--step-timeout",
            "5s",
        ])
        .arg("--script")
        .arg(&script)
        .args(["--bot-url", &hook])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("tgsim runs");
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("finishes")
        .expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(summary["steps"], 18, "{summary}");
    assert_eq!(summary["timeouts"], 0);
    assert_eq!(summary["errors"], 0);
    for key in ["p50", "p95", "p99"] {
        assert!(summary["latency_ms"][key].is_number(), "{summary}");
    }
    assert!(summary["steps_per_sec"].as_f64().is_some_and(|v| v > 0.0));
}
