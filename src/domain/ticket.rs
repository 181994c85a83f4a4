//! The ticket and its state machine. `Ticket::apply` is the only way a ticket changes: it
//! checks the caller's right, the transition's legality and the action's data, and returns
//! the new ticket with what to record (audit) and whom to tell (notices). No I/O.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::intake::{Intake, Note};
use super::priority::{Impact, Priority, Urgency};
use super::routing::{Engineer, Tier};
use super::{EngineerId, ReporterId, TicketId};

/// The human ticket number, e.g. `BX-2026-000123`: prefix, year, sequence within the year.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TicketNumber(String);

impl TicketNumber {
    /// Formats a number from its parts.
    pub fn new(prefix: &str, year: i32, sequence: i64) -> Self {
        Self(format!("{prefix}-{year}-{sequence:06}"))
    }

    /// The placeholder a ticket carries until the store assigns its number.
    pub fn unassigned() -> Self {
        Self(String::new())
    }

    /// Checks the shape `PREFIX-YYYY-NNNNNN` (case-insensitive; stored upper-case).
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim().to_ascii_uppercase();
        let mut parts = raw.split('-');
        let (prefix, year, seq) = (parts.next()?, parts.next()?, parts.next()?);
        let ok = parts.next().is_none()
            && (1..=8).contains(&prefix.len())
            && prefix.chars().all(|c| c.is_ascii_uppercase())
            && year.len() == 4
            && year.chars().all(|c| c.is_ascii_digit())
            && (6..=12).contains(&seq.len())
            && seq.chars().all(|c| c.is_ascii_digit());
        ok.then_some(Self(raw))
    }

    /// The number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_enum!(
    /// Where a ticket is in its life.
    Status {
        /// Recorded; nobody on duty could be offered it yet.
        New = "new",
        /// Offered to a group (or one engineer); waiting for someone to accept.
        Offered = "offered",
        /// An engineer has taken it.
        Accepted = "accepted",
        /// Work has started, remotely or on site.
        InProgress = "in_progress",
        /// Waiting for the reporter or a vendor; SLA clocks pause.
        Pending = "pending",
        /// Cause and solution recorded; waiting for the reporter to confirm.
        Resolved = "resolved",
        /// The reporter said it is not fixed; back with the same engineer.
        Reopened = "reopened",
        /// Confirmed fixed (or auto-closed after no answer).
        Closed = "closed",
        /// Withdrawn.
        Cancelled = "cancelled",
    }
);

impl Status {
    /// Closed and cancelled tickets accept no further change.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Closed | Status::Cancelled)
    }
}

text_enum!(
    /// How the engineer works the job.
    WorkMode {
        /// Remote session (with the reporter's consent).
        Remote = "remote",
        /// At the reporter's desk.
        OnSite = "on_site",
    }
);

text_enum!(
    /// The reporter's consent to a remote session (plan 004: remote control only with the
    /// user's consent).
    RemoteConsent {
        /// The engineer asked; the reporter has not answered yet.
        Asked = "asked",
        /// The reporter allowed it: remote work goes on.
        Given = "given",
        /// The reporter refused: no remote session (on site instead).
        Refused = "refused",
    }
);

text_enum!(
    /// What a pending ticket waits for.
    PendingReason {
        /// The reporter (not at their desk, must try something, …).
        Reporter = "reporter",
        /// A vendor or spare parts.
        Vendor = "vendor",
    }
);

text_enum!(
    /// How a ticket was closed.
    Closure {
        /// The reporter confirmed the fix.
        Confirmed = "confirmed",
        /// The reporter did not answer in time.
        AutoClosed = "auto_closed",
    }
);

/// A ticket as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Database id (0 until stored).
    pub id: TicketId,
    /// Human number.
    pub number: TicketNumber,
    /// Who reported it.
    pub reporter: ReporterId,
    /// What they told us.
    pub intake: Intake,
    /// Reporter is a VIP (copied at intake).
    pub vip: bool,
    /// How many are affected.
    pub impact: Impact,
    /// How badly work is held up.
    pub urgency: Urgency,
    /// From the matrix (P1 for a VIP's fault).
    pub priority: Priority,
    /// Where it is in its life.
    pub status: Status,
    /// Engineer group handling it.
    pub group: String,
    /// Tier it is offered to / worked at.
    pub tier: Tier,
    /// Engineer who accepted it.
    pub assignee: Option<EngineerId>,
    /// When offered to one engineer rather than the whole group.
    pub offered_to: Option<EngineerId>,
    /// Remote or on site, once work started.
    pub work_mode: Option<WorkMode>,
    /// When the engineer arrived on site.
    pub arrived_at: Option<DateTime<Utc>>,
    /// What a pending ticket waits for.
    pub pending_reason: Option<PendingReason>,
    /// Root cause, once resolved.
    pub cause: Option<Note>,
    /// What fixed it, once resolved.
    pub solution: Option<Note>,
    /// How it was closed.
    pub closure: Option<Closure>,
    /// Times the reporter said "not fixed".
    pub reopen_count: u32,
    /// Times it moved up a tier.
    pub escalation_level: u32,
    /// The response deadline computed at report (None: no clock).
    pub response_due_at: Option<DateTime<Utc>>,
    /// The resolution deadline computed at report (None: no clock).
    pub resolution_due_at: Option<DateTime<Utc>>,
    /// The earliest deadline among its running clocks (None while none runs): the
    /// desk's queue puts the ticket by it.
    #[serde(default)]
    pub next_due_at: Option<DateTime<Utc>>,
    /// Reported at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// First accepted at.
    pub accepted_at: Option<DateTime<Utc>>,
    /// Resolved at (cleared on reopen).
    pub resolved_at: Option<DateTime<Utc>>,
    /// Closed or cancelled at.
    pub closed_at: Option<DateTime<Utc>>,
    /// The replacement device lent to the reporter while theirs is repaired, if any.
    #[serde(default)]
    pub loaner: Option<Note>,
    /// When the loaner was issued.
    #[serde(default)]
    pub loaner_issued_at: Option<DateTime<Utc>>,
    /// When it came back (None while it is out).
    #[serde(default)]
    pub loaner_returned_at: Option<DateTime<Utc>>,
    /// The reporter's consent to remote work for the engineer holding the job (cleared
    /// when the job changes hands).
    #[serde(default)]
    pub remote_consent: Option<RemoteConsent>,
    /// Optimistic-concurrency version: every stored change increments it.
    pub version: i64,
}

/// Who is asking. Adapters and the HTTP layer turn a platform identity into one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A member of staff reporting faults.
    Reporter(ReporterId),
    /// An engineer (a manager-tier engineer sees and manages everything).
    Engineer(Engineer),
    /// The service desk console or a manager's API token.
    Desk {
        /// Name shown in the audit trail.
        name: String,
    },
    /// baoxiu itself (scheduler, auto-close).
    System,
}

impl Caller {
    /// Managers and the desk may see and manage every ticket.
    pub fn is_manager(&self) -> bool {
        match self {
            Caller::Desk { .. } => true,
            Caller::Engineer(e) => e.tier == Tier::Manager,
            _ => false,
        }
    }

    /// The engineer's id when the caller is one.
    pub fn engineer_id(&self) -> Option<EngineerId> {
        match self {
            Caller::Engineer(e) => Some(e.id),
            _ => None,
        }
    }
}

/// Everything a caller can do to an existing ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Take the job (first to accept wins).
    Accept,
    /// Start working, remotely or on the way to site. Remote work without the reporter's
    /// consent asks for it first.
    StartWork(WorkMode),
    /// The reporter's answer to "may the engineer connect to your computer?" (true: allow).
    AnswerRemoteConsent(bool),
    /// Arrived at the reporter's desk.
    Arrive,
    /// A progress note for the reporter.
    Progress(Note),
    /// A remark on the ticket that changes nothing else (either side).
    Comment(Note),
    /// Wait for the reporter or a vendor; clocks pause.
    Pend(PendingReason, Note),
    /// Work again after pending.
    Resume,
    /// Fixed: record cause and solution, ask the reporter to confirm.
    Resolve {
        /// Root cause.
        cause: Note,
        /// What fixed it.
        solution: Note,
    },
    /// The reporter confirms the fix.
    Confirm,
    /// The reporter says it is not fixed.
    Reopen(Note),
    /// No confirmation in time (system only).
    AutoClose,
    /// Withdraw the ticket.
    Cancel(Option<Note>),
    /// Re-dispatch to a group, or to one engineer of it.
    Reassign {
        /// Target group.
        group: String,
        /// Target engineer (must belong to `group`).
        engineer: Option<Engineer>,
    },
    /// Move up a tier: first line → experts → managers.
    Escalate(Note),
    /// Lend the reporter a replacement device (what it is) while theirs is repaired.
    IssueLoaner(Note),
    /// The lent device came back.
    ReturnLoaner,
}

impl Action {
    /// Stable verb used in the audit trail and API paths.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::StartWork(_) => "start",
            Action::AnswerRemoteConsent(_) => "remote_consent",
            Action::Arrive => "arrive",
            Action::Progress(_) => "progress",
            Action::Comment(_) => "comment",
            Action::Pend(..) => "pend",
            Action::Resume => "resume",
            Action::Resolve { .. } => "resolve",
            Action::Confirm => "confirm",
            Action::Reopen(_) => "reopen",
            Action::AutoClose => "auto_close",
            Action::Cancel(_) => "cancel",
            Action::Reassign { .. } => "reassign",
            Action::Escalate(_) => "escalate",
            Action::IssueLoaner(_) => "issue_loaner",
            Action::ReturnLoaner => "return_loaner",
        }
    }
}

/// Why an action was refused. Nothing changes when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// The caller has no right to this action on this ticket.
    #[error("you are not allowed to {action} this ticket")]
    Forbidden {
        /// The action's verb.
        action: &'static str,
    },
    /// Not possible from the ticket's current status.
    #[error("a ticket that is {status} cannot be {action}ed")]
    IllegalTransition {
        /// The action's verb.
        action: &'static str,
        /// The ticket's status.
        status: Status,
    },
    /// Someone else accepted first.
    #[error("this job has already been accepted")]
    AlreadyTaken {
        /// Who has it.
        by: Option<EngineerId>,
    },
    /// Arrival was already recorded.
    #[error("arrival on site was already recorded")]
    AlreadyArrived,
    /// Escalating past the top tier.
    #[error("this ticket is already with the managers")]
    AtTopTier,
    /// A loaner is out already (one at a time, returned before another).
    #[error("a replacement device is already out on this ticket")]
    LoanerOut,
    /// Remote work was asked for and the reporter has not answered yet.
    #[error("the reporter has not yet answered whether remote work may start")]
    ConsentPending,
    /// No remote work was asked for (or it was answered already).
    #[error("no consent to remote work is being asked on this ticket")]
    NoConsentAsked,
    /// No loaner is out to return.
    #[error("no replacement device is out on this ticket")]
    NoLoanerOut,
    /// Reassigning to an engineer outside the target group.
    #[error("engineer {engineer} is not in group {group}")]
    NotInGroup {
        /// The engineer.
        engineer: String,
        /// The group.
        group: String,
    },
}

/// Who must be told about a change; the desk turns these into concrete recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// The ticket's reporter.
    Reporter,
    /// The engineer who has the job.
    Engineer(EngineerId),
    /// The on-duty engineers of a group at a tier (or one engineer when targeted).
    Offer {
        /// Group.
        group: String,
        /// Tier.
        tier: Tier,
        /// A single engineer, when the job was offered to them only.
        to: Option<EngineerId>,
    },
    /// The managers.
    Managers,
}

/// One message to send because of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// To whom.
    pub to: Audience,
    /// What happened (the key of the message text in bot-flows).
    pub event: &'static str,
}

/// The result of an allowed action: the ticket after it, and what to record and send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The ticket after the action (version not yet incremented: the store does that).
    pub ticket: Ticket,
    /// The action's verb.
    pub action: &'static str,
    /// Status before.
    pub from: Option<Status>,
    /// Free text for the audit trail (note, reason, cause and solution).
    pub note: Option<String>,
    /// Whom to tell.
    pub notices: Vec<Notice>,
}

fn notice(to: Audience, event: &'static str) -> Notice {
    Notice { to, event }
}

impl Ticket {
    /// Whether the caller may see this ticket: reporters their own, engineers their
    /// group's (and any they hold or were offered), managers and the system everything.
    pub fn visible_to(&self, caller: &Caller) -> bool {
        match caller {
            Caller::System => true,
            _ if caller.is_manager() => true,
            Caller::Reporter(id) => *id == self.reporter,
            Caller::Engineer(e) => {
                e.group == self.group
                    || self.assignee == Some(e.id)
                    || self.offered_to == Some(e.id)
            }
            Caller::Desk { .. } => true,
        }
    }

    fn is_assignee(&self, caller: &Caller) -> bool {
        caller.engineer_id().is_some() && caller.engineer_id() == self.assignee
    }

    fn is_own_reporter(&self, caller: &Caller) -> bool {
        matches!(caller, Caller::Reporter(id) if *id == self.reporter)
    }

    /// Audience for the person holding the job, or the group when nobody holds it.
    pub fn holder(&self) -> Audience {
        match self.assignee {
            Some(id) => Audience::Engineer(id),
            None => self.offer_audience(),
        }
    }

    fn offer_audience(&self) -> Audience {
        Audience::Offer {
            group: self.group.clone(),
            tier: self.tier,
            to: self.offered_to,
        }
    }

    /// Applies an action for a caller at `now`. Visibility is checked first by the caller
    /// of this function (so that a hidden ticket looks "not found", not "forbidden").
    pub fn apply(
        &self,
        caller: &Caller,
        action: Action,
        now: DateTime<Utc>,
    ) -> Result<Change, TicketError> {
        use Status::*;
        let verb = action.verb();
        let from = self.status;
        let forbidden = Err(TicketError::Forbidden { action: verb });
        let illegal = Err(TicketError::IllegalTransition {
            action: verb,
            status: from,
        });
        let manager = caller.is_manager();
        let working = matches!(from, Accepted | InProgress | Reopened);
        let mut t = self.clone();
        t.updated_at = now;
        let mut note = None;
        let mut notices = Vec::new();

        match action {
            Action::Accept => {
                let Caller::Engineer(e) = caller else {
                    return forbidden;
                };
                if matches!(from, Accepted | InProgress | Pending | Resolved | Reopened) {
                    return Err(TicketError::AlreadyTaken { by: self.assignee });
                }
                if !matches!(from, New | Offered) {
                    return illegal;
                }
                let may = e.tier == Tier::Manager
                    || match self.offered_to {
                        Some(to) => to == e.id,
                        None => e.group == self.group && e.tier >= self.tier,
                    };
                if !may {
                    return forbidden;
                }
                t.status = Accepted;
                t.assignee = Some(e.id);
                t.offered_to = None;
                t.accepted_at.get_or_insert(now);
                notices.push(notice(Audience::Reporter, "ticket_accepted"));
                notices.push(notice(self.offer_audience(), "job_taken"));
            }
            Action::StartWork(mode) => {
                if !(self.is_assignee(caller)) {
                    return forbidden;
                }
                if !working || (from == InProgress && self.work_mode == Some(mode)) {
                    return illegal;
                }
                if mode == WorkMode::Remote && self.remote_consent != Some(RemoteConsent::Given) {
                    if self.remote_consent == Some(RemoteConsent::Asked) {
                        return Err(TicketError::ConsentPending);
                    }
                    // Nothing starts until the reporter allows it (asked again after a
                    // refusal: people change their minds).
                    t.remote_consent = Some(RemoteConsent::Asked);
                    notices.push(notice(Audience::Reporter, "remote_consent_request"));
                    return Ok(Change {
                        ticket: t,
                        action: "remote_consent_asked",
                        from: Some(from),
                        note,
                        notices,
                    });
                }
                t.status = InProgress;
                t.work_mode = Some(mode);
                notices.push(notice(
                    Audience::Reporter,
                    match mode {
                        WorkMode::Remote => "work_started_remote",
                        WorkMode::OnSite => "engineer_on_the_way",
                    },
                ));
            }
            Action::AnswerRemoteConsent(allow) => {
                if !self.is_own_reporter(caller) {
                    return forbidden;
                }
                if !working || self.remote_consent != Some(RemoteConsent::Asked) {
                    return Err(TicketError::NoConsentAsked);
                }
                let holder = self.holder();
                if allow {
                    t.remote_consent = Some(RemoteConsent::Given);
                    t.status = InProgress;
                    t.work_mode = Some(WorkMode::Remote);
                    note = Some("allowed".into());
                    notices.push(notice(holder, "remote_consent_given"));
                } else {
                    t.remote_consent = Some(RemoteConsent::Refused);
                    note = Some("refused".into());
                    notices.push(notice(holder, "remote_consent_refused"));
                }
            }
            Action::Arrive => {
                if !self.is_assignee(caller) {
                    return forbidden;
                }
                if self.arrived_at.is_some() {
                    return Err(TicketError::AlreadyArrived);
                }
                if !working {
                    return illegal;
                }
                t.status = InProgress;
                t.work_mode = Some(WorkMode::OnSite);
                t.arrived_at = Some(now);
                notices.push(notice(Audience::Reporter, "engineer_arrived"));
            }
            Action::Progress(text) => {
                if !(self.is_assignee(caller) || manager) {
                    return forbidden;
                }
                if !(working || from == Pending) {
                    return illegal;
                }
                note = Some(text.to_string());
                notices.push(notice(Audience::Reporter, "progress_update"));
            }
            Action::Comment(text) => {
                if matches!(caller, Caller::System) {
                    return forbidden;
                }
                if from.is_final() {
                    return illegal;
                }
                note = Some(text.to_string());
                if self.is_own_reporter(caller) {
                    notices.push(notice(self.holder(), "reporter_comment"));
                } else {
                    notices.push(notice(Audience::Reporter, "engineer_comment"));
                }
            }
            Action::Pend(reason, text) => {
                if !(self.is_assignee(caller) || manager) {
                    return forbidden;
                }
                if !working {
                    return illegal;
                }
                t.status = Pending;
                t.pending_reason = Some(reason);
                note = Some(format!("{reason}: {text}"));
                notices.push(notice(Audience::Reporter, "ticket_pending"));
            }
            Action::Resume => {
                if !(self.is_assignee(caller) || manager) {
                    return forbidden;
                }
                if from != Pending {
                    return illegal;
                }
                t.status = if self.work_mode.is_some() {
                    InProgress
                } else {
                    Accepted
                };
                t.pending_reason = None;
                notices.push(notice(Audience::Reporter, "ticket_resumed"));
            }
            Action::Resolve { cause, solution } => {
                if !self.is_assignee(caller) {
                    return forbidden;
                }
                if !working {
                    return illegal;
                }
                note = Some(format!("cause: {cause}\nsolution: {solution}"));
                t.status = Resolved;
                t.cause = Some(cause);
                t.solution = Some(solution);
                t.resolved_at = Some(now);
                notices.push(notice(Audience::Reporter, "ticket_resolved"));
            }
            Action::Confirm => {
                if !self.is_own_reporter(caller) {
                    return forbidden;
                }
                if from != Resolved {
                    return illegal;
                }
                t.status = Closed;
                t.closure = Some(Closure::Confirmed);
                t.closed_at = Some(now);
                notices.push(notice(self.holder(), "ticket_confirmed"));
            }
            Action::Reopen(reason) => {
                if !self.is_own_reporter(caller) {
                    return forbidden;
                }
                if from != Resolved {
                    return illegal;
                }
                note = Some(reason.to_string());
                t.status = Reopened;
                t.resolved_at = None;
                t.reopen_count += 1;
                notices.push(notice(self.holder(), "ticket_reopened"));
            }
            Action::AutoClose => {
                if *caller != Caller::System {
                    return forbidden;
                }
                if from != Resolved {
                    return illegal;
                }
                t.status = Closed;
                t.closure = Some(Closure::AutoClosed);
                t.closed_at = Some(now);
                notices.push(notice(Audience::Reporter, "ticket_auto_closed"));
                notices.push(notice(self.holder(), "ticket_auto_closed"));
            }
            Action::Cancel(reason) => {
                if !(self.is_own_reporter(caller) || manager) {
                    return forbidden;
                }
                if from.is_final() || from == Resolved {
                    return illegal;
                }
                note = reason.map(|r| r.to_string());
                t.status = Cancelled;
                t.closed_at = Some(now);
                if !matches!(from, New) {
                    notices.push(notice(self.holder(), "ticket_cancelled"));
                }
                if !self.is_own_reporter(caller) {
                    notices.push(notice(Audience::Reporter, "ticket_cancelled"));
                }
            }
            Action::Reassign { group, engineer } => {
                if !manager {
                    return forbidden;
                }
                if from.is_final() || from == Resolved {
                    return illegal;
                }
                if let Some(e) = &engineer
                    && e.group != group
                {
                    return Err(TicketError::NotInGroup {
                        engineer: e.name.clone(),
                        group,
                    });
                }
                if let Some(old) = self.assignee {
                    notices.push(notice(Audience::Engineer(old), "job_reassigned"));
                }
                note = Some(match &engineer {
                    Some(e) => format!("to {} ({group})", e.name),
                    None => format!("to group {group}"),
                });
                t.group = group;
                t.tier = engineer.as_ref().map_or(Tier::FirstLine, |e| e.tier);
                t.offered_to = engineer.map(|e| e.id);
                t.assignee = None;
                t.remote_consent = None;
                t.status = Offered;
                t.pending_reason = None;
                notices.push(notice(t.offer_audience(), "job_offered"));
                notices.push(notice(Audience::Reporter, "ticket_reassigned"));
            }
            Action::Escalate(reason) => {
                let allowed = match caller {
                    Caller::System => true,
                    Caller::Engineer(e) => manager || e.group == self.group,
                    _ => manager,
                };
                if !allowed {
                    return forbidden;
                }
                if from.is_final() || from == Resolved {
                    return illegal;
                }
                let Some(up) = self.tier.above() else {
                    return Err(TicketError::AtTopTier);
                };
                note = Some(reason.to_string());
                t.tier = up;
                t.escalation_level += 1;
                t.assignee = None;
                t.remote_consent = None;
                t.offered_to = None;
                t.status = Offered;
                t.pending_reason = None;
                if let Some(old) = self.assignee {
                    notices.push(notice(Audience::Engineer(old), "job_escalated_away"));
                }
                notices.push(notice(t.offer_audience(), "job_offered"));
                if up == Tier::Manager {
                    notices.push(notice(Audience::Managers, "ticket_escalated_to_managers"));
                }
                notices.push(notice(Audience::Reporter, "ticket_escalated"));
            }
            Action::IssueLoaner(device) => {
                if !(self.is_assignee(caller) || manager) {
                    return forbidden;
                }
                if from.is_final() {
                    return illegal;
                }
                if self.loaner_issued_at.is_some() && self.loaner_returned_at.is_none() {
                    return Err(TicketError::LoanerOut);
                }
                note = Some(device.to_string());
                t.loaner = Some(device);
                t.loaner_issued_at = Some(now);
                t.loaner_returned_at = None;
                notices.push(notice(Audience::Reporter, "loaner_issued"));
            }
            // Also after closure: the lent device often comes back once the ticket is done.
            Action::ReturnLoaner => {
                if !(self.is_assignee(caller) || manager) {
                    return forbidden;
                }
                if self.loaner_issued_at.is_none() || self.loaner_returned_at.is_some() {
                    return Err(TicketError::NoLoanerOut);
                }
                note = self.loaner.as_ref().map(|d| d.to_string());
                t.loaner_returned_at = Some(now);
            }
        }
        Ok(Change {
            ticket: t,
            action: verb,
            from: Some(from),
            note,
            notices,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
