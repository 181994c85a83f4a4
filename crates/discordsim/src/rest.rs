//! Discord's REST routes as serenity calls them (`/api/v10/...`), and the `/control` API.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use serde_json::{Value, json};

use super::state::{Limited, Passed, State as World};
use super::{Fault, Shared};

type S = State<Arc<Shared>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v10/gateway", get(gateway))
        .route("/api/v10/gateway/bot", get(gateway_bot))
        .route("/api/v10/users/@me", get(me))
        .route("/api/v10/users/@me/channels", post(create_dm))
        .route("/api/v10/channels/{channel}/messages", post(create_message))
        .route(
            "/api/v10/channels/{channel}/messages/{message}",
            patch(edit_message),
        )
        .route(
            "/api/v10/interactions/{id}/{token}/callback",
            post(interaction_callback),
        )
        .route("/api/v10/webhooks/{app}/{token}", post(followup))
        .route(
            "/api/v10/webhooks/{app}/{token}/messages/@original",
            patch(edit_original),
        )
        .route("/api/v10/applications/{app}/commands", put(put_commands))
        .route("/control/users", post(control_user))
        .route("/control/dm", post(control_dm))
        .route("/control/click", post(control_click))
        .route("/control/slash", post(control_slash))
        .route("/control/modal", post(control_modal))
        .route("/control/drop_gateway", post(control_drop))
        .route(
            "/control/channels/{channel}/messages",
            get(control_transcript),
        )
        .with_state(shared)
}

/// Discord's JSON error body.
fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response()
}

/// Runs an interaction route's handler under the failure scripted for it, if any: instead
/// of it (the request counted, nothing done), or after it (see [`Fault::applied`]).
fn scripted(s: &Shared, route: &str, run: impl FnOnce() -> Response) -> Response {
    let mut st = s.lock();
    let Some(f) = st.fault(route) else {
        drop(st);
        return run();
    };
    if f.applied {
        drop(st);
        let _ = run();
        st = s.lock();
    } else {
        *st.stats.requests.entry(route.to_owned()).or_default() += 1;
    }
    failed(s, st, &f)
}

/// A scripted failure as Discord would send it (waiters are told a request came).
fn failed(shared: &Shared, st: std::sync::MutexGuard<'_, World>, f: &Fault) -> Response {
    drop(st);
    shared.changed.notify_waiters();
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (status, axum::Json(f.body.clone())).into_response();
    if let Some(after) = &f.retry_after_header {
        insert(r.headers_mut(), "retry-after", after.clone());
    }
    r
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let want = shared.config.token.trim_start_matches("Bot ");
    given.strip_prefix("Bot ") == Some(want)
}

fn body(bytes: &Bytes) -> Value {
    serde_json::from_slice(bytes).unwrap_or(Value::Null)
}

fn id(s: &str) -> Option<u64> {
    s.parse().ok()
}

/// Runs one API call: token checked, counted, rate limited (with `bucket`; `global`
/// unless an interaction route), then `f` with the world locked.
fn call(
    shared: &Shared,
    headers: &HeaderMap,
    route: &str,
    bucket: Option<String>,
    global: bool,
    f: impl FnOnce(&mut World) -> Response,
) -> Response {
    if !authorized(shared, headers) {
        return error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
    }
    let mut st = shared.lock();
    *st.stats.requests.entry(route.to_owned()).or_default() += 1;
    let fault = st.fault(route);
    if let Some(f) = fault.as_ref().filter(|f| !f.applied) {
        return failed(shared, st, f);
    }
    let response = match st.limit(bucket, global) {
        Err(limited) => too_many(&limited),
        Ok(passed) => {
            let mut r = f(&mut st);
            add_limit_headers(r.headers_mut(), &passed);
            r
        }
    };
    if let Some(f) = fault {
        return failed(shared, st, &f);
    }
    drop(st);
    shared.changed.notify_waiters();
    response
}

fn too_many(l: &Limited) -> Response {
    let secs = l.retry_after.as_secs_f64();
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(json!({
            "message": "You are being rate limited.",
            "retry_after": secs,
            "global": l.global,
        })),
    )
        .into_response();
    let h = r.headers_mut();
    let ceil = l.retry_after.as_millis().div_ceil(1000).max(1);
    insert(h, "retry-after", ceil.to_string());
    insert(h, "x-ratelimit-bucket", l.bucket.clone());
    if l.global {
        insert(h, "x-ratelimit-global", "true".into());
        insert(h, "x-ratelimit-scope", "global".into());
    } else {
        insert(h, "x-ratelimit-scope", "user".into());
        insert(h, "x-ratelimit-remaining", "0".into());
        insert(h, "x-ratelimit-reset-after", format!("{secs:.3}"));
    }
    r
}

fn add_limit_headers(h: &mut HeaderMap, p: &Passed) {
    let reset = (p.now + p.reset_after).as_secs_f64() + 1_795_000_000.0;
    insert(h, "x-ratelimit-limit", p.limit.to_string());
    insert(h, "x-ratelimit-remaining", p.remaining.to_string());
    insert(h, "x-ratelimit-reset", format!("{reset:.3}"));
    insert(
        h,
        "x-ratelimit-reset-after",
        format!("{:.3}", p.reset_after.as_secs_f64()),
    );
    insert(h, "x-ratelimit-bucket", p.bucket.clone());
}

fn insert(h: &mut HeaderMap, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert(name, v);
    }
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

async fn gateway(State(s): S) -> Response {
    // Needs no token, as on Discord.
    ok(json!({"url": s.gateway_url}))
}

async fn gateway_bot(State(s): S, headers: HeaderMap) -> Response {
    let url = s.gateway_url.clone();
    call(&s, &headers, "gateway_bot", None, true, |_| {
        ok(json!({
            "url": url, "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1},
        }))
    })
}

async fn me(State(s): S, headers: HeaderMap) -> Response {
    call(&s, &headers, "current_user", None, true, |st| {
        ok(st.user_json(st.app_id))
    })
}

async fn create_dm(State(s): S, headers: HeaderMap, bytes: Bytes) -> Response {
    let b = body(&bytes);
    let user = b["recipient_id"]
        .as_str()
        .and_then(id)
        .or_else(|| b["recipient_id"].as_u64());
    call(&s, &headers, "create_dm", None, true, |st| {
        let Some(user) = user.filter(|u| st.users.contains_key(u)) else {
            return error(
                StatusCode::BAD_REQUEST,
                50007,
                "Cannot send messages to this user",
            );
        };
        let dm = st.add_user(user, "", "");
        ok(json!({
            "id": dm.to_string(), "type": 1, "last_message_id": null,
            "recipients": [st.user_json(user)],
        }))
    })
}

/// Refuses what Discord refuses in a message body.
fn invalid_message(b: &Value) -> Option<Response> {
    let content = b["content"].as_str().unwrap_or_default();
    let has_components = b["components"].as_array().is_some_and(|c| !c.is_empty());
    if content.is_empty() && !has_components {
        return Some(error(
            StatusCode::BAD_REQUEST,
            50006,
            "Cannot send an empty message",
        ));
    }
    if content.chars().count() > 2000 {
        return Some(error(
            StatusCode::BAD_REQUEST,
            50035,
            "Invalid Form Body (content: Must be 2000 or fewer in length.)",
        ));
    }
    let too_long = b["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().into_iter().flatten())
        .any(|c| c["custom_id"].as_str().is_some_and(|id| id.len() > 100));
    too_long.then(|| {
        error(
            StatusCode::BAD_REQUEST,
            50035,
            "Invalid Form Body (custom_id: Must be 100 or fewer in length.)",
        )
    })
}

async fn create_message(
    State(s): S,
    headers: HeaderMap,
    Path(channel): Path<String>,
    bytes: Bytes,
) -> Response {
    let b = body(&bytes);
    let bucket = format!("messages:{channel}");
    call(&s, &headers, "create_message", Some(bucket), true, |st| {
        let Some(channel) = id(&channel).filter(|c| st.is_channel(*c)) else {
            return error(StatusCode::NOT_FOUND, 10003, "Unknown Channel");
        };
        if let Some(refused) = invalid_message(&b) {
            return refused;
        }
        // With enforce_nonce, a nonce seen in the channel answers with its message.
        let nonce = b["enforce_nonce"]
            .as_bool()
            .unwrap_or(false)
            .then(|| b["nonce"].to_string())
            .filter(|n| n != "null");
        let seen = nonce
            .as_ref()
            .and_then(|n| st.nonces.get(&(channel, n.clone())))
            .and_then(|id| st.messages.get(id))
            .cloned();
        if let Some(m) = seen {
            return ok(st.message_json(&m));
        }
        let m = st.bot_message(channel, &b, None);
        if let Some(n) = nonce {
            st.nonces.insert((channel, n), m.id);
        }
        ok(st.message_json(&m))
    })
}

async fn edit_message(
    State(s): S,
    headers: HeaderMap,
    Path((channel, message)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    let b = body(&bytes);
    let bucket = format!("edit:{channel}");
    call(&s, &headers, "edit_message", Some(bucket), true, |st| {
        let found = id(&message).filter(|m| {
            st.messages
                .get(m)
                .is_some_and(|m| m.from_bot && Some(m.channel_id) == id(&channel))
        });
        match found.and_then(|m| st.edit(m, &b)) {
            Some(m) => ok(st.message_json(&m)),
            None => error(StatusCode::NOT_FOUND, 10008, "Unknown Message"),
        }
    })
}

/// The 3-second window for the first answer to an interaction.
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

async fn interaction_callback(
    State(s): S,
    Path(path): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    scripted(&s, "interaction_callback", || {
        interaction_callback_now(&s, path, &bytes)
    })
}

fn interaction_callback_now(s: &Shared, (iid, token): (String, String), bytes: &Bytes) -> Response {
    // Interaction routes need no bot token and are outside the global limit.
    let b = body(bytes);
    let mut st = s.lock();
    *st.stats
        .requests
        .entry("interaction_callback".into())
        .or_default() += 1;
    let Some(iid) = id(&iid).filter(|i| st.tokens.get(&token) == Some(i)) else {
        return error(StatusCode::NOT_FOUND, 10062, "Unknown interaction");
    };
    let kind = b["type"].as_u64().and_then(|k| u8::try_from(k).ok());
    let Some(i) = st.interactions.get_mut(&iid) else {
        return error(StatusCode::NOT_FOUND, 10062, "Unknown interaction");
    };
    if i.callback.is_some() {
        i.refused += 1;
        return error(
            StatusCode::BAD_REQUEST,
            40060,
            "Interaction has already been acknowledged.",
        );
    }
    let elapsed = i.dispatched.elapsed();
    if elapsed > ANSWER_WITHIN {
        i.refused += 1;
        return error(StatusCode::NOT_FOUND, 10062, "Unknown interaction");
    }
    let (user, channel, on) = (i.user, i.channel, i.message);
    let data = b["data"].clone();
    let ephemeral = ephemeral(&data).then_some(user);
    let original = match kind {
        Some(4) => {
            let id = st.bot_message(channel, &data, Some(iid)).id;
            if let Some(m) = st.messages.get_mut(&id) {
                m.ephemeral_to = ephemeral;
            }
            Some(id)
        }
        Some(5) => {
            let placeholder = json!({"content": ""});
            let id = st.bot_message(channel, &placeholder, Some(iid)).id;
            if let Some(m) = st.messages.get_mut(&id) {
                m.thinking = true;
                m.ephemeral_to = ephemeral;
            }
            Some(id)
        }
        Some(6) => None,
        Some(7) => {
            if let Some(m) = on {
                st.edit(m, &data);
            }
            on
        }
        Some(9) => {
            let fields = data["components"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|row| row["components"].as_array().into_iter().flatten())
                .filter(|c| c["type"] == 4)
                .map(|c| {
                    (
                        c["custom_id"].as_str().unwrap_or_default().to_owned(),
                        c["label"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let modal = super::SimModal {
                interaction: iid,
                custom_id: data["custom_id"].as_str().unwrap_or_default().to_owned(),
                title: data["title"].as_str().unwrap_or_default().to_owned(),
                fields,
            };
            st.modals.insert(user, modal);
            None
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                50035,
                "Invalid Form Body (type: not an interaction callback type)",
            );
        }
    };
    if let Some(i) = st.interactions.get_mut(&iid) {
        i.callback = kind;
        i.answered_after = Some(elapsed);
        i.original = original;
    }
    drop(st);
    s.changed.notify_waiters();
    StatusCode::NO_CONTENT.into_response()
}

/// Whether a message body asks to be ephemeral (flag 64).
fn ephemeral(b: &Value) -> bool {
    b["flags"].as_u64().is_some_and(|f| f & 64 != 0)
}

/// The interaction a webhook token belongs to, if it was answered and its 15 minutes
/// (real time) have not passed.
fn by_token(st: &World, app: &str, token: &str) -> Option<u64> {
    let iid = *st.tokens.get(token)?;
    let i = st.interactions.get(&iid)?;
    let fresh = i.dispatched + Duration::from_secs(15 * 60) > Instant::now();
    let answered = i.callback.is_some() || i.over_http;
    (id(app) == Some(st.app_id) && answered && fresh).then_some(iid)
}

async fn followup(State(s): S, Path(path): Path<(String, String)>, bytes: Bytes) -> Response {
    scripted(&s, "followup", || followup_now(&s, path, &bytes))
}

fn followup_now(s: &Shared, (app, token): (String, String), bytes: &Bytes) -> Response {
    let b = body(bytes);
    let mut st = s.lock();
    *st.stats.requests.entry("followup".into()).or_default() += 1;
    let Some(iid) = by_token(&st, &app, &token) else {
        return error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook");
    };
    if let Some(refused) = invalid_message(&b) {
        return refused;
    }
    let (channel, original, user) = match st.interactions.get(&iid) {
        Some(i) => (i.channel, i.original, i.user),
        None => return error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook"),
    };
    // A deferred reply's first follow-up fills its "thinking…" placeholder, as on Discord.
    let placeholder = original.filter(|o| st.messages.get(o).is_some_and(|m| m.thinking));
    let m = match placeholder {
        Some(o) => match st.edit(o, &b) {
            Some(mut m) => {
                // Not an edit the user sees as one.
                m.edits = 0;
                if let Some(stored) = st.messages.get_mut(&o) {
                    stored.edits = 0;
                }
                st.stats.messages_created += 1;
                m
            }
            None => return error(StatusCode::NOT_FOUND, 10008, "Unknown Message"),
        },
        None => {
            let mut m = st.bot_message(channel, &b, Some(iid));
            if ephemeral(&b) {
                m.ephemeral_to = Some(user);
                if let Some(stored) = st.messages.get_mut(&m.id) {
                    stored.ephemeral_to = Some(user);
                }
            }
            m
        }
    };
    let v = st.message_json(&m);
    drop(st);
    s.changed.notify_waiters();
    ok(v)
}

async fn edit_original(State(s): S, Path(path): Path<(String, String)>, bytes: Bytes) -> Response {
    scripted(&s, "edit_original", || edit_original_now(&s, path, &bytes))
}

fn edit_original_now(s: &Shared, (app, token): (String, String), bytes: &Bytes) -> Response {
    let b = body(bytes);
    let mut st = s.lock();
    *st.stats.requests.entry("edit_original".into()).or_default() += 1;
    let original = by_token(&st, &app, &token)
        .and_then(|iid| st.interactions.get(&iid))
        .and_then(|i| i.original.or(i.message));
    let edited = original.and_then(|o| st.edit(o, &b));
    let r = match edited {
        Some(m) => ok(st.message_json(&m)),
        None => error(StatusCode::NOT_FOUND, 10008, "Unknown Message"),
    };
    drop(st);
    s.changed.notify_waiters();
    r
}

async fn put_commands(
    State(s): S,
    headers: HeaderMap,
    Path(app): Path<String>,
    bytes: Bytes,
) -> Response {
    let b = body(&bytes);
    call(
        &s,
        &headers,
        "bulk_overwrite_commands",
        Some("commands".into()),
        true,
        |st| {
            if id(&app) != Some(st.app_id) {
                return error(StatusCode::FORBIDDEN, 50001, "Missing Access");
            }
            let Some(list) = b.as_array() else {
                return error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body");
            };
            let mut commands = Vec::new();
            for c in list {
                let name = c["name"].as_str().unwrap_or_default();
                let ok_name = (1..=32).contains(&name.len())
                    && name.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                    });
                let description = c["description"].as_str().unwrap_or_default();
                if !ok_name || !(1..=100).contains(&description.chars().count()) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        50035,
                        "Invalid Form Body (name or description)",
                    );
                }
                let cid = st.id();
                commands.push(json!({
                "id": cid.to_string(), "application_id": st.app_id.to_string(),
                "version": cid.to_string(), "type": c["type"].as_u64().unwrap_or(1),
                "name": name, "name_localizations": c.get("name_localizations").cloned().unwrap_or(Value::Null),
                "description": description,
                "description_localizations": c.get("description_localizations").cloned().unwrap_or(Value::Null),
                "options": c.get("options").cloned().unwrap_or_else(|| json!([])),
                "default_member_permissions": null, "dm_permission": true, "nsfw": false,
                "integration_types": [0], "contexts": null,
            }));
            }
            st.commands = commands.clone();
            ok(Value::Array(commands))
        },
    )
}

fn control<T: serde::Serialize>(r: Result<T, super::SimError>) -> Response {
    match r {
        Ok(v) => ok(json!(v)),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

fn handle(s: &Arc<Shared>) -> super::SimHandle {
    super::SimHandle { shared: s.clone() }
}

async fn control_user(State(s): S, bytes: Bytes) -> Response {
    let b = body(&bytes);
    let user = b["id"].as_u64().unwrap_or_default();
    let name = b["name"].as_str().unwrap_or("user");
    let locale = b["locale"].as_str().unwrap_or("en-US");
    if user == 0 {
        return control::<()>(Err(super::SimError::UnknownUser(0)));
    }
    control(Ok(handle(&s).add_user(user, name, locale)))
}

async fn control_dm(State(s): S, bytes: Bytes) -> Response {
    let b = body(&bytes);
    let user = b["user"].as_u64().unwrap_or_default();
    control(handle(&s).send_dm(user, b["text"].as_str().unwrap_or_default()))
}

async fn control_click(State(s): S, bytes: Bytes) -> Response {
    let b = body(&bytes);
    let user = b["user"].as_u64().unwrap_or_default();
    let message = b["message_id"].as_u64().unwrap_or_default();
    control(handle(&s).click(user, message, b["label"].as_str().unwrap_or_default()))
}

async fn control_slash(State(s): S, bytes: Bytes) -> Response {
    let b = body(&bytes);
    let user = b["user"].as_u64().unwrap_or_default();
    let options: Vec<(String, String)> = b["options"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let options: Vec<(&str, &str)> = options
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    control(handle(&s).slash(user, b["name"].as_str().unwrap_or_default(), &options))
}

async fn control_modal(State(s): S, bytes: Bytes) -> Response {
    let b = body(&bytes);
    let user = b["user"].as_u64().unwrap_or_default();
    let values: BTreeMap<String, String> = b["values"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    control(handle(&s).submit_modal(user, &values))
}

async fn control_drop(State(s): S, bytes: Bytes) -> Response {
    let b = body(&bytes);
    handle(&s).drop_gateway(b["replay"].as_u64().unwrap_or(0));
    StatusCode::NO_CONTENT.into_response()
}

async fn control_transcript(State(s): S, Path(channel): Path<String>) -> Response {
    let Some(channel) = id(&channel) else {
        return error(StatusCode::NOT_FOUND, 10003, "Unknown Channel");
    };
    ok(json!(handle(&s).transcript(channel)))
}
