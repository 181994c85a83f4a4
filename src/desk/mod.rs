//! The desk: the application service and the only place that changes tickets. Each call
//! checks the caller, lets the domain decide, and stores the change with its audit event
//! and outgoing messages in one transaction.

mod archive;
mod assets;
mod complaints;
pub mod console;
mod deliveries;
pub mod inspections;
mod knowledge;
pub mod link;
mod people;
mod policy;
pub mod ports;
mod reports;
mod retention;
pub mod setup;
mod sla;
mod staffing;
mod survey;
mod web;

pub use crate::store::{
    ArchiveEntry, AuditEvent, Card, CardClaim, CardEnd, Complaint, ComplaintEvent, Expect,
    FilingRecord, NewEngineer, OutboxMessage, OutboxStats, Page, PendingPhoto, PendingUpdate,
    Recipient, Reporter, SendCounts, StatusCount, StepRecord, StoreError, StoredConversation,
    TicketFilter, WebEntry,
};
/// The records the desk reads and writes, as its callers see them.
pub use crate::store::{Article, ArticleEvent};
pub use complaints::ComplaintDetail;
pub use deliveries::{Failed, RetryPolicy};
pub use knowledge::{ArticleDetail, ArticleEdit, Found, KbReport, TopArticle};
pub use ports::Ports;
pub use retention::{Retained, RetentionPolicy};
pub use sla::ClockRound;
pub use staffing::{Staffing, receipt_event};
pub use survey::{SurveyRefusal, SurveyReply};
pub use web::{WebInvite, WebPolicy};
// The registers (issue 20).
pub use crate::store::{Asset, AssetFilter, DirectoryEntry, RegisterEvent};
pub use assets::{AssetDetail, AssetFault, AssetFields, AssetReportLine};
pub use people::{Admission, Imported, RegistersPolicy, ReportStart};

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Utc};
use serde_json::json;

pub use crate::domain::report_form::{FieldError, Remembered, ReportForm};
pub use policy::{Policy, SurveyDay, SurveyPolicy};
pub use reports::report_period_on;

use crate::clock::Clock;
use crate::domain::EngineerId;
use crate::domain::ReporterId;
use crate::domain::clocks::{ClockKind, Clocks, Rules, SlaClock};
use crate::domain::intake::PersonName;
use crate::domain::on_call::nobody_working;
use crate::domain::priority::Priority;
use crate::domain::routing::{Engineer, Group, Tier, offer_order};
use crate::domain::ticket::{
    Action, Audience, Caller, Change, Notice, Status, Ticket, TicketError, TicketNumber,
};
use crate::store::{Actor, NewAuditEvent, NewOutboxMessage, Roster, Scope, Store, TicketWrite};

/// Why the desk refused or failed a call. `Display` is the sentence shown to the person.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The input has problems (each listed).
    #[error("the report has problems: {}", .0.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// A single bad value outside a report form.
    #[error("{0}")]
    BadValue(String),
    /// Not there, or not visible to this caller (the two are indistinguishable on purpose).
    #[error("{0} was not found")]
    NotFound(String),
    /// The domain refused the action.
    #[error(transparent)]
    Ticket(TicketError),
    /// Somebody else accepted first.
    #[error("sorry, {by} has already accepted this job")]
    AlreadyTaken {
        /// Who has it.
        by: String,
    },
    /// The caller may not do this at all.
    #[error("{0}")]
    Forbidden(String),
    /// A unique value is taken.
    #[error("{0} is already in use")]
    Duplicate(String),
    /// A survey answer that cannot be taken.
    #[error(transparent)]
    Survey(SurveyRefusal),
    /// A report's period cannot be used (out of range, backwards, too long).
    #[error(transparent)]
    Period(#[from] crate::domain::report::RangeError),
    /// An inspection step that cannot be taken (see `domain::inspection`).
    #[error(transparent)]
    Inspection(crate::domain::inspection::InspectionError),
    /// An article's texts or status change refused (see `domain::knowledge`): a bad value,
    /// kept typed so a form can say which field and why in its own words.
    #[error(transparent)]
    Article(crate::domain::knowledge::ArticleError),
    /// The ticket kept changing under us; the caller may simply retry.
    #[error("the ticket is being changed by someone else right now; please try again")]
    Busy,
    /// The database is not answering (restarting, unreachable, every connection busy);
    /// nothing was written.
    #[error(
        "the desk's database is not answering right now; nothing was saved, please try again in a moment"
    )]
    Unavailable(#[source] StoreError),
    /// Storage failed.
    #[error("the desk could not reach its database")]
    Store(#[source] StoreError),
}

impl From<StoreError> for DeskError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate(what) => DeskError::Duplicate(what),
            other if other.is_unavailable() => DeskError::Unavailable(other),
            other => DeskError::Store(other),
        }
    }
}

/// The application service.
#[derive(Clone)]
pub struct Desk {
    store: Store,
    clock: Arc<dyn Clock>,
    policy: Arc<Policy>,
    /// Poked after every write that queued messages, to wake the dispatcher.
    signal: Arc<tokio::sync::Notify>,
}

/// A ticket with its audit trail, as its detail view shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TicketDetail {
    /// The ticket.
    pub ticket: Ticket,
    /// Its audit trail, oldest first.
    pub audit: Vec<AuditEvent>,
    /// Its SLA clocks.
    pub clocks: Vec<SlaClock>,
}

/// How a message reaches a person (see [`Desk::contact`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Their chat identities: (door, id there).
    pub identities: Vec<(String, String)>,
    /// Their language, if they chose one.
    pub language: Option<String>,
    /// The engineer, when the recipient is one.
    pub engineer: Option<Engineer>,
}

/// A fault report checked and decided but not filed yet (see [`Desk::prepare_report`]).
#[derive(Debug, Clone)]
pub struct ReportDraft {
    write: TicketWrite,
    remember: bool,
    year: i32,
    receipt: &'static str,
    /// The registered device the report is about, if any.
    asset: Option<crate::store::Asset>,
}

impl ReportDraft {
    /// The ticket as it will be filed; its number is given when it is filed.
    pub fn ticket(&self) -> &Ticket {
        &self.write.ticket
    }

    /// The message that tells the reporter honestly what happens next (see
    /// [`receipt_event`]).
    pub fn receipt_event(&self) -> &'static str {
        self.receipt
    }
}

/// The chat a report is filed from (see [`Desk::file`]).
#[derive(Debug, Clone)]
pub struct FromChat {
    /// The door.
    pub channel: String,
    /// The reporter's id on it: their conversation ends with the filing.
    pub external_id: String,
    /// The door's record of the step that filed it.
    pub record: Option<FilingRecord>,
    /// The conversation as the step read it: if it changed meanwhile nothing is filed
    /// (`Conflict`), and the step is decided again.
    pub expect: Expect,
}

/// Optimistic-concurrency retries before giving up with `Busy`.
const MAX_ATTEMPTS: usize = 5;

impl Desk {
    /// A desk over a store, a clock and the configured rules.
    pub fn new(store: Store, clock: Arc<dyn Clock>, policy: Policy) -> Desk {
        Desk {
            store,
            clock,
            policy: Arc::new(policy),
            signal: Arc::default(),
        }
    }

    /// Notified whenever a change queued outgoing messages.
    pub fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.signal.clone()
    }

    /// The narrow ports onto the store for the consumers that keep records of their own
    /// (see [`ports`]).
    pub fn ports(&self) -> Ports {
        Ports::new(&self.store, &self.clock)
    }

    /// The database behind the desk: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Closes the database (waits for connections in use to be returned).
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// The rules in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The current time from the injected clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Checks the database answers.
    pub async fn health(&self) -> Result<(), DeskError> {
        Ok(self.store.ping().await?)
    }

    /// Whether the service can take work: the database answers and has every migration
    /// of this build applied; if not, why, as a sentence.
    pub async fn readiness(&self) -> Result<(), String> {
        match self.store.pending_migrations().await {
            Ok(pending) if pending.is_empty() => Ok(()),
            Ok(pending) => Err(format!(
                "the database lacks migration(s) {}: run `baoxiu migrate`",
                pending
                    .iter()
                    .map(|v| format!("{v:04}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Err(e) => Err(format!("the database does not answer: {e}")),
        }
    }

    /// The reporter behind a chat or API identity, created on first contact (when `name`
    /// must be a valid name; later contacts may pass any, e.g. an empty one).
    pub async fn reporter_for_identity(
        &self,
        channel: &str,
        external_id: &str,
        name: &str,
    ) -> Result<Reporter, DeskError> {
        if let Some(known) = self
            .store
            .reporter_by_identity(channel, external_id)
            .await?
        {
            return Ok(known);
        }
        self.new_reporter(channel, external_id, name, None).await
    }

    /// Makes the reporter behind an identity that has none yet (its first contact),
    /// speaking `language` if given; if a concurrent first contact made them already,
    /// that reporter.
    pub async fn new_reporter(
        &self,
        channel: &str,
        external_id: &str,
        name: &str,
        language: Option<&str>,
    ) -> Result<Reporter, DeskError> {
        let name = PersonName::parse(name).map_err(|e| DeskError::BadValue(e.to_string()))?;
        Ok(self
            .store
            .create_reporter(channel, external_id, name.as_str(), language, self.now())
            .await?)
    }

    /// Reporters (not erased) whose name, phone or department contains `search`, VIPs
    /// first; at most `limit` (1–200). Managers only.
    pub async fn reporters(
        &self,
        caller: &Caller,
        search: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Reporter>, DeskError> {
        if !caller.is_manager() {
            return Err(DeskError::Forbidden(
                "only managers can list reporters".into(),
            ));
        }
        Ok(self.store.reporters(search, limit.clamp(1, 200)).await?)
    }

    /// One reporter by id (managers only).
    pub async fn reporter(&self, caller: &Caller, id: ReporterId) -> Result<Reporter, DeskError> {
        if !caller.is_manager() {
            return Err(DeskError::Forbidden(
                "only managers can read reporters".into(),
            ));
        }
        self.store
            .reporter(id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("reporter {id}")))
    }

    /// Marks a reporter as VIP (or not). Managers only.
    pub async fn set_vip(
        &self,
        caller: &Caller,
        reporter: ReporterId,
        vip: bool,
    ) -> Result<Reporter, DeskError> {
        if !caller.is_manager() {
            return Err(DeskError::Forbidden(
                "only managers can change VIP status".into(),
            ));
        }
        let mut r = self
            .store
            .reporter(reporter)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("reporter {reporter}")))?;
        r.vip = vip;
        self.store.update_reporter(&r, self.now()).await?;
        Ok(r)
    }

    /// Erases a reporter's personal data (PIPL; managers only): name, phone, chat
    /// identities, web sessions, conversations, drafts and chat history, what they wrote
    /// in trails and surveys, the photos they sent, messages to them. Their tickets stay,
    /// anonymous, in the statistics; the erasure is recorded with who and when.
    pub async fn erase_reporter(
        &self,
        caller: &Caller,
        reporter: ReporterId,
    ) -> Result<(), DeskError> {
        let by = match caller {
            Caller::Desk { name } => crate::store::Actor {
                kind: "desk",
                id: None,
                name: name.clone(),
            },
            Caller::Engineer(e) if caller.is_manager() => crate::store::Actor {
                kind: "engineer",
                id: Some(e.id.to_string()),
                name: e.name.clone(),
            },
            _ => {
                return Err(DeskError::Forbidden(
                    "only managers can erase a reporter's data".into(),
                ));
            }
        };
        if self.store.erase_reporter(reporter, &by, self.now()).await? {
            Ok(())
        } else {
            Err(DeskError::NotFound(format!("reporter {reporter}")))
        }
    }

    /// Records a fault report for `reporter` and offers it to the right group.
    /// Reporters report for themselves; managers may record one on someone's behalf.
    pub async fn report(
        &self,
        caller: &Caller,
        reporter: ReporterId,
        form: ReportForm,
    ) -> Result<Ticket, DeskError> {
        let draft = self.prepare_report(caller, reporter, form).await?;
        self.file(draft, None).await
    }

    /// Checks and decides a fault report (priority, group, clocks, messages) without
    /// filing it: the draft shows the ticket as it will be filed, but for its number, so a
    /// chat step can say what happens next in the same transaction as the ticket (see
    /// [`Desk::file`]).
    pub async fn prepare_report(
        &self,
        caller: &Caller,
        reporter: ReporterId,
        form: ReportForm,
    ) -> Result<ReportDraft, DeskError> {
        let allowed = caller.is_manager() || *caller == Caller::Reporter(reporter);
        if !allowed {
            return Err(DeskError::Forbidden(
                "you can only report faults for yourself".into(),
            ));
        }
        // The three reads are independent: run them side by side.
        let device = form.device();
        let (who, roster, asset) = tokio::join!(
            self.store.reporter(reporter),
            self.store.roster(),
            self.find_device(&device)
        );
        let who = who?.ok_or_else(|| DeskError::NotFound(format!("reporter {reporter}")))?;
        let (roster, asset) = (roster?, asset?);
        let now = self.now();
        let known = Remembered {
            name: who.name.clone(),
            department: who.department.clone(),
            phone: who.phone.clone(),
        };
        let (mut intake, impact, urgency) = form
            .parse(&known, &self.policy.routing, now)
            .map_err(DeskError::Invalid)?;
        if intake.channel.desk_entered() && !caller.is_manager() {
            return Err(DeskError::Forbidden(
                "only the desk records reports that came by phone, in person or by email".into(),
            ));
        }
        // A typed tag or IP found in the asset register fills in the rest of the device.
        if let Some(asset) = &asset {
            asset.record.fill_in(&mut intake.device);
        }
        let priority = self
            .policy
            .matrix
            .priority(intake.kind, impact, urgency, who.vip);
        let group = self
            .policy
            .routing
            .group_for(&intake.category)
            .map(|g| g.id.clone())
            .ok_or_else(|| {
                DeskError::BadValue(format!("unknown category `{}`", intake.category))
            })?;
        let on_duty = !offer_order(&roster.engineers, &group, Tier::FirstLine, |_| 0).is_empty();
        // Department and phone are remembered for next time; write them only when new.
        let remember = who.department.as_deref() != Some(intake.department.as_str())
            || who.phone.as_deref() != Some(intake.phone.as_str());

        let ticket = Ticket {
            id: crate::domain::TicketId(0),
            number: TicketNumber::unassigned(),
            reporter,
            intake,
            vip: who.vip,
            impact,
            urgency,
            priority,
            status: if on_duty {
                Status::Offered
            } else {
                Status::New
            },
            group: group.clone(),
            tier: Tier::FirstLine,
            assignee: None,
            offered_to: None,
            work_mode: None,
            arrived_at: None,
            pending_reason: None,
            cause: None,
            solution: None,
            closure: None,
            reopen_count: 0,
            escalation_level: 0,
            response_due_at: None,
            resolution_due_at: None,
            next_due_at: None,
            created_at: now,
            updated_at: now,
            accepted_at: None,
            resolved_at: None,
            closed_at: None,
            loaner: None,
            loaner_issued_at: None,
            loaner_returned_at: None,
            remote_consent: None,
            version: 0,
        };
        let receipt =
            staffing::receipt_event(on_duty, !self.on_call(&roster.engineers, now).is_empty());
        let mut notices = vec![Notice {
            to: Audience::Reporter,
            event: receipt,
        }];
        notices.push(Notice {
            to: Audience::Offer {
                group,
                tier: Tier::FirstLine,
                to: None,
            },
            event: "job_offered",
        });
        let clocks = Clocks::for_new(&ticket, &self.policy.sla, now, self.rules(priority));
        let ticket = with_deadlines(ticket, &clocks);
        let change = Change {
            ticket,
            action: "report",
            from: None,
            note: None,
            notices,
        };
        let mut write = self.write_for(caller, change, &roster, now);
        write.clocks = clocks.0;
        let year = now.with_timezone(&self.policy.calendar.time_zone()).year();
        Ok(ReportDraft {
            write,
            remember,
            year,
            receipt,
            asset,
        })
    }

    /// Files a prepared report: the ticket, its number, audit event, clocks and messages
    /// in one transaction, with (from a chat) the end of the reporter's conversation and
    /// the door's record of the step, so the report is filed exactly once even if the
    /// reply is lost.
    pub async fn file(
        &self,
        draft: ReportDraft,
        from_chat: Option<FromChat>,
    ) -> Result<Ticket, DeskError> {
        let ReportDraft {
            mut write,
            remember,
            year,
            asset,
            ..
        } = draft;
        if let Some(chat) = from_chat {
            write.end_conversation = Some((chat.channel, chat.external_id, chat.expect));
            write.record = chat.record;
        }
        let queued = !write.outbox.is_empty();
        let stored = self
            .store
            .insert_ticket(&self.policy.ticket_prefix, year, remember, write)
            .await?;
        // The dispatcher's claim is a write: wake it only when there is something to send.
        if queued {
            self.signal.notify_one();
        }
        tracing::info!(ticket = %stored.number, priority = %stored.priority, status = %stored.status, "ticket reported");
        // The ticket is filed whatever happens here; a failure only delays the advice to
        // the next report on the device.
        if let Some(asset) = &asset
            && let Err(e) = self.check_repeat_faults(&stored, asset).await
        {
            tracing::warn!(ticket = %stored.number, error = %e, "repeat faults not checked");
        }
        Ok(stored)
    }

    /// Applies an action to a ticket. Concurrent changes are detected by version and the
    /// action is decided again on the fresh ticket (so of two simultaneous accepts, one
    /// wins and the other is told who has the job).
    pub async fn act(
        &self,
        caller: &Caller,
        number: &str,
        action: Action,
    ) -> Result<Ticket, DeskError> {
        for _ in 0..MAX_ATTEMPTS {
            let ticket = self.look_up(caller, number).await?;
            let now = self.now();
            let mut change = match ticket.apply(caller, action.clone(), now) {
                Ok(c) => c,
                Err(TicketError::AlreadyTaken { by }) => {
                    return Err(DeskError::AlreadyTaken {
                        by: self.engineer_name(by).await?,
                    });
                }
                Err(e) => return Err(DeskError::Ticket(e)),
            };
            let (roster, clocks) = tokio::join!(self.store.roster(), self.store.clocks(ticket.id));
            let (roster, mut clocks) = (roster?, Clocks(clocks?));
            let (moved, breached) = clocks.on_change(
                change.action,
                &change.ticket,
                &self.policy.sla,
                now,
                self.rules(change.ticket.priority),
            );
            if !breached.is_empty() {
                // Stopped past a deadline the scheduler had not reached yet: recorded here,
                // once (the clock now counts the breach).
                let names: Vec<&str> = breached.iter().map(|k| k.as_str()).collect();
                let sla = format!("SLA breached: {}", names.join(", "));
                change.note = Some(match change.note.take() {
                    Some(n) => format!("{n}\n{sla}"),
                    None => sla,
                });
            }
            change.ticket = with_deadlines(change.ticket, &clocks);
            // The reporter hears by when to expect the engineer (DOMAIN: "when to expect
            // the engineer"): the on-site deadline while that clock runs.
            let on_site_due = clocks
                .get(ClockKind::OnSite)
                .filter(|c| c.open)
                .and_then(|c| c.due_at);
            for n in &mut change.notices {
                if n.event == "ticket_accepted" {
                    n.event = accepted_event(on_site_due, change.ticket.resolution_due_at);
                }
            }
            let mut write = self.write_for(caller, change, &roster, now);
            if let Some(at) = on_site_due {
                for m in &mut write.outbox {
                    m.payload["on_site_due_at"] = json!(at);
                }
            }
            write.clocks = moved;
            if matches!(action, Action::Resolve { .. }) {
                // The knowledge base's draft, in the resolution's own transaction.
                write.article = self.article_for_resolution(caller, &write.ticket);
            }
            let verb = write.audit.action.clone();
            let queued = !write.outbox.is_empty();
            match self.store.update_ticket(write).await {
                Ok(t) => {
                    if queued {
                        self.signal.notify_one();
                    }
                    tracing::info!(ticket = %t.number, action = %verb, status = %t.status, "ticket changed");
                    return Ok(t);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DeskError::Busy)
    }

    /// Photo `n` (from 1) of a ticket the caller may see, once its door has fetched it;
    /// not found otherwise (a hidden ticket looks missing, as everywhere).
    pub async fn photo(&self, caller: &Caller, number: &str, n: i32) -> Result<Vec<u8>, DeskError> {
        let ticket = self.look_up(caller, number).await?;
        match self.store.attachment(ticket.id, n).await? {
            Some(a) if a.status == "fetched" => Ok(a.content.unwrap_or_default()),
            _ => Err(DeskError::NotFound(format!("photo {n} of {number}"))),
        }
    }

    /// A ticket and its audit trail, if the caller may see it.
    pub async fn ticket(&self, caller: &Caller, number: &str) -> Result<TicketDetail, DeskError> {
        let ticket = self.look_up(caller, number).await?;
        let (audit, clocks) = tokio::join!(
            self.store.audit_trail(ticket.id),
            self.store.clocks(ticket.id)
        );
        Ok(TicketDetail {
            ticket,
            audit: audit_as_seen_by(caller, audit?),
            clocks: clocks?,
        })
    }

    /// One page of the tickets the caller may see.
    pub async fn list(
        &self,
        caller: &Caller,
        filter: &TicketFilter,
        page: u32,
        per_page: u32,
    ) -> Result<Page<Ticket>, DeskError> {
        let scope = match caller {
            Caller::Reporter(id) => Scope::Reporter(*id),
            Caller::Engineer(e) if !caller.is_manager() => Scope::Engineer {
                group: e.group.clone(),
                id: e.id,
            },
            _ => Scope::All,
        };
        let per_page = per_page.clamp(1, 100);
        let offset = i64::from(page.max(1) - 1) * i64::from(per_page);
        Ok(self
            .store
            .list_tickets(&scope, filter, i64::from(per_page), offset)
            .await?)
    }

    /// The configured engineer groups.
    pub fn groups(&self) -> &[Group] {
        self.policy.routing.groups()
    }

    /// All engineers. Engineers and managers only.
    pub async fn engineers(&self, caller: &Caller) -> Result<Vec<Engineer>, DeskError> {
        if !matches!(caller, Caller::Engineer(_)) && !caller.is_manager() {
            return Err(DeskError::Forbidden(
                "only engineers and managers can list engineers".into(),
            ));
        }
        Ok(self.store.engineers().await?)
    }

    /// One engineer by id.
    pub async fn engineer(&self, id: EngineerId) -> Result<Option<Engineer>, DeskError> {
        Ok(self.store.engineer(id).await?)
    }

    /// One engineer by handle.
    pub async fn engineer_by_handle(&self, handle: &str) -> Result<Option<Engineer>, DeskError> {
        Ok(self.store.engineer_by_handle(handle).await?)
    }

    /// Sets (or with `None` clears) the WeCom UserID in an engineer's record: WeCom's
    /// directory names its members, so engineers need not `/link` there. Managers only.
    pub async fn set_engineer_wecom_id(
        &self,
        caller: &Caller,
        handle: &str,
        user_id: Option<&str>,
    ) -> Result<Engineer, DeskError> {
        if !caller.is_manager() {
            return Err(DeskError::Forbidden(
                "only managers can change engineers".into(),
            ));
        }
        let engineer = self
            .store
            .engineer_by_handle(handle)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("engineer {handle}")))?;
        let change = EngineerChange {
            wecom_id: Some(user_id.map(str::to_owned)),
            ..EngineerChange::default()
        };
        self.change_engineer(caller, engineer.id, change).await
    }

    /// The engineer whose chat identity on `channel` this is (linked with a code).
    pub async fn engineer_by_identity(
        &self,
        channel: &str,
        external_id: &str,
    ) -> Result<Option<Engineer>, DeskError> {
        Ok(self
            .store
            .engineer_by_identity(channel, external_id)
            .await?)
    }

    /// The reporter behind a chat identity, if known.
    pub async fn reporter_by_identity(
        &self,
        channel: &str,
        external_id: &str,
    ) -> Result<Option<Reporter>, DeskError> {
        Ok(self
            .store
            .reporter_by_identity(channel, external_id)
            .await?)
    }

    /// Fills a reporter's department and phone from their platform's directory (WeCom's
    /// `user/get`) where the record has none: what the directory knows is never asked,
    /// and what the reporter said themselves is never overwritten. Values the intake
    /// rules refuse are left out.
    pub async fn remember_directory(
        &self,
        reporter: &Reporter,
        department: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Reporter, DeskError> {
        use crate::domain::intake::{Department, Phone};
        let mut r = reporter.clone();
        if r.department.is_none() {
            r.department = department
                .and_then(|d| Department::parse(d).ok())
                .map(|d| d.as_str().to_owned());
        }
        if r.phone.is_none() {
            r.phone = phone
                .and_then(|p| Phone::parse(p).ok())
                .map(|p| p.as_str().to_owned());
        }
        if (r.department.is_some(), r.phone.is_some())
            != (reporter.department.is_some(), reporter.phone.is_some())
        {
            self.store.update_reporter(&r, self.now()).await?;
        }
        Ok(r)
    }

    /// Remembers the language a reporter's messages are written in (a language code the
    /// texts exist in: `zh-CN` or `en`).
    pub async fn set_language(
        &self,
        reporter: &Reporter,
        code: &str,
    ) -> Result<Reporter, DeskError> {
        let mut r = reporter.clone();
        r.language = Some(code.to_owned());
        self.store.update_reporter(&r, self.now()).await?;
        Ok(r)
    }

    /// How a message to `to` can reach them: their chat identities, their language and,
    /// for an engineer, who they are. `None` if they no longer exist.
    pub async fn contact(&self, to: Recipient) -> Result<Option<Contact>, DeskError> {
        Ok(match to {
            Recipient::Reporter(id) => {
                let (reporter, identities) =
                    tokio::join!(self.store.reporter(id), self.store.reporter_identities(id));
                let identities = identities?;
                reporter?.map(|r| Contact {
                    identities,
                    language: r.language,
                    engineer: None,
                })
            }
            Recipient::Engineer(id) => self.store.engineer(id).await?.map(|e| Contact {
                identities: [
                    ("telegram", &e.telegram_id),
                    ("discord", &e.discord_id),
                    ("web", &e.web_id),
                    ("wecom", &e.wecom_id),
                ]
                .into_iter()
                .filter_map(|(channel, id)| Some((channel.to_owned(), id.clone()?)))
                .collect(),
                language: None,
                engineer: Some(e),
            }),
        })
    }

    /// Adds an engineer. Managers only.
    pub async fn add_engineer(
        &self,
        caller: &Caller,
        new: NewEngineer,
    ) -> Result<Engineer, DeskError> {
        if !caller.is_manager() {
            return Err(DeskError::Forbidden(
                "only managers can add engineers".into(),
            ));
        }
        let handle_ok = (2..=32).contains(&new.handle.len())
            && new.handle.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            });
        if !handle_ok {
            return Err(DeskError::BadValue(format!(
                "handle `{}` must be 2–32 lowercase letters, digits, '.', '_' or '-'",
                new.handle
            )));
        }
        let name = PersonName::parse(&new.name).map_err(|e| DeskError::BadValue(e.to_string()))?;
        self.known_group(&new.group)?;
        let new = NewEngineer {
            name: name.to_string(),
            ..new
        };
        Ok(self.store.create_engineer(&new, self.now()).await?)
    }

    /// Changes an engineer's duty, group, tier and WeCom UserID in one transaction with
    /// its event in the registers' trail; the engineer as saved. An engineer may change
    /// their own duty only; managers change the rest. A refusal changes nothing.
    pub async fn change_engineer(
        &self,
        caller: &Caller,
        id: EngineerId,
        change: EngineerChange,
    ) -> Result<Engineer, DeskError> {
        let own = caller.engineer_id() == Some(id);
        let duty_only = change.name.is_none()
            && change.group.is_none()
            && change.tier.is_none()
            && change.wecom_id.is_none();
        if !(caller.is_manager() || (own && duty_only)) {
            return Err(DeskError::Forbidden(
                "engineers may only change their own duty status; managers change the rest".into(),
            ));
        }
        let wecom = match &change.wecom_id {
            Some(user) => Some(wecom_user_id(user.as_deref())?),
            None => None,
        };
        let before = self
            .store
            .engineer(id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("engineer {id}")))?;
        let mut e = before.clone();
        if let Some(name) = change.name {
            e.name = PersonName::parse(&name)
                .map_err(|err| DeskError::BadValue(err.to_string()))?
                .as_str()
                .to_owned();
        }
        if let Some(g) = change.group {
            self.known_group(&g)?;
            e.group = g;
        }
        if let Some(d) = change.on_duty {
            e.on_duty = d;
        }
        if let Some(t) = change.tier {
            e.tier = t;
        }
        if let Some(user) = wecom {
            e.wecom_id = user.map(str::to_owned);
        }
        let event = crate::store::NewRegisterEvent {
            register: "engineers",
            subject: e.handle.clone(),
            at: self.now(),
            actor: actor_named(caller, |r| format!("reporter {r}")),
            action: "changed",
            note: Some(engineer_changes(&before, &e)),
        };
        self.store.change_engineer(&e, wecom, &event).await?;
        Ok(e)
    }

    /// Deactivates an engineer who left (managers only; not oneself): never offered a job,
    /// signed in or reached again, their chats unlinked, their console sessions ended —
    /// recorded in the registers' trail. Their name stays on the tickets they worked. They
    /// must hold no open job: those are handed over first.
    pub async fn deactivate_engineer(
        &self,
        caller: &Caller,
        id: EngineerId,
    ) -> Result<Engineer, DeskError> {
        let actor = people::manager_actor(caller, "deactivate engineers")?;
        if caller.engineer_id() == Some(id) {
            return Err(DeskError::BadValue(
                "you cannot deactivate yourself; ask another manager".into(),
            ));
        }
        let roster = self.store.roster().await?;
        let engineer = roster
            .engineers
            .iter()
            .find(|e| e.id == id)
            .cloned()
            .ok_or_else(|| DeskError::NotFound(format!("engineer {id}")))?;
        let open = roster.load.get(&id).copied().unwrap_or(0);
        if open > 0 {
            return Err(DeskError::BadValue(format!(
                "{} still holds {open} open ticket(s); reassign them first",
                engineer.handle
            )));
        }
        let event = crate::store::NewRegisterEvent {
            register: "engineers",
            subject: engineer.handle.clone(),
            at: self.now(),
            actor,
            action: "deactivate",
            note: None,
        };
        if self.store.deactivate_engineer(id.0, &event).await? {
            Ok(engineer)
        } else {
            Err(DeskError::NotFound(format!("engineer {id}")))
        }
    }

    /// The clock rules for a priority.
    fn rules(&self, priority: Priority) -> Rules<'_> {
        Rules {
            calendar: &self.policy.calendar,
            wall: &self.policy.wall,
            warn_at: self.policy.escalation.warn_at,
            chain: self.policy.escalation.chain(priority),
            confirm_reminders: &self.policy.sla.confirm_reminders,
        }
    }

    /// Who hears at `now` that nobody is working a ticket: the engineers the rota has on
    /// call, or every manager when it names nobody (or nobody it names is on the roster).
    fn on_call(&self, engineers: &[Engineer], now: DateTime<Utc>) -> Vec<Recipient> {
        let handles = self.policy.on_call.at(now);
        let on_call: Vec<Recipient> = engineers
            .iter()
            .filter(|e| handles.contains(&e.handle.as_str()))
            .map(|e| Recipient::Engineer(e.id))
            .collect();
        if on_call.is_empty() {
            managers(engineers)
                .map(|e| Recipient::Engineer(e.id))
                .collect()
        } else {
            on_call
        }
    }

    /// When a message to `to` may go out: managers are not disturbed outside their hours
    /// about tickets below P1 (quiet hours); everyone else at once.
    fn not_before(
        &self,
        to: Recipient,
        priority: Priority,
        roster: &Roster,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let Recipient::Engineer(id) = to else {
            return None;
        };
        let manager = managers(&roster.engineers).any(|e| e.id == id);
        if !manager || priority == Priority::P1 {
            return None;
        }
        let at = self.policy.manager_hours.next_working_time(now);
        (at > now).then_some(at)
    }

    fn known_group(&self, id: &str) -> Result<(), DeskError> {
        if self.policy.routing.group(id).is_none() {
            let ids: Vec<&str> = self.groups().iter().map(|g| g.id.as_str()).collect();
            return Err(DeskError::BadValue(format!(
                "unknown group `{id}`; choose one of: {}",
                ids.join(", ")
            )));
        }
        Ok(())
    }

    /// A ticket (without its trail) if the caller may see it; not found otherwise.
    pub async fn look_up(&self, caller: &Caller, number: &str) -> Result<Ticket, DeskError> {
        let not_found = || DeskError::NotFound(format!("ticket {}", number.trim()));
        let parsed = TicketNumber::parse(number).ok_or_else(not_found)?;
        match self.store.ticket_by_number(parsed.as_str()).await? {
            Some(t) if t.visible_to(caller) => Ok(t),
            _ => Err(not_found()),
        }
    }

    async fn engineer_name(&self, id: Option<EngineerId>) -> Result<String, DeskError> {
        Ok(match id {
            Some(id) => self
                .store
                .engineer(id)
                .await?
                .map_or_else(|| format!("engineer {id}"), |e| e.name),
            None => "another engineer".into(),
        })
    }

    /// Turns a domain change into the rows to write: the audit event and one outbox
    /// message per concrete recipient.
    fn write_for(
        &self,
        caller: &Caller,
        change: Change,
        roster: &Roster,
        now: DateTime<Utc>,
    ) -> TicketWrite {
        let (engineers, load) = (&roster.engineers, &roster.load);
        let t = &change.ticket;
        let name_of = |id: Option<EngineerId>| {
            id.and_then(|id| engineers.iter().find(|e| e.id == id))
                .map(|e| e.name.clone())
        };
        let payload = notice_payload(t, name_of(t.assignee), change.note.clone());
        let mut sent = BTreeSet::new();
        let mut outbox = Vec::new();
        // A message meaning nobody is working the ticket goes to whoever is on call.
        let managers = |event: &str| {
            if nobody_working(t, event, caller) {
                self.on_call(engineers, now)
            } else {
                managers(engineers)
                    .map(|e| Recipient::Engineer(e.id))
                    .collect::<Vec<_>>()
            }
        };
        for n in &change.notices {
            let (recipients, event) = match &n.to {
                Audience::Reporter => (vec![Recipient::Reporter(t.reporter)], n.event),
                Audience::Engineer(id) => (vec![Recipient::Engineer(*id)], n.event),
                Audience::Managers => (managers(n.event), n.event),
                Audience::Offer { to: Some(id), .. } => (vec![Recipient::Engineer(*id)], n.event),
                Audience::Offer {
                    group,
                    tier,
                    to: None,
                } => {
                    let order = offer_order(engineers, group, *tier, |id| {
                        load.get(&id).copied().unwrap_or(0)
                    });
                    if order.is_empty() {
                        // Nobody on duty to offer it to: the managers must step in.
                        (managers("no_engineer_on_duty"), "no_engineer_on_duty")
                    } else {
                        (
                            order.iter().map(|e| Recipient::Engineer(e.id)).collect(),
                            n.event,
                        )
                    }
                }
            };
            for r in recipients {
                // The person acting is not told about their own action: their door (chat
                // reply, HTTP response) already answered them.
                let own = match (r, caller) {
                    (Recipient::Reporter(id), Caller::Reporter(me)) => id == *me,
                    (Recipient::Engineer(id), Caller::Engineer(me)) => id == me.id,
                    _ => false,
                };
                if !own && sent.insert((r.parts(), event)) {
                    outbox.push(NewOutboxMessage {
                        to: r,
                        event: event.to_owned(),
                        payload: payload.clone(),
                        // 7 × 24: nobody working the ticket is news at any hour.
                        not_before: if nobody_working(t, event, caller) {
                            None
                        } else {
                            self.not_before(r, t.priority, roster, now)
                        },
                    });
                }
            }
        }
        let audit = NewAuditEvent {
            actor: actor(caller, t),
            at: now,
            action: change.action.to_owned(),
            from: change.from,
            to: t.status,
            note: change.note,
        };
        // Closing (confirmed or auto-closed) schedules the satisfaction survey.
        let survey = (t.status == Status::Closed && change.from != Some(Status::Closed))
            .then(|| self.survey_for(t, now));
        TicketWrite {
            ticket: change.ticket,
            audit,
            outbox,
            clocks: Vec::new(),
            survey,
            end_conversation: None,
            record: None,
            article: None,
        }
    }
}

/// Who the managers are: the engineers of the third line. They hear of what nobody else
/// can act on (no engineer on duty, escalations, complaints, dead letters).
fn managers(engineers: &[Engineer]) -> impl Iterator<Item = &Engineer> {
    engineers.iter().filter(|e| e.tier == Tier::Manager)
}

/// The acceptance notice that says by when the engineer comes: the on-site deadline
/// (and the resolution's), else the resolution deadline alone, else no time (a ticket
/// without clocks, e.g. a consultation).
fn accepted_event(
    on_site_due: Option<DateTime<Utc>>,
    resolution_due: Option<DateTime<Utc>>,
) -> &'static str {
    match (on_site_due, resolution_due) {
        (Some(_), _) => "ticket_accepted",
        (None, Some(_)) => "ticket_accepted_resolution_only",
        (None, None) => "ticket_accepted_no_deadline",
    }
}

/// The ticket's deadlines follow its clocks (they move when a clock pauses).
fn with_deadlines(mut t: Ticket, clocks: &Clocks) -> Ticket {
    let due = |kind| clocks.get(kind).and_then(|c: &SlaClock| c.due_at);
    t.response_due_at = due(ClockKind::Response);
    t.resolution_due_at = due(ClockKind::Resolution);
    t.next_due_at = clocks.next_due();
    t
}

/// The audit trail as `caller` may read it. What a reporter said in their survey — the
/// rating, the comment, a complaint — is about the engineers who worked the ticket: an
/// engineer below manager sees that the survey was answered, not what was said, nor
/// whether it was a complaint. The desk, managers and the reporter see it all.
fn audit_as_seen_by(caller: &Caller, audit: Vec<AuditEvent>) -> Vec<AuditEvent> {
    if !matches!(caller, Caller::Engineer(_)) || caller.is_manager() {
        return audit;
    }
    audit
        .into_iter()
        .map(|mut e| {
            if matches!(e.action.as_str(), "survey_answered" | "complaint") {
                e.action = "survey_answered".into();
                e.note = None;
            }
            e
        })
        .collect()
}

/// What a message about a ticket needs (the placeholders of bot-flows' message texts).
pub fn notice_payload(
    t: &Ticket,
    engineer: Option<String>,
    note: Option<String>,
) -> serde_json::Value {
    json!({
        "ticket": t.number.as_str(),
        "priority": t.priority.as_str(),
        "status": t.status.as_str(),
        "category": t.intake.category,
        "site": t.intake.location.site.as_str(),
        "room": t.intake.location.room.as_ref().map(|r| r.as_str()),
        "summary": t.intake.description.as_str().chars().take(120).collect::<String>(),
        "engineer": engineer,
        "note": note,
        "response_due_at": t.response_due_at,
        "resolution_due_at": t.resolution_due_at,
    })
}

fn actor(caller: &Caller, t: &Ticket) -> Actor {
    actor_named(caller, |id| {
        if id == t.reporter {
            t.intake.reporter_name.to_string()
        } else {
            format!("reporter {id}")
        }
    })
}

/// Who acts, as a trail records them; a reporter by the name `reporter_name` gives.
fn actor_named(caller: &Caller, reporter_name: impl FnOnce(ReporterId) -> String) -> Actor {
    match caller {
        Caller::Reporter(id) => Actor {
            kind: "reporter",
            id: Some(id.to_string()),
            name: reporter_name(*id),
        },
        Caller::Engineer(e) => Actor {
            kind: "engineer",
            id: Some(e.id.to_string()),
            name: e.name.clone(),
        },
        Caller::Desk { name } => Actor {
            kind: "desk",
            id: None,
            name: name.clone(),
        },
        Caller::System => Actor {
            kind: "system",
            id: None,
            name: "baoxiu".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_acceptance_notice_names_the_deadline_there_is() {
        let at = Some(Utc::now());
        assert_eq!(accepted_event(at, at), "ticket_accepted");
        assert_eq!(accepted_event(at, None), "ticket_accepted");
        assert_eq!(accepted_event(None, at), "ticket_accepted_resolution_only");
        assert_eq!(accepted_event(None, None), "ticket_accepted_no_deadline");
    }
}

/// What [`Desk::change_engineer`] changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EngineerChange {
    /// Their name (as a person's name is checked).
    pub name: Option<String>,
    /// On or off duty.
    pub on_duty: Option<bool>,
    /// Their group.
    pub group: Option<String>,
    /// Their tier.
    pub tier: Option<Tier>,
    /// Their WeCom UserID: `Some(None)` (or an empty one) clears it.
    pub wecom_id: Option<Option<String>>,
}

/// What a change to an engineer changed, as their trail says it (`field: before → after`).
fn engineer_changes(before: &Engineer, after: &Engineer) -> String {
    let shown = |w: &Option<String>| w.clone().unwrap_or_else(|| "-".into());
    let fields = [
        ("name", before.name.clone(), after.name.clone()),
        (
            "on_duty",
            before.on_duty.to_string(),
            after.on_duty.to_string(),
        ),
        ("group", before.group.clone(), after.group.clone()),
        (
            "tier",
            before.tier.as_str().into(),
            after.tier.as_str().into(),
        ),
        ("wecom_id", shown(&before.wecom_id), shown(&after.wecom_id)),
    ];
    let changed: Vec<String> = fields
        .into_iter()
        .filter(|(_, b, a)| b != a)
        .map(|(field, b, a)| format!("{field}: {b} → {a}"))
        .collect();
    if changed.is_empty() {
        "nothing changed".into()
    } else {
        changed.join("; ")
    }
}

/// A WeCom UserID as given (trimmed; empty means none), or why WeCom would refuse it.
fn wecom_user_id(user_id: Option<&str>) -> Result<Option<&str>, DeskError> {
    match user_id.map(str::trim).filter(|u| !u.is_empty()) {
        Some(u) if !crate::domain::routing::is_wecom_user_id(u) => {
            Err(DeskError::BadValue(format!(
                "`{u}` is not a WeCom UserID (1–64 letters, digits, '_', '-', '.' or '@'); nothing was changed"
            )))
        }
        user => Ok(user),
    }
}
