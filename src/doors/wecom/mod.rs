//! The WeCom (企业微信) door: a self-built app ("自建应用").
//!
//! WeCom POSTs every message and event to the [`callback`] (`/wecom/callback`), signed
//! and AES-encrypted ([`crypto`]); the URL check is a GET there. Each is verified, read
//! ([`xml`]) and recorded in the inbox by its key *before* the callback is answered, so
//! a callback WeCom sends again (it retries one not answered within 5 s) has one effect.
//! A step whose replies are one text answers in the callback itself (the encrypted
//! passive reply); anything else — questions with choices as `template_card` buttons,
//! several messages — goes through `message/send` ([`api`], with the access token
//! cached and renewed), within WeCom's per-member limits, which the door keeps itself
//! ([`limits`]: WeCom drops excess silently), counted in the database for every instance. Texts over 2,048 bytes are split.
//!
//! With `wecom.group_members`, a job offered to a group's engineers goes as one card to
//! the group's members; the first linked engineer of the group to tap Accept takes it,
//! the card is updated for everyone (`update_template_card`), and anyone tapping later
//! is told privately.
//!
//! Identity: the WeCom UserID. A reporter's name comes from the directory (`user/get`);
//! engineers are linked by the UserID in their record or by `/link CODE`.

mod api;
mod callback;
mod courier;
pub mod crypto;
mod limits;
mod photos;
mod settings;
pub mod xml;

pub use api::ApiError;
pub use callback::CALLBACK_PATH;
pub use limits::{PER_HOUR, PER_MINUTE};
pub use settings::{DEFAULT_API_URL, WecomConfig, WecomSettings};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::conversation::{Chat, Lanes, Person};
use crate::desk::ports::{PhotoQueue, WecomInbox};
use crate::doors::lock;
use crate::outbox::{Courier, Pieces};
use api::Api;
use courier::WecomCourier;

/// The channel name of this door.
pub const CHANNEL: &str = "wecom";

/// The running door: cheap to clone.
#[derive(Clone)]
pub struct Wecom {
    inner: Arc<Inner>,
}

struct Inner {
    chat: Chat,
    /// Callbacks by key, so one sent twice is handled once.
    inbox: WecomInbox,
    /// Photos to fetch into tickets.
    photos: PhotoQueue,
    api: Api,
    config: WecomConfig,
    /// Pieces of a parcel already sent: a retry does not repeat them.
    parcels_sent: Pieces,
    /// One card posting or update at a time (per instance; the store's claim covers
    /// others).
    cards: tokio::sync::Mutex<()>,
    /// The newest response code of each group card (from a tap), for updating it.
    response_codes: Mutex<HashMap<String, String>>,
    /// Members' names from the directory.
    names: Mutex<HashMap<String, String>>,
    /// Each member's callbacks, one at a time.
    lanes: Lanes<String>,
}

impl Wecom {
    /// The door over the conversation service, recording callbacks in `inbox` and
    /// fetching photos from `photos`.
    pub fn new(chat: Chat, inbox: WecomInbox, photos: PhotoQueue, config: WecomConfig) -> Wecom {
        let api = Api::new(&config.api_url, &config.corp_id, config.secret.clone());
        Wecom {
            inner: Arc::new(Inner {
                chat,
                inbox,
                photos,
                api,
                config,
                parcels_sent: Pieces::default(),
                cards: tokio::sync::Mutex::new(()),
                response_codes: Mutex::default(),
                names: Mutex::default(),
                lanes: Lanes::default(),
            }),
        }
    }

    /// The courier the outbox dispatcher delivers `wecom` messages with.
    pub fn courier(&self) -> Arc<dyn Courier> {
        Arc::new(WecomCourier {
            inner: self.inner.clone(),
        })
    }
}

impl Inner {
    /// The person behind a UserID, named from the directory (`user/get`, once per
    /// member and process; the UserID itself when the directory does not answer). A new
    /// reporter's department and phone are taken from there too, so they are not asked.
    async fn person(&self, user: &str) -> Person {
        let known = lock(&self.names).get(user).cloned();
        let mut person = Person {
            channel: CHANNEL.to_owned(),
            external_id: user.to_owned(),
            name: user.to_owned(),
            language: None,
        };
        if let Some(name) = known {
            person.name = name;
            return person;
        }
        match self.api.get("user/get", &[("userid", user)]).await {
            Ok(v) => {
                person.name = crate::doors::display_name(v["name"].as_str().unwrap_or(""), || {
                    user.to_owned()
                });
                let department = self.department_name(&v["department"]).await;
                let phone = v["mobile"].as_str().filter(|m| !m.is_empty());
                if let Err(e) = self
                    .chat
                    .remember_directory(&person, department.as_deref(), phone)
                    .await
                {
                    tracing::warn!(error = %e, "wecom: directory details not remembered");
                }
            }
            Err(e) => tracing::warn!(error = %e, "wecom: directory lookup failed"),
        }
        let mut names = lock(&self.names);
        if names.len() > 100_000 {
            names.clear();
        }
        names.insert(user.to_owned(), person.name.clone());
        person
    }

    /// The name of a member's first department (`department/get`), if WeCom tells.
    async fn department_name(&self, ids: &serde_json::Value) -> Option<String> {
        let id = ids.as_array()?.first()?.as_i64()?.to_string();
        match self.api.get("department/get", &[("id", id.as_str())]).await {
            Ok(v) => v["department"]["name"].as_str().map(str::to_owned),
            Err(e) => {
                tracing::warn!(error = %e, "wecom: department lookup failed");
                None
            }
        }
    }
}
