//! The desk console's side of the desk: who may sign in and how (argon2id passwords,
//! one-time links, lockout after repeated failures, server-side sessions with a form
//! token), and the console's views — the queue ordered by the most urgent clock with
//! each clock's colour, an asset's last faults, and which actions a person may take on a
//! ticket (decided by the same `Ticket::apply` every door uses).
//!
//! Tokens and codes are long and random; only their SHA-256 hashes are stored. A handle
//! that does not exist is answered exactly like a wrong password, and counts towards the
//! same lockout, so the sign-in page tells a stranger nothing; the sign-in audit keeps
//! only its first character and length ([`masked_handle`]).

use std::sync::OnceLock;

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use super::{Desk, DeskError};
use crate::domain::EngineerId;
use crate::domain::clocks::{ClockKind, ClockStatus, SlaClock};
use crate::domain::intake::Note;
use crate::domain::routing::Engineer;
use crate::domain::ticket::{Action, Caller, PendingReason, Ticket, WorkMode};
use crate::store::{LinkPurpose, NewOutboxMessage, NewSignInEvent, Recipient, Scope};

pub use crate::store::{QueueFilter, SignInEvent};

/// How console sign-in works (`[console]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleRules {
    /// How long a session lasts.
    pub session_valid_for: Duration,
    /// Failed sign-ins in a row before a handle is locked.
    pub max_failures: u32,
    /// How long a locked handle stays locked.
    pub lockout_for: Duration,
    /// How long a one-time link (sign-in, set password) stays valid.
    pub link_valid_for: Duration,
}

impl Default for ConsoleRules {
    fn default() -> Self {
        ConsoleRules {
            session_valid_for: Duration::hours(12),
            max_failures: 5,
            lockout_for: Duration::minutes(15),
            link_valid_for: Duration::minutes(15),
        }
    }
}

/// A session just opened: the token goes into the cookie, never into the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// The cookie's value.
    pub token: String,
    /// Valid until then.
    pub expires_at: DateTime<Utc>,
}

/// The person behind a valid session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The engineer (a manager is an engineer of the third line).
    pub engineer: Engineer,
    /// The form token every form of this session must carry.
    pub csrf: String,
    /// The console language they chose (`zh-CN`, `en`), if any.
    pub language: Option<String>,
}

/// Why a sign-in was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefusal {
    /// Unknown handle, no password set, or the wrong password (indistinguishable).
    Wrong,
    /// Too many failures: locked until then.
    Locked {
        /// When the lock ends.
        until: DateTime<Utc>,
    },
}

/// A clock's colour on the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shade {
    /// Stopped within its budget, or no longer applying.
    Stopped,
    /// Not ticking while the ticket waits.
    Paused,
    /// Ticking, under the warning share of its budget.
    Running,
    /// Ticking, at or past the warning share (75 % by default).
    Warning,
    /// Past its deadline.
    Breached,
}

impl Shade {
    /// The CSS class (and test hook) of the colour.
    pub fn as_str(self) -> &'static str {
        match self {
            Shade::Stopped => "stopped",
            Shade::Paused => "paused",
            Shade::Running => "running",
            Shade::Warning => "warning",
            Shade::Breached => "breached",
        }
    }
}

/// One clock as the console shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClockView {
    /// Which clock.
    pub kind: ClockKind,
    /// Where it stands.
    pub status: ClockStatus,
    /// Its colour.
    pub shade: Shade,
    /// Its deadline while it runs.
    pub due_at: Option<DateTime<Utc>>,
    /// Share of the budget used (0.0 …).
    pub used: f64,
    /// Still measuring.
    pub open: bool,
}

/// One line of the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    /// The ticket.
    pub ticket: Ticket,
    /// Its clocks, open ones first.
    pub clocks: Vec<ClockView>,
    /// The running clock with the nearest deadline (else a paused one).
    pub urgent: Option<ClockView>,
    /// The line's colour: its worst open clock's.
    pub shade: Shade,
}

/// The queue as a person may see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    /// The most urgent open tickets first.
    pub items: Vec<QueueItem>,
    /// How many match in all.
    pub total: i64,
}

/// The console's actions on a ticket, in the order its page offers them (`start_remote`
/// and `start_on_site` are the two ways of `start`).
pub const CONSOLE_ACTIONS: [&str; 13] = [
    "accept",
    "start_remote",
    "start_on_site",
    "arrive",
    "progress",
    "comment",
    "pend",
    "resume",
    "resolve",
    "reassign",
    "escalate",
    "cancel",
    "return_loaner",
];

/// Passwords: long enough to resist guessing, short enough to hash quickly.
const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 10..=128;

impl Desk {
    /// Sets an engineer's console password (argon2id) and signs them out everywhere.
    /// Managers (and the desk: `baoxiu engineers set-password`) for anyone; an engineer
    /// for themselves.
    pub async fn set_console_password(
        &self,
        caller: &Caller,
        handle: &str,
        password: &str,
    ) -> Result<(), DeskError> {
        let engineer = self
            .store
            .engineer_by_handle(handle)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("engineer `{handle}`")))?;
        if !(caller.is_manager() || caller.engineer_id() == Some(engineer.id)) {
            return Err(DeskError::Forbidden(
                "only managers can set another engineer's password".into(),
            ));
        }
        let hash = hash_password(check_password(password)?).await?;
        self.store
            .console_set_password(engineer.id, &hash, self.now(), None, None)
            .await?;
        Ok(())
    }

    /// A one-time link that lets an engineer set their console password (managers; the
    /// desk's `baoxiu engineers set-password --link`). The link and until when it works.
    pub async fn console_password_link(
        &self,
        caller: &Caller,
        handle: &str,
        rules: &ConsoleRules,
    ) -> Result<(String, DateTime<Utc>), DeskError> {
        if !caller.is_manager() {
            return Err(DeskError::Forbidden(
                "only managers can issue password links".into(),
            ));
        }
        let engineer = self
            .store
            .engineer_by_handle(handle)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("engineer `{handle}`")))?;
        let code = random_token();
        let now = self.now();
        let expires_at = now + rules.link_valid_for;
        self.store
            .console_link_create(
                &sha256(&code),
                engineer.id,
                LinkPurpose::SetPassword,
                now,
                expires_at,
                None,
            )
            .await?;
        Ok((
            self.console_url(&format!("/desk/password/{code}")),
            expires_at,
        ))
    }

    /// The engineer a set-password link is for, while it is unused and unexpired.
    pub async fn console_password_link_engineer(
        &self,
        code: &str,
    ) -> Result<Option<Engineer>, DeskError> {
        if !is_token(code) {
            return Ok(None);
        }
        match self
            .store
            .console_link_valid(&sha256(code), LinkPurpose::SetPassword, self.now())
            .await?
        {
            Some(id) => Ok(self.store.engineer(id).await?),
            None => Ok(None),
        }
    }

    /// Sets the password of the engineer a set-password link is for, using the link, and
    /// signs them in: their new session, or `None` (nothing changed) for a wrong, used or
    /// expired link. A password that is too short or too long is refused with the link
    /// left unused.
    pub async fn set_console_password_with_link(
        &self,
        code: &str,
        password: &str,
        rules: &ConsoleRules,
        address: Option<&str>,
    ) -> Result<Option<ConsoleSession>, DeskError> {
        let password = check_password(password)?;
        let Some(engineer) = self.console_password_link_engineer(code).await? else {
            return Ok(None);
        };
        let hash = hash_password(password).await?;
        let used = self
            .store
            .console_set_password(engineer.id, &hash, self.now(), Some(&sha256(code)), address)
            .await?;
        if !used {
            return Ok(None);
        }
        let event = self.sign_in_event(&engineer.handle, Some(engineer.id), "link", address);
        Ok(Some(
            self.open_console_session(engineer.id, rules, &event)
                .await?,
        ))
    }

    /// Signs an engineer in with their handle and password: a new session, or why not.
    /// Locked handles are refused without looking at the password. Each outcome is a
    /// sign-in audit event (from `address`, if known): `signed_in`, `failed`, and
    /// `locked_out` when this failure locks the handle.
    pub async fn console_sign_in(
        &self,
        handle: &str,
        password: &str,
        rules: &ConsoleRules,
        address: Option<&str>,
    ) -> Result<Result<ConsoleSession, SignInRefusal>, DeskError> {
        let handle = handle.trim().to_lowercase();
        // Longer than any handle: not one, and not worth a row.
        if handle.is_empty() || handle.len() > 64 {
            return Ok(Err(SignInRefusal::Wrong));
        }
        let now = self.now();
        let engineer = self.store.engineer_by_handle(&handle).await?;
        // A handle nobody has (not even one who left) may be a password typed into the
        // wrong field: the lockout, the audit and the log keep only its shape, so
        // strangers' handles of one shape share a lock (nothing tells them apart).
        let holder = match &engineer {
            Some(e) => Some(e.id),
            None => self.store.handle_holder(&handle).await?,
        };
        let recorded = match holder {
            Some(_) => handle.clone(),
            None => masked_handle(&handle),
        };
        if let Some(a) = self.store.console_attempts(&recorded).await?
            && let Some(until) = a.locked_until.filter(|u| *u > now)
        {
            return Ok(Err(SignInRefusal::Locked { until }));
        }
        let stored = match &engineer {
            Some(e) => self.store.console_password(e.id).await?,
            None => None,
        };
        // Verified even without a stored hash (against a decoy), so timing tells nothing.
        let matches = verify_password(password, stored).await;
        match engineer {
            Some(e) if matches => {
                self.store.console_success(&handle).await?;
                let event = self.sign_in_event(&handle, Some(e.id), "password", address);
                Ok(Ok(self.open_console_session(e.id, rules, &event).await?))
            }
            _ => {
                let max = i32::try_from(rules.max_failures.max(1)).unwrap_or(i32::MAX);
                let event = NewSignInEvent {
                    event: "failed",
                    ..self.sign_in_event(&recorded, holder, "password", address)
                };
                let locked = self
                    .store
                    .console_failure(&recorded, now, max, now + rules.lockout_for, &event)
                    .await?;
                tracing::info!(handle = %recorded, locked = locked.is_some(), "console: sign-in refused");
                Ok(Err(match locked {
                    Some(until) => SignInRefusal::Locked { until },
                    None => SignInRefusal::Wrong,
                }))
            }
        }
    }

    /// Sends an engineer a one-time sign-in link through their linked chat (the outbox,
    /// as any notice, in the same transaction as the link). Says nothing about whether
    /// the handle exists or has a chat: the answer is the same either way. A locked
    /// handle gets no link.
    pub async fn send_console_sign_in_link(
        &self,
        handle: &str,
        rules: &ConsoleRules,
    ) -> Result<(), DeskError> {
        let handle = handle.trim().to_lowercase();
        if handle.is_empty() || handle.len() > 64 {
            return Ok(());
        }
        let now = self.now();
        if let Some(a) = self.store.console_attempts(&handle).await?
            && a.locked_until.is_some_and(|u| u > now)
        {
            return Ok(());
        }
        let Some(engineer) = self.store.engineer_by_handle(&handle).await? else {
            return Ok(());
        };
        let linked = engineer.telegram_id.is_some()
            || engineer.discord_id.is_some()
            || engineer.web_id.is_some();
        if !linked {
            return Ok(());
        }
        let code = random_token();
        let expires_at = now + rules.link_valid_for;
        let message = NewOutboxMessage {
            to: Recipient::Engineer(engineer.id),
            event: "console_sign_in_link".into(),
            payload: serde_json::json!({
                "link": self.console_url(&format!("/desk/link/{code}")),
                "due_at": expires_at,
            }),
            not_before: None,
        };
        self.store
            .console_link_create(
                &sha256(&code),
                engineer.id,
                LinkPurpose::SignIn,
                now,
                expires_at,
                Some(&message),
            )
            .await?;
        self.signal.notify_one();
        Ok(())
    }

    /// Uses a one-time sign-in link: a new session for its engineer, or `None` for a
    /// wrong, used or expired link.
    pub async fn redeem_console_sign_in_link(
        &self,
        code: &str,
        rules: &ConsoleRules,
        address: Option<&str>,
    ) -> Result<Option<ConsoleSession>, DeskError> {
        if !is_token(code) {
            return Ok(None);
        }
        let Some(id) = self
            .store
            .console_link_redeem(&sha256(code), LinkPurpose::SignIn, self.now())
            .await?
        else {
            return Ok(None);
        };
        let handle = self
            .store
            .engineer(id)
            .await?
            .map(|e| e.handle)
            .unwrap_or_default();
        let event = self.sign_in_event(&handle, Some(id), "link", address);
        Ok(Some(self.open_console_session(id, rules, &event).await?))
    }

    /// The person behind a session token, if the session is valid and they still exist.
    pub async fn console_session(&self, token: &str) -> Result<Option<SignedIn>, DeskError> {
        if !is_token(token) {
            return Ok(None);
        }
        let Some(record) = self
            .store
            .console_session(&sha256(token), self.now())
            .await?
        else {
            return Ok(None);
        };
        Ok(self
            .store
            .engineer(record.engineer)
            .await?
            .map(|engineer| SignedIn {
                engineer,
                csrf: record.csrf,
                language: record.language,
            }))
    }

    /// Ends a session (signing out), recorded as a sign-in audit event.
    pub async fn console_sign_out(
        &self,
        token: &str,
        address: Option<&str>,
    ) -> Result<(), DeskError> {
        if is_token(token) {
            self.store
                .console_session_end(&sha256(token), self.now(), address)
                .await?;
        }
        Ok(())
    }

    /// The sign-in audit events (sign-ins, failures, lockouts, sign-outs, passwords
    /// set) of the last `days` days, newest first, at most `limit`. Managers only.
    pub async fn sign_in_events(
        &self,
        caller: &Caller,
        days: u32,
        limit: u32,
    ) -> Result<Vec<SignInEvent>, DeskError> {
        if !caller.is_manager() {
            return Err(DeskError::Forbidden(
                "only managers can read the sign-in audit".into(),
            ));
        }
        let since = self.now() - Duration::days(i64::from(days.clamp(1, 3660)));
        Ok(self
            .store
            .sign_in_events(since, i64::from(limit.clamp(1, 1000)))
            .await?)
    }

    /// A `signed_in` event now, by `method`.
    fn sign_in_event(
        &self,
        handle: &str,
        engineer: Option<EngineerId>,
        method: &'static str,
        address: Option<&str>,
    ) -> NewSignInEvent {
        NewSignInEvent {
            at: self.now(),
            engineer,
            handle: handle.to_owned(),
            event: "signed_in",
            method: Some(method),
            address: address.map(str::to_owned),
        }
    }

    /// Remembers the console language an engineer chose (`zh-CN` or `en`).
    pub async fn set_console_language(
        &self,
        engineer: EngineerId,
        language: &str,
    ) -> Result<(), DeskError> {
        if !matches!(language, "zh-CN" | "en") {
            return Err(DeskError::BadValue(format!(
                "unknown language `{language}`; use zh-CN or en"
            )));
        }
        Ok(self.store.console_set_language(engineer, language).await?)
    }

    /// The open tickets the caller may see, most urgent first (by the running clock
    /// with the nearest deadline; breached ones, whose deadline passed, on top; then
    /// those with no running clock, oldest first), the `limit` of them after the first
    /// `offset`, with each clock's colour.
    pub async fn queue(
        &self,
        caller: &Caller,
        filter: &QueueFilter,
        offset: u32,
        limit: u32,
    ) -> Result<Queue, DeskError> {
        let now = self.now();
        let page = self
            .store
            .console_queue(
                &scope_of(caller),
                filter,
                now,
                i64::from(offset),
                i64::from(limit.clamp(1, 1000)),
            )
            .await?;
        Ok(Queue {
            items: page
                .items
                .into_iter()
                .map(|(ticket, clocks)| self.queue_item(ticket, &clocks, now))
                .collect(),
            total: page.total,
        })
    }

    /// A ticket with its clocks as the console colours them.
    pub fn queue_item(&self, ticket: Ticket, clocks: &[SlaClock], now: DateTime<Utc>) -> QueueItem {
        let mut views: Vec<ClockView> = clocks
            .iter()
            .map(|c| self.clock_view(c, ticket.priority, now))
            .collect();
        views.sort_by_key(|v| (!v.open, v.due_at.is_none(), v.due_at));
        let open = views.iter().filter(|v| v.open);
        let shade = open
            .clone()
            .map(|v| v.shade)
            .max()
            .unwrap_or(Shade::Stopped);
        let urgent = open
            .clone()
            .filter(|v| v.shade != Shade::Paused && v.due_at.is_some())
            .min_by_key(|v| v.due_at)
            .or_else(|| open.clone().next())
            .cloned();
        QueueItem {
            ticket,
            clocks: views,
            urgent,
            shade,
        }
    }

    /// One clock's colour at `now`.
    pub fn clock_view(
        &self,
        c: &SlaClock,
        priority: crate::domain::priority::Priority,
        now: DateTime<Utc>,
    ) -> ClockView {
        let rules = self.rules(priority);
        // Wall-clock timers (as `Rules::for_kind` has them).
        let calendar = match c.kind {
            ClockKind::Confirmation | ClockKind::Replacement => rules.wall,
            _ => rules.calendar,
        };
        let used_time = c.used_at(now, calendar);
        let budget = c.budget.num_seconds().max(1);
        #[allow(clippy::cast_precision_loss)]
        let used = used_time.num_seconds() as f64 / budget as f64;
        let shade = shade_of(c, used, rules.warn_at, now);
        ClockView {
            kind: c.kind,
            status: c.status,
            shade,
            due_at: if c.since.is_some() { c.due_at } else { None },
            used,
            open: c.open,
        }
    }

    /// The caller's other tickets of the same asset (its last faults), newest first.
    pub async fn asset_history(
        &self,
        caller: &Caller,
        ticket: &Ticket,
        limit: u32,
    ) -> Result<Vec<Ticket>, DeskError> {
        let Some(tag) = &ticket.intake.device.asset_tag else {
            return Ok(Vec::new());
        };
        Ok(self
            .store
            .console_asset_history(
                &scope_of(caller),
                tag.as_str(),
                ticket.id,
                i64::from(limit.clamp(1, 50)),
            )
            .await?)
    }

    /// The console actions (of [`CONSOLE_ACTIONS`]) the caller may take on the ticket
    /// now: each is tried on the ticket by the domain's own rules, nothing is written.
    pub fn possible_actions(&self, caller: &Caller, ticket: &Ticket) -> Vec<&'static str> {
        let now = self.now();
        let note = || Note::parse("-").ok();
        CONSOLE_ACTIONS
            .into_iter()
            .filter(|verb| {
                let action = match *verb {
                    "accept" => Some(Action::Accept),
                    "start_remote" => Some(Action::StartWork(WorkMode::Remote)),
                    "start_on_site" => Some(Action::StartWork(WorkMode::OnSite)),
                    "arrive" => Some(Action::Arrive),
                    "progress" => note().map(Action::Progress),
                    "comment" => note().map(Action::Comment),
                    "pend" => note().map(|n| Action::Pend(PendingReason::Reporter, n)),
                    "resume" => Some(Action::Resume),
                    "resolve" => note()
                        .zip(note())
                        .map(|(cause, solution)| Action::Resolve { cause, solution }),
                    "reassign" => Some(Action::Reassign {
                        group: ticket.group.clone(),
                        engineer: None,
                    }),
                    "escalate" => note().map(Action::Escalate),
                    "cancel" => Some(Action::Cancel(None)),
                    "return_loaner" => Some(Action::ReturnLoaner),
                    _ => None,
                };
                action.is_some_and(|a| ticket.apply(caller, a, now).is_ok())
            })
            .collect()
    }

    /// A number that grows with every ticket change anywhere (the console's live view
    /// refreshes when it moves).
    pub async fn console_stamp(&self) -> Result<i64, DeskError> {
        Ok(self.store.console_stamp().await?)
    }

    async fn open_console_session(
        &self,
        engineer: EngineerId,
        rules: &ConsoleRules,
        event: &NewSignInEvent,
    ) -> Result<ConsoleSession, DeskError> {
        let token = random_token();
        let csrf = random_token();
        let now = self.now();
        let expires_at = now + rules.session_valid_for;
        self.store
            .console_session_create(&sha256(&token), engineer, &csrf, now, expires_at, event)
            .await?;
        Ok(ConsoleSession { token, expires_at })
    }

    fn console_url(&self, path: &str) -> String {
        format!("{}{path}", self.policy.web.public_url.trim_end_matches('/'))
    }
}

/// Which tickets a caller may see (as `Desk::list` has it).
fn scope_of(caller: &Caller) -> Scope {
    match caller {
        Caller::Reporter(id) => Scope::Reporter(*id),
        Caller::Engineer(e) if !caller.is_manager() => Scope::Engineer {
            group: e.group.clone(),
            id: e.id,
        },
        _ => Scope::All,
    }
}

/// A clock's colour: stopped ones by how they ended; open ones breached past their
/// budget, paused while not ticking, warning from `warn_at` of the budget.
fn shade_of(c: &SlaClock, used: f64, warn_at: f64, now: DateTime<Utc>) -> Shade {
    if !c.open {
        return if c.status == ClockStatus::Breached {
            Shade::Breached
        } else {
            Shade::Stopped
        };
    }
    let past_due = c.since.is_some() && c.due_at.is_some_and(|d| d <= now);
    if c.status == ClockStatus::Breached || past_due || used >= 1.0 {
        Shade::Breached
    } else if c.since.is_none() {
        Shade::Paused
    } else if used >= warn_at {
        Shade::Warning
    } else {
        Shade::Running
    }
}

fn check_password(password: &str) -> Result<&str, DeskError> {
    if PASSWORD_CHARS.contains(&password.chars().count()) {
        Ok(password)
    } else {
        Err(DeskError::BadValue(format!(
            "a password must be {} to {} characters long",
            PASSWORD_CHARS.start(),
            PASSWORD_CHARS.end()
        )))
    }
}

/// The argon2id hash (PHC string, with a random salt) of a password, computed off the
/// async threads (it takes tens of milliseconds by design).
async fn hash_password(password: &str) -> Result<String, DeskError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || argon2id_hash(&password))
        .await
        .map_err(|e| DeskError::BadValue(format!("the password could not be hashed: {e}")))?
        .map_err(|e| DeskError::BadValue(format!("the password could not be hashed: {e}")))
}

/// Whether `password` matches the stored hash; without one, checked against a decoy so
/// the time taken is the same.
async fn verify_password(password: &str, stored: Option<String>) -> bool {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| decoy_hash().to_owned());
        argon2id_verify(&password, &hash) && known
    })
    .await
    .unwrap_or(false)
}

/// A hash nobody's password matches.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| argon2id_hash(&random_token()).unwrap_or_default())
}

fn argon2id_hash(password: &str) -> Result<String, String> {
    use argon2::password_hash::PasswordHasher;
    let salt: [u8; 16] = rand::random();
    argon2::Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn argon2id_verify(password: &str, hash: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// 256 random bits as 64 hexadecimal digits.
fn random_token() -> String {
    format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    )
}

/// What the sign-in audit keeps of a handle nobody has: its first character and its
/// length in characters (`p…(12)`), nothing more — people type passwords into the
/// handle field. Engineers' handles are lowercase letters, digits, `.`, `_` and `-`, so
/// a masked one is never mistaken for a handle. Migration 0028 masks older events the
/// same way.
pub fn masked_handle(typed: &str) -> String {
    let first = typed.chars().next().map(String::from).unwrap_or_default();
    format!("{first}…({})", typed.chars().count())
}

/// A token or code as the desk issues them.
fn is_token(t: &str) -> bool {
    t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

fn sha256(s: &str) -> String {
    format!("{:x}", Sha256::digest(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(status: ClockStatus, open: bool, since: bool, due_in_min: i64) -> SlaClock {
        let now = at();
        SlaClock {
            kind: ClockKind::Response,
            status,
            budget: Duration::minutes(60),
            used: Duration::zero(),
            since: since.then(|| now - Duration::minutes(10)),
            due_at: Some(now + Duration::minutes(due_in_min)),
            warned: false,
            breaches: 0,
            steps: 0,
            open,
            next_at: None,
        }
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T01:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn each_clock_gets_its_colour() {
        let now = at();
        let running = clock(ClockStatus::Running, true, true, 50);
        assert_eq!(shade_of(&running, 0.1, 0.75, now), Shade::Running);
        assert_eq!(shade_of(&running, 0.75, 0.75, now), Shade::Warning);
        assert_eq!(shade_of(&running, 1.0, 0.75, now), Shade::Breached);
        let overdue = clock(ClockStatus::Running, true, true, -1);
        assert_eq!(shade_of(&overdue, 0.5, 0.75, now), Shade::Breached);
        let paused = clock(ClockStatus::Paused, true, false, -100);
        assert_eq!(shade_of(&paused, 0.9, 0.75, now), Shade::Paused);
        let breached_paused = clock(ClockStatus::Breached, true, false, 0);
        assert_eq!(shade_of(&breached_paused, 1.2, 0.75, now), Shade::Breached);
        let met = clock(ClockStatus::Met, false, false, 10);
        assert_eq!(shade_of(&met, 0.5, 0.75, now), Shade::Stopped);
        let missed = clock(ClockStatus::Breached, false, false, 10);
        assert_eq!(shade_of(&missed, 1.5, 0.75, now), Shade::Breached);
    }

    #[test]
    fn passwords_have_bounds_and_hash_with_argon2id() {
        assert!(check_password("short").is_err());
        assert!(check_password(&"x".repeat(129)).is_err());
        assert!(check_password("correct horse").is_ok());
        let hash = argon2id_hash("correct horse").expect("hashes");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(argon2id_verify("correct horse", &hash));
        assert!(!argon2id_verify("correct horsf", &hash));
        assert!(!argon2id_verify("correct horse", "not a hash"));
    }

    #[test]
    fn a_handle_nobody_has_keeps_only_its_first_character_and_length() {
        assert_eq!(masked_handle("hunter2isme"), "h…(11)");
        assert_eq!(masked_handle("密码是123"), "密…(6)");
        assert_eq!(masked_handle("x"), "x…(1)");
        assert_eq!(masked_handle(""), "…(0)");
    }

    #[test]
    fn tokens_are_64_hex_digits_and_only_those_are_looked_up() {
        let t = random_token();
        assert!(is_token(&t));
        assert_ne!(t, random_token());
        assert!(!is_token("abc"));
        assert!(!is_token(&"g".repeat(64)));
    }
}
