//! The web chat's settings: `[web]` in the configuration file.

use serde::{Deserialize, Serialize};

use crate::domain::sla::Span;

/// Who may start a conversation in the web chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebReporters {
    /// Anyone who opens the page gives a name and reports (the default, for a desk on
    /// localhost or an intranet).
    #[default]
    Open,
    /// Only people the desk invited: a one-time link, sent through the chat they are known
    /// on or handed over by the desk, binds their browser to them.
    Invite,
}

/// `[web]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSettings {
    /// Who may start: `open` or `invite`.
    pub reporters: WebReporters,
    /// Where the web chat is reached from outside, e.g. `https://bx.example.com` (for
    /// invitation links; with `https`, cookies are marked `Secure`). Unset: the listen
    /// address, for a desk on this machine.
    pub public_url: Option<String>,
    /// How long an invitation stays valid.
    pub invite_valid_for: Span,
    /// How long a browser stays signed in without coming back.
    pub session_valid_for: Span,
    /// How long a person's messages are kept (their history).
    pub keep_history: Span,
    /// Requests a minute from one address (starting, sending, listening together). An
    /// office behind one address shares it: keep it generous.
    pub per_address_per_minute: u32,
    /// New people an hour from one address (each `hello` that makes a reporter).
    pub new_people_per_address_per_hour: u32,
    /// Requests a minute from one person.
    pub per_person_per_minute: u32,
    /// Take the client's address from the last `X-Forwarded-For` entry: only behind a
    /// reverse proxy that sets it (otherwise anyone could pick their own address).
    pub trust_forwarded_for: bool,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            reporters: WebReporters::Open,
            public_url: None,
            invite_valid_for: Span(chrono::Duration::days(7)),
            session_valid_for: Span(chrono::Duration::days(180)),
            keep_history: Span(chrono::Duration::days(90)),
            per_address_per_minute: 600,
            new_people_per_address_per_hour: 30,
            per_person_per_minute: 60,
            trust_forwarded_for: false,
        }
    }
}

impl WebSettings {
    /// The public base URL: `public_url`, else the listen address.
    pub fn base_url(&self, listen: std::net::SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim().trim_end_matches('/').to_owned(),
            None => format!("http://{listen}"),
        }
    }

    /// Whether cookies must be `Secure` (the chat is served over https).
    pub fn secure(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.trim().starts_with("https://"))
    }

    /// Checks the values; on error, the key and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(url) = &self.public_url {
            let url = url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(("web.public_url", format!("`{url}` is not an http(s) URL")));
            }
        }
        if [
            self.per_address_per_minute,
            self.new_people_per_address_per_hour,
            self.per_person_per_minute,
        ]
        .contains(&0)
        {
            return Err((
                "web.per_address_per_minute",
                "rate limits must be at least 1".into(),
            ));
        }
        Ok(())
    }
}
