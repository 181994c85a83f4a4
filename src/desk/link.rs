//! Linking an engineer's chat account: a manager issues a one-time code, the engineer
//! sends `/link CODE` to the bot, and from then on that chat identity is the engineer.
//! Codes expire after 15 minutes and work once; only their hash is stored. A chat
//! identity that sends [`LINK_TRIES`] wrong codes within [`LINK_LOCKOUT`] is refused every
//! code until that window has passed, so codes cannot be guessed without limit.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};

use super::{Desk, DeskError};
use crate::domain::routing::Engineer;
use crate::domain::ticket::Caller;
use crate::store::{LinkLimit, Redeemed};

/// How long a link code stays valid.
pub const LINK_CODE_TTL: Duration = Duration::minutes(15);
/// Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L).
const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 8;
/// Wrong codes a chat identity may send within [`LINK_LOCKOUT`] before it is locked out.
pub const LINK_TRIES: i32 = 5;
/// The window wrong codes are counted in, from the first; a locked-out identity may try
/// again when it has passed.
pub const LINK_LOCKOUT: Duration = Duration::minutes(15);

/// What became of a `/link CODE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linking {
    /// The chat identity is now this engineer's.
    Linked(Engineer),
    /// A wrong, expired or used code; nothing changed.
    Refused,
    /// Too many wrong codes from this identity: no code is tried until then.
    Locked {
        /// When it may try again.
        until: DateTime<Utc>,
    },
}

impl Linking {
    /// The engineer linked, if any.
    pub fn engineer(self) -> Option<Engineer> {
        match self {
            Linking::Linked(e) => Some(e),
            _ => None,
        }
    }
}

/// A code just issued, to hand to the engineer (it is not stored in clear).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LinkCode {
    /// The code, e.g. `K7QM2XPA` (typed with or without dashes and spaces, any case).
    pub code: String,
    /// Whose account it links.
    pub engineer: String,
    /// Valid until then.
    pub expires_at: DateTime<Utc>,
}

impl Desk {
    /// Issues a one-time link code for the engineer with `handle`. Managers only; a new
    /// code replaces the engineer's unused one.
    pub async fn issue_link_code(
        &self,
        caller: &Caller,
        handle: &str,
    ) -> Result<LinkCode, DeskError> {
        if !caller.is_manager() {
            return Err(DeskError::Forbidden(
                "only managers can issue link codes".into(),
            ));
        }
        let engineer = self
            .store
            .engineer_by_handle(handle)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("engineer {handle}")))?;
        let code = new_code();
        let now = self.now();
        let expires_at = now + LINK_CODE_TTL;
        self.store
            .issue_link_code(engineer.id, &code_hash(&code), now, expires_at)
            .await?;
        Ok(LinkCode {
            code,
            engineer: engineer.handle,
            expires_at,
        })
    }

    /// Links the chat identity (`channel`, `external_id`) to the engineer whose code this
    /// is. A wrong, expired or used code is refused and counted against the identity (any
    /// text counts: a guess is a guess); at [`LINK_TRIES`] within [`LINK_LOCKOUT`] the
    /// identity is locked out — a right code included — until the window has passed. A
    /// success forgets the identity's failures.
    pub async fn redeem_link_code(
        &self,
        code: &str,
        channel: &str,
        external_id: &str,
    ) -> Result<Linking, DeskError> {
        let limit = LinkLimit {
            failures: LINK_TRIES,
            window: LINK_LOCKOUT,
        };
        let redeemed = self
            .store
            .redeem_link_code(
                &code_hash(&normalize(code)),
                channel,
                external_id,
                self.now(),
                limit,
            )
            .await?;
        Ok(match redeemed {
            Redeemed::Linked(id) => match self.store.engineer(id).await? {
                Some(e) => Linking::Linked(e),
                None => Linking::Refused,
            },
            Redeemed::Refused => Linking::Refused,
            Redeemed::Locked { until } => Linking::Locked { until },
        })
    }
}

/// A fresh random code. (Its own function: the thread-local generator must not live
/// across an await, or the future could not move between threads.)
fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Typed codes are forgiving: case, spaces and dashes do not matter.
fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

fn code_hash(code: &str) -> String {
    Sha256::digest(code.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_codes_are_normalized() {
        assert_eq!(normalize(" k7qm-2xpa "), "K7QM2XPA");
        assert_eq!(code_hash("K7QM2XPA"), code_hash(&normalize("k7qm 2xpa")));
        assert_ne!(code_hash("K7QM2XPA"), code_hash("K7QM2XPB"));
    }
}
