//! The web chat's invitations: where reporters may not simply walk in (`[web] reporters =
//! "invite"`), a manager (or the reporter, from a chat they are known on) has a one-time
//! link sent to the reporter; opening it binds that browser to the reporter. Codes are
//! long and random, work once, expire, and only their hash is stored.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::{Desk, DeskError};
use crate::domain::ReporterId;
use crate::domain::ticket::Caller;
use crate::store::{NewOutboxMessage, Recipient, Reporter};

/// An invitation just issued (its code is not stored in clear).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WebInvite {
    /// The link that opens the web chat as the reporter.
    pub link: String,
    /// Valid until then, once.
    pub expires_at: DateTime<Utc>,
}

/// How the web chat's invitations work (`[web]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebPolicy {
    /// Where the web chat is reached from outside (`[web] public_url`), for links.
    pub public_url: String,
    /// How long an invitation stays valid.
    pub invite_valid_for: Duration,
}

impl Desk {
    /// Invites a reporter to the web chat: a one-time link, sent to them through the chat
    /// they are known on (the outbox, as any notice) and handed back. Managers, or the
    /// reporter for themselves.
    pub async fn invite_to_web(
        &self,
        caller: &Caller,
        reporter: ReporterId,
    ) -> Result<WebInvite, DeskError> {
        if !(caller.is_manager() || *caller == Caller::Reporter(reporter)) {
            return Err(DeskError::Forbidden(
                "only managers can invite reporters to the web chat".into(),
            ));
        }
        if self.store.reporter(reporter).await?.is_none() {
            return Err(DeskError::NotFound(format!("reporter {reporter}")));
        }
        let code = format!(
            "{:032x}{:032x}",
            rand::random::<u128>(),
            rand::random::<u128>()
        );
        let web = &self.policy.web;
        let now = self.now();
        let expires_at = now + web.invite_valid_for;
        let link = format!(
            "{}/chat/invite/{code}",
            web.public_url.trim_end_matches('/')
        );
        let message = NewOutboxMessage {
            to: Recipient::Reporter(reporter),
            event: "web_invite".into(),
            payload: serde_json::json!({ "link": link, "due_at": expires_at }),
            not_before: None,
        };
        self.store
            .web_invite_create(&invite_hash(&code), reporter, now, expires_at, &message)
            .await?;
        self.signal.notify_one();
        Ok(WebInvite { link, expires_at })
    }

    /// Opens an invitation for the web identity `external_id` (a browser's, made by the
    /// web door): the reporter it binds the browser to, or `None` for a wrong, used or
    /// expired code (nothing changes then).
    pub async fn redeem_web_invite(
        &self,
        code: &str,
        external_id: &str,
    ) -> Result<Option<Reporter>, DeskError> {
        let code = code.trim();
        if code.is_empty() || code.len() > 128 {
            return Ok(None);
        }
        let now = self.now();
        let Some(id) = self
            .store
            .web_invite_redeem(&invite_hash(code), external_id, now)
            .await?
        else {
            return Ok(None);
        };
        Ok(self.store.reporter(id).await?)
    }
}

fn invite_hash(code: &str) -> String {
    format!("{:x}", Sha256::digest(code.as_bytes()))
}
