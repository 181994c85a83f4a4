//! The callback (`/wecom/callback`): WeCom's URL check (GET) and its messages and events
//! (POST). Every request is checked in this order, and refused before anything is
//! decrypted or stored: the signature (401, in constant time), the timestamp's window
//! (401: a stale or replayed request), the ciphertext and the receive id (400), the XML
//! (400). An accepted message or event is recorded by its key first (a repeat is
//! answered empty with no second effect), then handled; its one-text answer comes back
//! as the encrypted passive reply when the step is done in time, anything else through
//! `message/send` after the answer.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::courier::{Piece, render};
use super::crypto::{self, CryptoError};
use super::xml::{self, Callback, Received};
use super::{Inner, Wecom};
use crate::conversation::{CardWall, Person};
use crate::desk::StepRecord;
use crate::doors::lock;
use crate::flow::{Incoming, Outgoing};

/// Where WeCom sends callbacks (the app's "接收消息" URL).
pub const CALLBACK_PATH: &str = "/wecom/callback";

/// The signed query of every callback request.
#[derive(Debug, Deserialize)]
struct Signed {
    msg_signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    /// The URL check's encrypted echo (GET only).
    echostr: Option<String>,
}

/// Why a request is refused: its status and a word on why (nothing about the secrets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Refused(StatusCode, &'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

impl Wecom {
    /// The router serving [`CALLBACK_PATH`].
    pub fn callback_router(&self) -> Router {
        Router::new()
            .route(CALLBACK_PATH, get(verify_url).post(receive))
            .with_state(self.clone())
    }
}

impl Inner {
    /// Checks a request's signature and time, then decrypts `ciphertext`.
    fn open(&self, q: &Signed, ciphertext: &str) -> Result<String, Refused> {
        let unsigned = Refused(StatusCode::UNAUTHORIZED, "invalid signature");
        let (Some(sig), Some(ts), Some(nonce)) = (&q.msg_signature, &q.timestamp, &q.nonce) else {
            return Err(unsigned);
        };
        let token = self.config.token.expose_secret();
        if crypto::verify(token, ts, nonce, ciphertext, sig).is_err() {
            tracing::debug!("wecom: callback with a bad signature refused");
            return Err(unsigned);
        }
        let now = self.inbox.now().timestamp();
        let window = i64::try_from(self.config.timestamp_window.as_secs()).unwrap_or(i64::MAX);
        match ts.parse::<i64>() {
            Ok(t) if (now - t).abs() <= window => {}
            _ => {
                tracing::warn!(timestamp = %ts, "wecom: stale callback refused");
                return Err(Refused(StatusCode::UNAUTHORIZED, "stale timestamp"));
            }
        }
        let plain = crypto::decrypt(&self.config.key, ciphertext, &self.config.corp_id).map_err(
            |e| match e {
                CryptoError::Receiver => Refused(StatusCode::BAD_REQUEST, "wrong receiver"),
                _ => Refused(StatusCode::BAD_REQUEST, "undecryptable"),
            },
        )?;
        String::from_utf8(plain).map_err(|_| Refused(StatusCode::BAD_REQUEST, "not UTF-8"))
    }

    /// An encrypted passive reply of one text to `user`.
    fn passive(&self, user: &str, text: &str) -> String {
        let now = self.inbox.now().timestamp();
        let reply = xml::text_reply(user, &self.config.corp_id, now, text);
        let encrypted = crypto::encrypt(
            &self.config.key,
            rand::random(),
            reply.as_bytes(),
            &self.config.corp_id,
        );
        let (ts, nonce) = (now.to_string(), format!("{:010}", rand::random::<u32>()));
        let sig = crypto::signature(self.config.token.expose_secret(), &ts, &nonce, &encrypted);
        xml::encrypted_reply(&encrypted, &sig, &ts, &nonce)
    }
}

/// The URL check: the decrypted echo, as is.
async fn verify_url(State(door): State<Wecom>, Query(q): Query<Signed>) -> Response {
    let Some(echo) = q.echostr.clone() else {
        return Refused(StatusCode::BAD_REQUEST, "no echostr").into_response();
    };
    match door.inner.open(&q, &echo) {
        Ok(plain) => plain.into_response(),
        Err(refused) => refused.into_response(),
    }
}

/// A message or event: recorded, then handled; answered within WeCom's 5 seconds.
async fn receive(State(door): State<Wecom>, Query(q): Query<Signed>, body: String) -> Response {
    let inner = &door.inner;
    let Ok(ciphertext) = xml::envelope(&body) else {
        // Unsigned junk gets no hint of what a signed request looks like.
        return Refused(StatusCode::UNAUTHORIZED, "invalid signature").into_response();
    };
    let plain = match inner.open(&q, &ciphertext) {
        Ok(p) => p,
        Err(refused) => return refused.into_response(),
    };
    let callback = match Callback::parse(&plain) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "wecom: unreadable callback");
            return Refused(StatusCode::BAD_REQUEST, "unreadable message").into_response();
        }
    };
    let key = callback.key();
    let now = inner.inbox.now();
    match inner
        .inbox
        .receive(&key, callback.kind(), &plain, now)
        .await
    {
        Ok(true) => {}
        // Seen before: WeCom's retry of a callback already taken.
        Ok(false) => return "".into_response(),
        Err(e) => {
            // Not recorded: WeCom sends it again.
            tracing::error!(error = %e, "wecom: cannot record a callback");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let handling = door.inner.clone();
    // Handling goes on after the answer if it takes longer (its replies are then sent).
    tokio::spawn(async move { handling.handle(callback, Some(key), tx).await });
    match tokio::time::timeout(inner.config.answer_within, rx).await {
        Ok(Ok((user, text))) => inner.passive(&user, &text).into_response(),
        _ => "".into_response(),
    }
}

impl Inner {
    /// Handles a recorded callback: its step (then marks `key` handled, unless it was
    /// claimed already), then its replies — one text through `passive` while the callback
    /// still waits, else through `message/send`.
    async fn handle(
        &self,
        callback: Callback,
        key: Option<String>,
        passive: tokio::sync::oneshot::Sender<(String, String)>,
    ) {
        let user = callback.from.clone();
        let _lane = self.lanes.enter(user.clone()).await;
        let person = self.person(&user).await;
        // The handled mark goes with the step's state where the step saves some (one
        // transaction: a crash cannot leave the step saved and the callback unhandled).
        let record = key.as_deref();
        let (out, recorded) = match callback.received {
            Received::Text { content, .. } => {
                self.converse_recorded(&person, Incoming::Text(content), record)
                    .await
            }
            Received::Image { media_id, .. } => {
                self.converse_recorded(&person, Incoming::Photo(media_id), record)
                    .await
            }
            Received::CardTap {
                key: button,
                task_id,
                response_code,
            } => {
                self.tap(&person, &button, &task_id, &response_code, record)
                    .await
            }
            Received::Other { .. } => (Vec::new(), false),
        };
        if let Some(key) = key.filter(|_| !recorded) {
            self.mark_handled(&key).await;
        }
        let pieces = render(&out);
        if let [Piece::Text(text)] = pieces.as_slice() {
            // When the callback was answered already, the text is sent instead.
            if passive.send((user.clone(), text.clone())).is_ok() {
                return;
            }
        } else {
            drop(passive);
        }
        self.send_replies(&user, &pieces).await;
    }

    /// Handles callbacks recorded more than two minutes ago and never handled (the
    /// process stopped in between; WeCom's retries then found them recorded): each is
    /// claimed first, so only one instance handles it, and its replies are sent through
    /// `message/send`. How many.
    pub(super) async fn recover(&self) -> Result<usize, crate::doors::DoorError> {
        let now = self.inbox.now();
        let before = now - chrono::Duration::minutes(2);
        let mut handled = 0;
        for (key, body) in self.inbox.unhandled(before, 100).await? {
            if !self.inbox.handled(&key, now).await? {
                continue;
            }
            match Callback::parse(&body) {
                Ok(callback) => {
                    // No callback waits: the replies go through message/send.
                    let (tx, _) = tokio::sync::oneshot::channel();
                    self.handle(callback, None, tx).await;
                    handled += 1;
                }
                Err(e) => {
                    tracing::warn!(error = %e, key, "wecom: a recorded callback no longer reads")
                }
            }
        }
        Ok(handled)
    }

    async fn mark_handled(&self, key: &str) {
        let now = self.inbox.now();
        if let Err(e) = self.inbox.handled(key, now).await {
            tracing::warn!(error = %e, "wecom: cannot mark a callback handled");
        }
    }

    /// The conversation's replies to `input`, or an apology.
    async fn converse(&self, person: &Person, input: Incoming) -> Vec<Outgoing> {
        self.converse_recorded(person, input, None).await.0
    }

    /// The conversation's replies to `input` (or an apology), and whether callback `key`
    /// was marked handled with the step's state (else the caller marks it).
    async fn converse_recorded(
        &self,
        person: &Person,
        input: Incoming,
        key: Option<&str>,
    ) -> (Vec<Outgoing>, bool) {
        let record = key.map(|key| StepRecord::WecomHandled {
            key: key.to_owned(),
        });
        match self.chat.answer(person, input, record).await {
            Ok(saved) => (saved.replies, saved.recorded),
            Err(e) => {
                tracing::error!(error = %e, "wecom: the chat service failed");
                let lang = self.chat.lang_of(person).await;
                (
                    vec![Outgoing::Text(self.chat.text("try_again", lang))],
                    false,
                )
            }
        }
    }

    /// A tap on a card's button: on a group's job card, only a linked engineer of that
    /// group may take the job (and the card is then updated for everyone); on a card of
    /// the person's own conversation, the choice goes to the conversation.
    async fn tap(
        &self,
        person: &Person,
        button: &str,
        task_id: &str,
        response_code: &str,
        key: Option<&str>,
    ) -> (Vec<Outgoing>, bool) {
        match self.group_tap(person, button, task_id, response_code).await {
            // Recorded after the card's update, not with the step.
            Some(out) => (out, false),
            None => {
                let choice = Incoming::Choice(button.to_owned());
                self.converse_recorded(person, choice, key).await
            }
        }
    }

    /// A tap on a group's job card: the replies; `None` when the card is not one.
    async fn group_tap(
        &self,
        person: &Person,
        button: &str,
        task_id: &str,
        response_code: &str,
    ) -> Option<Vec<Outgoing>> {
        let mut card = None;
        for group in self.config.group_members.keys() {
            match self.chat.card_at::<Self>(group, task_id).await {
                Ok(Some(c)) => {
                    card = Some((group.clone(), c));
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "wecom: card lookup failed");
                    let lang = self.chat.lang_of(person).await;
                    return Some(vec![Outgoing::Text(self.chat.text("try_again", lang))]);
                }
            }
        }
        let (group, card) = card?;
        if !response_code.is_empty() {
            let mut codes = lock(&self.response_codes);
            if codes.len() > 10_000 {
                codes.clear();
            }
            codes.insert(task_id.to_owned(), response_code.to_owned());
        }
        let lang = self.chat.lang_of(person).await;
        let say = |key: &str| vec![Outgoing::Text(self.chat.text(key, lang))];
        // Only the card's own Accept, whatever key a forger sends.
        let scoped = crate::flow::Flows::choice_scope(button) == Some(card.ticket.as_str());
        if !(crate::conversation::is_accept(button) && scoped) {
            return Some(say("not_allowed"));
        }
        let engineer = match self.chat.linked_engineer(person).await {
            Ok(Some(e)) => e,
            Ok(None) => return Some(say("card_not_engineer")),
            Err(e) => {
                tracing::error!(error = %e, "wecom: engineer lookup failed");
                return Some(say("try_again"));
            }
        };
        if engineer.group != group {
            return Some(say("not_allowed"));
        }
        let mut out = self
            .converse(person, Incoming::Choice(button.to_owned()))
            .await;
        // The taker gets the job's next steps as buttons of their own (the group's card
        // loses its buttons).
        if self.chat.holds_job(person, &card.ticket).await {
            let job = Incoming::Command("job".into(), card.ticket.clone());
            out.extend(self.converse(person, job).await);
        }
        if let Some(text) = self.chat.card_taken_text(self, &group, task_id).await
            && let Err(e) = self.edit_card(&group, task_id, &text).await
        {
            tracing::warn!(error = %e, "wecom: card not updated");
        }
        Some(out)
    }
}
