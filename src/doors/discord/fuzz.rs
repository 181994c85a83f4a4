//! Property tests of the HTTP interactions endpoint ([`super::endpoint::admit`]) and the
//! pure steps an admitted interaction goes through: real, correctly signed interactions
//! with one value swapped for anything, signed bodies of any bytes or any JSON shape, and
//! forged requests. Each must be answered 2xx or 4xx, never with a panic; a forged or
//! stale one always 401. They run 256 cases in `cargo test`, and as many as `FUZZ_CASES`
//! says in a fuzzing run (`FUZZ_CASES=1000000 cargo test --release --lib discord::fuzz`).

use std::sync::LazyLock;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;
use serde_json::{Value, json};
use serenity::all::Interaction;

use super::endpoint::{Admitted, Refused, Signed, admit};
use super::handling::{command_args, form_values};
use super::render::{choice_of, is_accept_for, person_of};
use crate::fuzz::{any_json, mutate};

/// The desk's clock in these tests (2026-11-23 01:00 UTC).
const NOW: i64 = 1_795_395_600;

/// Discord's (the tests') signing key.
static KEY: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::from_bytes(&[7; 32]));

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW, 0).unwrap_or_default()
}

fn sign(ts: &str, body: &[u8]) -> String {
    let mut m = ts.as_bytes().to_vec();
    m.extend_from_slice(body);
    KEY.sign(&m)
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A Discord user as interactions carry them.
fn user() -> Value {
    json!({"id": "4242", "username": "anna", "global_name": "Anna", "discriminator": "0",
           "avatar": null, "public_flags": 0})
}

/// A bot message with a button and a select menu, as a click's `message` carries it.
fn message() -> Value {
    json!({
        "id": "1300000000000000009", "channel_id": "1200000000000000001",
        "author": {"id": "900000000000000001", "username": "baoxiu", "bot": true,
                   "discriminator": "0", "avatar": null},
        "content": "What kind of fault is it?", "timestamp": "2026-11-23T01:00:00+00:00",
        "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
        "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0,
        "flags": 0, "webhook_id": "900000000000000001",
        "components": [
            {"type": 1, "components": [
                {"type": 2, "style": 1, "label": "Network", "custom_id": "category:network"}]},
            {"type": 1, "components": [
                {"type": 3, "custom_id": "bx:menu", "options": [
                    {"label": "Printer", "value": "category:printer"}]}]},
        ],
    })
}

/// The fields every interaction has; `kind` and `data` make it one.
fn interaction(kind: u64, data: Value) -> Value {
    json!({
        "type": kind, "id": "1300000000000000011", "application_id": "900000000000000001",
        "token": "itok-1300000000000000011", "version": 1,
        "channel_id": "1200000000000000001",
        "channel": {"id": "1200000000000000001", "type": 1},
        "user": user(), "locale": "zh-CN", "entitlements": [], "context": 1,
        "attachment_size_limit": 26_214_400, "app_permissions": "562949953601536",
        "authorizing_integration_owners": {"1": "4242"},
        "data": data,
    })
}

/// Real interactions, as Discord sends them.
fn templates() -> Vec<Value> {
    let slash = interaction(
        2,
        json!({"id": "1", "name": "link", "type": 1,
               "options": [{"name": "code", "type": 3, "value": "K7QM2XPA"}]}),
    );
    let mut click = interaction(
        3,
        json!({"custom_id": "category:network", "component_type": 2}),
    );
    click["message"] = message();
    let mut menu = interaction(
        3,
        json!({"custom_id": "bx:menu", "component_type": 3, "values": ["category:printer"]}),
    );
    menu["message"] = message();
    let modal = interaction(
        5,
        json!({"custom_id": "bx:form-submit", "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "site", "value": "总部"}]},
            {"type": 1, "components": [{"type": 4, "custom_id": "room", "value": ""}]},
        ]}),
    );
    // A click on a job card in a server: `member` instead of `user`.
    let mut card = interaction(
        3,
        json!({"custom_id": "card:accept@BX-2026-000001", "component_type": 2}),
    );
    card["message"] = message();
    card["guild_id"] = json!("1400000000000000001");
    card["guild_locale"] = json!("zh-CN");
    card["channel"] = json!({"id": "1400000000000000100", "type": 0,
                             "guild_id": "1400000000000000001"});
    card["member"] = json!({
        "user": user(), "nick": null, "avatar": null, "roles": [],
        "joined_at": "2026-01-01T00:00:00+00:00", "premium_since": null, "deaf": false,
        "mute": false, "flags": 0, "pending": false, "permissions": "1024",
    });
    if let Some(o) = card.as_object_mut() {
        o.remove("user");
    }
    let ping = json!({"type": 1, "id": "1", "application_id": "900000000000000001",
                      "token": "t", "version": 1});
    vec![slash, click, menu, modal, card, ping]
}

/// The endpoint's answer to a request, going through every pure step an admitted
/// interaction takes before the conversation service: its status.
fn answer(signature: Option<&str>, timestamp: Option<&str>, body: &[u8]) -> StatusCode {
    let request = Signed {
        signature,
        timestamp,
        body,
    };
    match admit(&KEY.verifying_key(), &request, now()) {
        Ok(Admitted::Ping) => StatusCode::OK,
        Ok(Admitted::Interaction(i, deferred)) => {
            let _ = serde_json::to_vec(&deferred);
            match *i {
                Interaction::Command(c) => {
                    let _ = (person_of(&c.user, Some(&c.locale)), command_args(&c));
                }
                Interaction::Component(c) => {
                    let _ = (person_of(&c.user, Some(&c.locale)), choice_of(&c));
                    let _ = is_accept_for(&c.data.custom_id, "BX-2026-000001");
                }
                Interaction::Modal(m) => {
                    let _ = (person_of(&m.user, Some(&m.locale)), form_values(&m));
                }
                _ => {}
            }
            StatusCode::OK
        }
        Err(Refused(status, _)) => status,
    }
}

/// Signs `body` at `NOW + skew` and asks the endpoint.
fn signed(body: &[u8], skew: i64) -> StatusCode {
    let ts = (NOW + skew).to_string();
    answer(Some(&sign(&ts, body)), Some(&ts), body)
}

#[test]
fn the_templates_are_admitted_as_they_are() {
    for t in templates() {
        assert_eq!(signed(t.to_string().as_bytes(), 0), StatusCode::OK, "{t}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: crate::fuzz_cases(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Real signed interactions with one value swapped for anything, signed within the
    /// window or not.
    #[test]
    fn fuzz_signed_interactions_with_a_value_changed(
        which in 0..6usize,
        at in 0..160usize,
        with in any_json(),
        skew in -420i64..420,
    ) {
        let mut v = templates()[which].clone();
        mutate(&mut v, &mut at.clone(), &with);
        let status = signed(v.to_string().as_bytes(), skew);
        prop_assert!(status.is_success() || status.is_client_error(), "{status}");
        if skew.abs() > 300 {
            prop_assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }

    /// Signed bodies of any bytes.
    #[test]
    fn fuzz_signed_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..400)) {
        let status = signed(&body, 0);
        prop_assert!(status.is_success() || status.is_client_error(), "{status}");
    }

    /// Signed JSON of any shape.
    #[test]
    fn fuzz_signed_wrong_shapes(v in any_json()) {
        let status = signed(v.to_string().as_bytes(), 0);
        prop_assert!(status.is_success() || status.is_client_error(), "{status}");
    }

    /// Forged requests: real bodies or any bytes, with any headers or a signature of
    /// something else: always 401.
    #[test]
    fn fuzz_forged_requests(
        which in 0..7usize,
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        signature in proptest::option::of(prop_oneof!["[0-9a-fA-F]{128}", ".{0,140}"]),
        timestamp in proptest::option::of(prop_oneof![Just(NOW.to_string()), ".{0,20}"]),
        resign in any::<bool>(),
    ) {
        let body = templates()
            .get(which)
            .map_or(bytes, |t| t.to_string().into_bytes());
        let signature = if resign {
            // Signed, but for another timestamp than the one sent.
            Some(sign(&(NOW + 1).to_string(), &body))
        } else {
            signature
        };
        let ts = timestamp.filter(|t| !resign || *t != (NOW + 1).to_string());
        let status = answer(signature.as_deref(), ts.as_deref(), &body);
        prop_assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}
