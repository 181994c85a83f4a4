//! Receiving by webhook: the webhook is registered with Telegram (retried until it
//! takes), and `POST /telegram/webhook` checks the secret header in constant time before
//! it reads anything, and answers 200 only once the update is stored (Telegram sends it
//! again otherwise).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use reqwest::Url;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;
use teloxide::payloads::SetWebhookSetters;
use teloxide::requests::Requester;
use teloxide::types::AllowedUpdate;

use super::inbox::Stored;
use super::{Backoff, Telegram};

/// The header Telegram sends the webhook secret in.
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Updates Telegram may POST at once (its maximum; 40 unless asked). Each delivery
/// waits for its update to be stored, so under load 40 at a time capped the door:
/// at 200 reporters, 100 did 25% more steps.
const PARALLEL_DELIVERIES: u8 = 100;

impl Telegram {
    pub(super) async fn register_webhook(&self, url: Url) {
        let mut backoff = Backoff::default();
        let secret = self
            .inner
            .webhook_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned())
            .unwrap_or_default();
        loop {
            let set = self
                .inner
                .bot
                .set_webhook(url.clone())
                .secret_token(secret.clone())
                .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
                .max_connections(PARALLEL_DELIVERIES)
                .await;
            match set {
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "telegram: setWebhook failed");
                    backoff.wait().await;
                }
            }
        }
    }
}

/// The webhook route: secret checked in constant time; stored before the 200.
pub(super) async fn webhook(
    State(tg): State<Telegram>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let inner = &tg.inner;
    let Some(secret) = inner.webhook_secret.as_ref() else {
        return StatusCode::UNAUTHORIZED;
    };
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(secret.expose_secret().as_bytes())) {
        return StatusCode::UNAUTHORIZED;
    }
    let Some((text, id)) = update_of(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let now = inner.inbox.now();
    let receiving = inner.begin_receive();
    let claim = receiving.claim;
    match inner
        .inbox
        .receive(&[(id, text.to_owned())], now, claim)
        .await
    {
        Ok(new) => {
            if new.first().copied().unwrap_or(false) {
                let mut row = Stored::read(id, text, None);
                row.claimed = claim.then_some(now);
                inner.hand_over(row);
            }
            StatusCode::OK
        }
        Err(e) => {
            // Telegram delivers it again later.
            tracing::error!(error = %e, "telegram: cannot store a webhook update");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// A webhook body as text (kept as received, not re-encoded: the worker reads it with
/// teloxide's types) with its update id; `None` for anything that is not an update.
pub(super) fn update_of(body: &[u8]) -> Option<(&str, i64)> {
    let text = std::str::from_utf8(body).ok()?;
    let id = serde_json::from_str::<serde_json::Value>(text)
        .ok()?
        .get("update_id")?
        .as_i64()
        .filter(|id| *id >= 0)?;
    Some((text, id))
}
