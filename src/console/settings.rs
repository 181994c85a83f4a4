//! The desk console's settings: `[console]` in the configuration file.

use serde::{Deserialize, Serialize};

use crate::desk::console::ConsoleRules;
use crate::domain::sla::Span;

/// `[console]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// Mark the console's cookies `Secure` always (the console is served over https, or
    /// behind a proxy that terminates it). They are also marked `Secure` when
    /// `[web] public_url` is https, and when a trusted proxy says the request came over
    /// https (see `trust_forwarded_proto`).
    pub secure_cookies: bool,
    /// Believe `X-Forwarded-Proto: https` (only behind a reverse proxy that sets it).
    pub trust_forwarded_proto: bool,
    /// Take the client's address in the sign-in audit from the last `X-Forwarded-For`
    /// entry: only behind a reverse proxy that sets it (otherwise anyone could pick the
    /// address their sign-ins are recorded with).
    pub trust_forwarded_for: bool,
    /// How long a console session lasts.
    pub session_valid_for: Span,
    /// Failed sign-ins in a row before the handle is locked.
    pub max_failures: u32,
    /// How long a locked handle stays locked.
    pub lockout_for: Span,
    /// How long a one-time link (sign in from chat, set a password) stays valid.
    pub link_valid_for: Span,
    /// Tickets on one queue page (the pager links to the others).
    pub queue_limit: u32,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        let rules = ConsoleRules::default();
        ConsoleSettings {
            secure_cookies: false,
            trust_forwarded_proto: false,
            trust_forwarded_for: false,
            session_valid_for: Span(rules.session_valid_for),
            max_failures: rules.max_failures,
            lockout_for: Span(rules.lockout_for),
            link_valid_for: Span(rules.link_valid_for),
            queue_limit: 100,
        }
    }
}

impl ConsoleSettings {
    /// The desk's rules for sign-in.
    pub fn rules(&self) -> ConsoleRules {
        ConsoleRules {
            session_valid_for: self.session_valid_for.0,
            max_failures: self.max_failures,
            lockout_for: self.lockout_for.0,
            link_valid_for: self.link_valid_for.0,
        }
    }

    /// Checks the values; on error, the key and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.max_failures == 0 {
            return Err(("console.max_failures", "must be at least 1".into()));
        }
        if !(1..=1000).contains(&self.queue_limit) {
            return Err(("console.queue_limit", "must be 1 to 1000".into()));
        }
        for (key, span) in [
            ("console.session_valid_for", self.session_valid_for),
            ("console.lockout_for", self.lockout_for),
            ("console.link_valid_for", self.link_valid_for),
        ] {
            if span.0 <= chrono::Duration::zero() {
                return Err((key, "must be longer than zero".into()));
            }
        }
        Ok(())
    }
}
