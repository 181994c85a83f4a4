//! The websocket gateway: HELLO, IDENTIFY → READY, heartbeats → ACK, RESUME → the
//! missed dispatches then RESUMED, and the dispatches the control side injects.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::Shared;

/// What the server side tells a connection to do.
pub(crate) enum Command {
    /// Send this frame.
    Send(String),
    /// End the connection: with close code 4000 (resumable), or abruptly.
    Close(bool),
}

/// Heartbeat interval announced in HELLO (Discord's usual).
const HEARTBEAT_MS: u64 = 41_250;

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                connection(ws, shared).await;
            }
        });
    }
}

async fn connection(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    shared: Arc<Shared>,
) {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel();
    {
        let mut st = shared.lock();
        // One connection per bot here: a new one replaces the old.
        if let Some(old) = st.gateway.conn.replace(tx.clone())
            && old.send(Command::Close(false)).is_ok()
        {
            st.stats.displaced += 1;
        }
        st.gateway.ready = false;
    }
    let hello = json!({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_MS}}).to_string();
    if sink.send(Message::Text(hello)).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Command::Send(frame)) => {
                    if sink.send(Message::Text(frame)).await.is_err() {
                        break;
                    }
                }
                Some(Command::Close(true)) => {
                    let frame = CloseFrame {
                        code: CloseCode::Library(4000),
                        reason: "Unknown error; reconnect and resume".into(),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
                Some(Command::Close(false)) | None => break,
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let Ok(v) = serde_json::from_str::<Value>(&text) else {
                        let _ = close(&mut sink, 4002, "Error while decoding payload.").await;
                        break;
                    };
                    if !on_frame(&shared, &tx, &v) {
                        let _ = close(&mut sink, 4004, "Authentication failed.").await;
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let mut st = shared.lock();
    if st
        .gateway
        .conn
        .as_ref()
        .is_some_and(|c| c.same_channel(&tx))
    {
        st.gateway.conn = None;
        st.gateway.ready = false;
    }
    drop(st);
    shared.changed.notify_waiters();
}

async fn close<S>(sink: &mut S, code: u16, reason: &str) -> Result<(), S::Error>
where
    S: SinkExt<Message> + Unpin,
{
    let frame = CloseFrame {
        code: CloseCode::Library(code),
        reason: reason.to_owned().into(),
    };
    sink.send(Message::Close(Some(frame))).await
}

/// Handles one client frame; false when the client must be disconnected (bad token).
fn on_frame(shared: &Shared, tx: &mpsc::UnboundedSender<Command>, v: &Value) -> bool {
    let token_ok = |d: &Value| {
        let given = d["token"].as_str().unwrap_or_default();
        let want = shared.config.token.trim_start_matches("Bot ");
        given.trim_start_matches("Bot ") == want
    };
    let mut st = shared.lock();
    match v["op"].as_u64() {
        // Heartbeat.
        Some(1) => {
            let _ = tx.send(Command::Send(json!({"op": 11}).to_string()));
        }
        // IDENTIFY: a new session.
        Some(2) => {
            if !token_ok(&v["d"]) {
                return false;
            }
            let session = format!("sess-{:016x}", rand::random::<u64>());
            st.gateway.session = Some(session.clone());
            st.gateway.seq = 0;
            st.gateway.log.clear();
            st.gateway.ready = true;
            st.stats.identifies += 1;
            let app = st.app_id;
            let ready = json!({
                "v": 10,
                "user": st.user_json(app),
                "guilds": [],
                "session_id": session,
                "resume_gateway_url": shared.gateway_url,
                "shard": [0, 1],
                "application": {"id": app.to_string(), "flags": 0},
            });
            st.dispatch("READY", ready);
        }
        // RESUME: replay what the client missed (and, if asked, some it had).
        Some(6) => {
            let d = &v["d"];
            let same = d["session_id"].as_str() == st.gateway.session.as_deref();
            if !token_ok(d) || !same {
                let _ = tx.send(Command::Send(json!({"op": 9, "d": false}).to_string()));
                return true;
            }
            let seen = d["seq"].as_u64().unwrap_or(0);
            let from = seen.saturating_sub(std::mem::take(&mut st.gateway.replay_extra));
            for (s, frame) in &st.gateway.log {
                if *s > from {
                    let _ = tx.send(Command::Send(frame.clone()));
                }
            }
            st.gateway.ready = true;
            st.stats.resumes += 1;
            st.dispatch("RESUMED", json!({}));
        }
        _ => {}
    }
    drop(st);
    shared.changed.notify_waiters();
    true
}
