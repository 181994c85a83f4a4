//! The HTTP interactions endpoint (`POST /discord/interactions`), Discord's alternative to
//! receiving interactions over the gateway. Every request is verified against the
//! application's public key before anything else ([`super::signature`]): a bad or
//! missing signature is answered 401 and nothing is read, as Discord's own probes expect;
//! so is a signed request whose timestamp is more than five minutes from the desk's clock
//! (a replay: within the window, the inbox still remembers its id and a repeat is
//! answered without a second effect).
//! A PING is answered with a PONG. Any other interaction goes through the same handlers
//! as gateway ones (recorded in `discord_events` by id first, so a repeat has no second
//! effect); their first answer (a deferral, or a modal for the form button) becomes the
//! HTTP response, and the replies follow as follow-ups, as over the gateway.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use serenity::all::{CreateInteractionResponse, CreateInteractionResponseMessage, Interaction};

use super::Discord;
use super::handling::Ack;
use super::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// Where Discord POSTs interactions (the application's "Interactions Endpoint URL").
pub const INTERACTIONS_PATH: &str = "/discord/interactions";
/// Discord waits 3 s for the answer: past this the endpoint defers on its own.
const ANSWER_WITHIN: Duration = Duration::from_millis(2_500);
/// Discord's default upload limit (25 MiB), for interactions that do not say theirs.
const ATTACHMENT_SIZE_LIMIT: u32 = 25 * 1024 * 1024;
/// Interaction type numbers.
const PING: u64 = 1;
const COMPONENT: u64 = 3;

impl Discord {
    /// The router serving [`INTERACTIONS_PATH`] when a public key is configured
    /// (`[discord] public_key`); an empty router otherwise, so merging it is always safe.
    pub fn interactions_router(&self) -> Router {
        if self.inner.public_key.is_none() {
            return Router::new();
        }
        Router::new()
            .route(INTERACTIONS_PATH, post(interactions))
            .with_state(self.clone())
    }
}

async fn interactions(State(dc): State<Discord>, headers: HeaderMap, body: Bytes) -> Response {
    let received = tokio::time::Instant::now();
    let Some(key) = dc.inner.public_key.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = Signed {
        signature: header(SIGNATURE_HEADER),
        timestamp: header(TIMESTAMP_HEADER),
        body: &body,
    };
    let (interaction, deferred) = match admit(key, &signed, dc.inner.inbox.now()) {
        Ok(Admitted::Ping) => return Json(serde_json::json!({ "type": 1 })).into_response(),
        Ok(Admitted::Interaction(i, deferred)) => (i, deferred),
        Err(refused) => return refused.into_response(),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let ack = Ack::Http(std::sync::Mutex::new(Some(tx)));
    let inner = dc.inner.clone();
    // The handling (and its follow-ups) goes on after the response; when it ends without
    // answering (a repeat), the dropped sender leaves the deferral to the endpoint.
    tokio::spawn(async move {
        inner.on_interaction(*interaction, &ack, received).await;
    });
    let first = match tokio::time::timeout(ANSWER_WITHIN, rx).await {
        Ok(Ok(answer)) => answer,
        _ => *deferred,
    };
    Json(first).into_response()
}

/// A request to the endpoint as it came: the signature headers (if text) and the body.
pub(super) struct Signed<'a> {
    pub(super) signature: Option<&'a str>,
    pub(super) timestamp: Option<&'a str>,
    pub(super) body: &'a [u8],
}

/// What an accepted request is.
pub(super) enum Admitted {
    /// Discord's PING: answered with a PONG.
    Ping,
    /// An interaction to handle, and the first answer it gets if the handler gives none in
    /// time (or none at all: a repeat).
    Interaction(Box<Interaction>, Box<CreateInteractionResponse>),
}

/// Why a request is refused: its status and a word on why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Refused(pub(super) StatusCode, pub(super) &'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

/// Everything the endpoint decides before it hands an interaction over, from the request
/// and the time alone: the signature (401), the timestamp's window (401), then the body
/// (400 unless a PING or an interaction serenity can read).
pub(super) fn admit(
    key: &ed25519_dalek::VerifyingKey,
    request: &Signed<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Admitted, Refused> {
    if let Err(e) = signature::verify(key, request.signature, request.timestamp, request.body) {
        tracing::debug!(error = %e, "discord: interaction refused");
        return Err(Refused(
            StatusCode::UNAUTHORIZED,
            "invalid request signature",
        ));
    }
    if let Err(e) = signature::fresh(request.timestamp, now) {
        tracing::warn!(error = %e, "discord: interaction refused");
        return Err(Refused(StatusCode::UNAUTHORIZED, "stale request timestamp"));
    }
    let unreadable = Refused(StatusCode::BAD_REQUEST, "unreadable interaction");
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(request.body) else {
        return Err(unreadable);
    };
    let kind = value["type"].as_u64();
    if kind == Some(PING) {
        return Ok(Admitted::Ping);
    }
    // Without an answer from the handler in time (or for a repeat it ignores): a click is
    // deferred as an update of its message, anything else as a reply to come.
    let deferred = if kind == Some(COMPONENT) {
        CreateInteractionResponse::Acknowledge
    } else {
        CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new())
    };
    with_optional_fields(&mut value);
    match serde_json::from_value(value) {
        Ok(i) => Ok(Admitted::Interaction(Box::new(i), Box::new(deferred))),
        Err(e) => {
            tracing::warn!(error = %e, "discord: unreadable interaction");
            Err(unreadable)
        }
    }
}

/// Fills in the fields serenity's model requires but Discord leaves out of some
/// interactions, so such an interaction is not refused as unreadable (Discord shows the
/// user "This interaction failed"): `entitlements` (for monetized applications),
/// `attachment_size_limit` (newer than many payloads), and what Discord documents as
/// optional — `locale` (empty: the person's saved or the default language) and
/// `channel_id` (from `channel.id`, which carries it too). Anything else stays as sent.
fn with_optional_fields(v: &mut serde_json::Value) {
    let channel = v["channel"]["id"].clone();
    let Some(fields) = v.as_object_mut() else {
        return;
    };
    let mut default = |key: &str, value: serde_json::Value| {
        if fields.get(key).is_none_or(serde_json::Value::is_null) {
            fields.insert(key.to_owned(), value);
        }
    };
    default("entitlements", serde_json::json!([]));
    // Discord's default upload limit; the door never uploads.
    default(
        "attachment_size_limit",
        serde_json::json!(ATTACHMENT_SIZE_LIMIT),
    );
    default("locale", serde_json::json!(""));
    if !channel.is_null() {
        default("channel_id", channel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slash command in a DM as Discord sends it today (all fields).
    fn slash() -> serde_json::Value {
        serde_json::json!({
            "type": 2, "id": "1300000000000000001", "application_id": "900000000000000001",
            "token": "itok", "version": 1,
            "channel_id": "1200000000000000001",
            "channel": {"id": "1200000000000000001", "type": 1},
            "user": {"id": "4242", "username": "anna", "global_name": "Anna",
                     "discriminator": "0", "avatar": null},
            "locale": "zh-CN", "entitlements": [], "context": 1,
            "attachment_size_limit": 26_214_400,
            "authorizing_integration_owners": {"1": "4242"},
            "app_permissions": "562949953601536",
            "data": {"id": "1", "name": "status", "type": 1},
        })
    }

    #[test]
    fn interactions_without_optional_fields_are_read() {
        let read = |v: serde_json::Value| {
            let mut v = v;
            with_optional_fields(&mut v);
            serde_json::from_value::<Interaction>(v)
        };
        assert!(read(slash()).is_ok());
        let optional = [
            "entitlements",
            "attachment_size_limit",
            "locale",
            "channel_id",
            "context",
            "app_permissions",
            "authorizing_integration_owners",
            "guild_locale",
        ];
        for field in optional {
            let mut v = slash();
            v.as_object_mut().map(|o| o.remove(field));
            let i = read(v).unwrap_or_else(|e| panic!("without {field}: {e}"));
            let Interaction::Command(c) = i else {
                panic!("a command");
            };
            assert_eq!(c.channel_id.get(), 1_200_000_000_000_000_001);
            assert_eq!(c.data.name, "status");
        }
        let mut bare = slash();
        for field in optional {
            bare.as_object_mut().map(|o| o.remove(field));
        }
        assert!(read(bare).is_ok(), "without any of them");
        // Sent as null: the same.
        let mut nulls = slash();
        nulls["entitlements"] = serde_json::Value::Null;
        assert!(read(nulls).is_ok());
        // What was sent is kept.
        let mut v = slash();
        with_optional_fields(&mut v);
        assert_eq!(v, slash());
    }

    #[test]
    fn what_discord_always_sends_is_still_required() {
        for field in ["id", "token", "type", "data"] {
            let mut v = slash();
            v.as_object_mut().map(|o| o.remove(field));
            with_optional_fields(&mut v);
            assert!(
                serde_json::from_value::<Interaction>(v).is_err(),
                "without {field}"
            );
        }
    }
}
