//! discordsim's load mode (tgsim's virtual-user loop, over DMs) against a toy bot on the
//! gateway, and without one.

use std::time::Duration;

use discordsim::load::{self, LoadOptions, Script};
use discordsim::{DiscordSim, Limits, SimConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "load-test-token";

async fn start() -> DiscordSim {
    DiscordSim::start(SimConfig::new(TOKEN, 4242).limits(Limits::off()))
        .await
        .expect("discordsim starts")
}

/// A bot reduced to the load mode's needs: each DM is answered with a message showing
/// an OK button, each click with a message.
async fn toy_bot(rest: String, gateway: String) {
    let (mut ws, _) = tokio_tungstenite::connect_async(gateway)
        .await
        .expect("gateway");
    let identify = json!({"op": 2, "d": {"token": TOKEN, "intents": 0, "properties": {}}});
    ws.send(Message::Text(identify.to_string()))
        .await
        .expect("identify");
    let http = reqwest::Client::new();
    let id = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    while let Some(Ok(frame)) = ws.next().await {
        let Message::Text(text) = frame else { continue };
        let v: Value = serde_json::from_str(&text).expect("JSON frame");
        let d = &v["d"];
        let request = match v["t"].as_str() {
            Some("MESSAGE_CREATE") => http
                .post(format!(
                    "{rest}/api/v10/channels/{}/messages",
                    id(&d["channel_id"])
                ))
                .header("authorization", format!("Bot {TOKEN}"))
                .json(
                    &json!({"content": "Press OK", "components": [{"type": 1, "components": [
                        {"type": 2, "style": 1, "label": "OK", "custom_id": "ok"}
                    ]}]}),
                ),
            Some("INTERACTION_CREATE") => http
                .post(format!(
                    "{rest}/api/v10/interactions/{}/{}/callback",
                    id(&d["id"]),
                    id(&d["token"])
                ))
                .json(&json!({"type": 4, "data": {"content": "Done"}})),
            _ => continue,
        };
        let status = request.send().await.expect("bot request").status();
        assert!(status.is_success(), "{status}");
    }
}

#[tokio::test]
async fn virtual_users_walk_their_dms_in_a_closed_loop() {
    let sim = start().await;
    let bot = tokio::spawn(toy_bot(sim.url(), sim.gateway_url()));
    sim.wait_connected().await.expect("the bot connects");
    let script = Script::parse("hello\n[OK]\n").expect("script");
    let opts = LoadOptions {
        users: 3,
        first_user_id: 7000,
        duration: None,
        repetitions: Some(2),
        step_timeout: Duration::from_secs(5),
    };
    let summary = load::run(&sim.handle(), &script, &opts).await;
    bot.abort();
    assert_eq!((summary.timeouts, summary.errors), (0, 0), "{summary:?}");
    assert_eq!((summary.steps, summary.repetitions), (3 * 2 * 2, 6));
    let counts: Vec<_> = summary.by_step.iter().map(|l| l.count).collect();
    assert_eq!(counts, vec![6, 6]);
    // Per walk: the answer to the DM (a message) and to the click (a callback).
    assert!(summary.bot_requests >= 12, "{summary:?}");
    assert_eq!(sim.bot_messages(7000).len(), 4);
}

#[tokio::test]
async fn silence_and_telegram_only_lines_are_counted() {
    let sim = start().await;
    let opts = LoadOptions {
        users: 2,
        step_timeout: Duration::from_millis(100),
        ..LoadOptions::default()
    };
    // No bot: the first step of each user gets no reply.
    let silent = load::run(
        &sim.handle(),
        &Script::parse("hello\n[OK]\n").expect("script"),
        &opts,
    )
    .await;
    assert_eq!((silent.steps, silent.timeouts, silent.errors), (0, 2, 0));
    assert!(
        silent
            .first_error
            .is_some_and(|e| e.contains("no reply within"))
    );
    // Photos are Telegram's: an error, not a wait.
    let photo = load::run(
        &sim.handle(),
        &Script::parse("<photo>\n").expect("script"),
        &opts,
    )
    .await;
    assert_eq!((photo.steps, photo.timeouts, photo.errors), (0, 0, 2));
}
