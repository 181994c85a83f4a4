//! Row shapes shared by both backends, and their conversion to domain types. Stored values
//! are re-parsed through the domain's constructors so corruption is caught, not trusted.

use chrono::{DateTime, Utc};

use super::{Actor, AuditEvent, OutboxMessage, Recipient, Reporter, StoreError};
use crate::domain::clocks::{ClockKind, ClockStatus, SlaClock};
use crate::domain::intake::{
    AssetTag, Department, Description, Device, Intake, Location, Note, PersonName, Phone, Place,
};
use crate::domain::routing::Engineer;
use crate::domain::ticket::{Ticket, TicketNumber};
use crate::domain::{EngineerId, ReporterId, TicketId};

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e| corrupt(what, e))
}

fn parse_opt<T: std::str::FromStr>(what: &str, s: Option<String>) -> Result<Option<T>, StoreError>
where
    T::Err: std::fmt::Display,
{
    s.map(|s| parse(what, &s)).transpose()
}

fn text<T>(
    what: &str,
    f: fn(&str) -> Result<T, crate::domain::intake::InputError>,
    s: &str,
) -> Result<T, StoreError> {
    f(s).map_err(|e| corrupt(what, e))
}

fn text_opt<T>(
    what: &str,
    f: fn(&str) -> Result<T, crate::domain::intake::InputError>,
    s: Option<String>,
) -> Result<Option<T>, StoreError> {
    s.map(|s| text(what, f, &s)).transpose()
}

/// Parses the serde text form of a snake_case enum (impact, urgency).
fn serde_enum<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|e| corrupt(what, e))
}

/// Text form of a snake_case serde enum.
pub(super) fn enum_text<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct TicketRow {
    id: i64,
    number: String,
    kind: String,
    status: String,
    priority: String,
    impact: String,
    urgency: String,
    reporter_id: i64,
    reporter_name: String,
    department: String,
    phone: String,
    site: String,
    building: Option<String>,
    room: Option<String>,
    asset_tag: Option<String>,
    device_model: Option<String>,
    ip: Option<String>,
    category: String,
    description: String,
    started_at: Option<DateTime<Utc>>,
    people_affected: i32,
    vip: bool,
    photos: String,
    group_id: String,
    tier: String,
    assignee_id: Option<i64>,
    offered_to: Option<i64>,
    work_mode: Option<String>,
    arrived_at: Option<DateTime<Utc>>,
    pending_reason: Option<String>,
    cause: Option<String>,
    solution: Option<String>,
    closure: Option<String>,
    reopen_count: i32,
    escalation_level: i32,
    response_due_at: Option<DateTime<Utc>>,
    resolution_due_at: Option<DateTime<Utc>>,
    next_due_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    accepted_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    loaner: Option<String>,
    loaner_issued_at: Option<DateTime<Utc>>,
    loaner_returned_at: Option<DateTime<Utc>>,
    remote_consent: Option<String>,
    channel: String,
    received_at: Option<DateTime<Utc>>,
    version: i64,
}

impl TryFrom<TicketRow> for Ticket {
    type Error = StoreError;
    fn try_from(r: TicketRow) -> Result<Ticket, StoreError> {
        let number =
            TicketNumber::parse(&r.number).ok_or_else(|| corrupt("ticket number", &r.number))?;
        let count = |what: &str, n: i32| u32::try_from(n).map_err(|e| corrupt(what, e));
        Ok(Ticket {
            id: TicketId(r.id),
            number,
            reporter: ReporterId(r.reporter_id),
            intake: Intake {
                kind: serde_enum("kind", &r.kind)?,
                // Empty once the reporter's data was erased (store/erasure.rs).
                reporter_name: if r.reporter_name.is_empty() {
                    PersonName::erased()
                } else {
                    text("reporter name", PersonName::parse, &r.reporter_name)?
                },
                department: text("department", Department::parse, &r.department)?,
                phone: if r.phone.is_empty() {
                    Phone::erased()
                } else {
                    text("phone", Phone::parse, &r.phone)?
                },
                location: Location {
                    site: text("site", Place::parse, &r.site)?,
                    building: text_opt("building", Place::parse, r.building)?,
                    room: text_opt("room", Place::parse, r.room)?,
                },
                device: Device {
                    asset_tag: text_opt("asset tag", AssetTag::parse, r.asset_tag)?,
                    model: text_opt("device model", Place::parse, r.device_model)?,
                    ip: parse_opt("ip", r.ip)?,
                },
                category: r.category,
                description: text("description", Description::parse, &r.description)?,
                started_at: r.started_at,
                people_affected: count("people affected", r.people_affected)?,
                photos: serde_json::from_str(&r.photos).map_err(|e| corrupt("photos", e))?,
                channel: parse("channel", &r.channel)?,
                received_at: r.received_at,
            },
            vip: r.vip,
            impact: serde_enum("impact", &r.impact)?,
            urgency: serde_enum("urgency", &r.urgency)?,
            priority: parse("priority", &r.priority)?,
            status: parse("status", &r.status)?,
            group: r.group_id,
            tier: parse("tier", &r.tier)?,
            assignee: r.assignee_id.map(EngineerId),
            offered_to: r.offered_to.map(EngineerId),
            work_mode: parse_opt("work mode", r.work_mode)?,
            arrived_at: r.arrived_at,
            pending_reason: parse_opt("pending reason", r.pending_reason)?,
            cause: text_opt("cause", Note::parse, r.cause)?,
            solution: text_opt("solution", Note::parse, r.solution)?,
            closure: parse_opt("closure", r.closure)?,
            reopen_count: count("reopen count", r.reopen_count)?,
            escalation_level: count("escalation level", r.escalation_level)?,
            response_due_at: r.response_due_at,
            resolution_due_at: r.resolution_due_at,
            next_due_at: r.next_due_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            accepted_at: r.accepted_at,
            resolved_at: r.resolved_at,
            closed_at: r.closed_at,
            loaner: text_opt("loaner", Note::parse, r.loaner)?,
            loaner_issued_at: r.loaner_issued_at,
            loaner_returned_at: r.loaner_returned_at,
            remote_consent: parse_opt("remote consent", r.remote_consent)?,
            version: r.version,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct EngineerRow {
    id: i64,
    handle: String,
    name: String,
    group_id: String,
    tier: String,
    on_duty: bool,
    telegram_id: Option<String>,
    discord_id: Option<String>,
    web_id: Option<String>,
    wecom_id: Option<String>,
}

impl TryFrom<EngineerRow> for Engineer {
    type Error = StoreError;
    fn try_from(r: EngineerRow) -> Result<Engineer, StoreError> {
        Ok(Engineer {
            id: EngineerId(r.id),
            handle: r.handle,
            name: r.name,
            group: r.group_id,
            tier: parse("tier", &r.tier)?,
            on_duty: r.on_duty,
            telegram_id: r.telegram_id,
            discord_id: r.discord_id,
            web_id: r.web_id,
            wecom_id: r.wecom_id,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct RosterRow {
    #[sqlx(flatten)]
    engineer: EngineerRow,
    open_jobs: i64,
}

impl RosterRow {
    pub(super) fn split(self) -> Result<(Engineer, u32), StoreError> {
        Ok((
            self.engineer.try_into()?,
            u32::try_from(self.open_jobs).unwrap_or(u32::MAX),
        ))
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ReporterRow {
    id: i64,
    name: String,
    department: Option<String>,
    phone: Option<String>,
    vip: bool,
    language: Option<String>,
}

impl From<ReporterRow> for Reporter {
    fn from(r: ReporterRow) -> Reporter {
        Reporter {
            id: ReporterId(r.id),
            name: r.name,
            department: r.department,
            phone: r.phone,
            vip: r.vip,
            language: r.language,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ReporterConversationRow {
    #[sqlx(flatten)]
    reporter: ReporterRow,
    conversation: Option<String>,
    conversation_at: Option<DateTime<Utc>>,
    conversation_version: Option<i64>,
    engineer: bool,
}

impl ReporterConversationRow {
    pub(super) fn split(self) -> (Reporter, Option<super::StoredConversation>, bool) {
        let stored = match (
            self.conversation,
            self.conversation_at,
            self.conversation_version,
        ) {
            (Some(state), Some(at), Some(version)) => {
                Some(super::StoredConversation { state, at, version })
            }
            _ => None,
        };
        (self.reporter.into(), stored, self.engineer)
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: i64,
    at: DateTime<Utc>,
    actor_kind: String,
    actor_id: Option<String>,
    actor_name: String,
    action: String,
    from_status: Option<String>,
    to_status: String,
    note: Option<String>,
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<AuditEvent, StoreError> {
        let kind = ["reporter", "engineer", "desk", "system"]
            .into_iter()
            .find(|k| *k == r.actor_kind)
            .ok_or_else(|| corrupt("actor kind", &r.actor_kind))?;
        Ok(AuditEvent {
            id: r.id,
            at: r.at,
            actor: Actor {
                kind,
                id: r.actor_id,
                name: r.actor_name,
            },
            action: r.action,
            from: r.from_status,
            to: r.to_status,
            note: r.note,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct OutboxRow {
    id: i64,
    ticket_id: Option<i64>,
    recipient_kind: String,
    recipient_id: i64,
    event: String,
    payload: String,
    status: String,
    attempts: i32,
    created_at: DateTime<Utc>,
    next_attempt_at: DateTime<Utc>,
    channel: Option<String>,
    last_error: Option<String>,
}

impl TryFrom<OutboxRow> for OutboxMessage {
    type Error = StoreError;
    fn try_from(r: OutboxRow) -> Result<OutboxMessage, StoreError> {
        let to = match r.recipient_kind.as_str() {
            "reporter" => Recipient::Reporter(ReporterId(r.recipient_id)),
            "engineer" => Recipient::Engineer(EngineerId(r.recipient_id)),
            other => return Err(corrupt("recipient kind", other)),
        };
        Ok(OutboxMessage {
            id: r.id,
            ticket_id: r.ticket_id.map(TicketId),
            to,
            event: r.event,
            payload: serde_json::from_str(&r.payload).map_err(|e| corrupt("payload", e))?,
            status: r.status,
            attempts: r.attempts,
            created_at: r.created_at,
            next_attempt_at: r.next_attempt_at,
            channel: r.channel,
            last_error: r.last_error,
        })
    }
}

impl Recipient {
    /// Storage form: kind and id.
    pub fn parts(self) -> (&'static str, i64) {
        match self {
            Recipient::Reporter(id) => ("reporter", id.0),
            Recipient::Engineer(id) => ("engineer", id.0),
        }
    }
}

impl ReporterRow {
    /// The new row's id (needed to link the identity before conversion).
    pub(super) fn id(&self) -> i64 {
        self.id
    }
}

/// One row of `sla_clocks`.
#[derive(sqlx::FromRow)]
pub(super) struct ClockRow {
    kind: String,
    status: String,
    open: bool,
    budget_secs: i64,
    used_secs: i64,
    since: Option<DateTime<Utc>>,
    due_at: Option<DateTime<Utc>>,
    warned: bool,
    breaches: i32,
    steps: i32,
    next_at: Option<DateTime<Utc>>,
}

impl TryFrom<ClockRow> for SlaClock {
    type Error = StoreError;
    fn try_from(r: ClockRow) -> Result<SlaClock, StoreError> {
        Ok(SlaClock {
            kind: parse::<ClockKind>("clock kind", &r.kind)?,
            status: parse::<ClockStatus>("clock status", &r.status)?,
            open: r.open,
            budget: chrono::Duration::seconds(r.budget_secs),
            used: chrono::Duration::seconds(r.used_secs),
            since: r.since,
            due_at: r.due_at,
            warned: r.warned,
            breaches: u32::try_from(r.breaches).map_err(|e| corrupt("breaches", e))?,
            steps: u32::try_from(r.steps).map_err(|e| corrupt("steps", e))?,
            next_at: r.next_at,
        })
    }
}

/// A clock row with its ticket id (reports read many tickets' clocks at once).
#[derive(sqlx::FromRow)]
pub(super) struct ClockRowWithTicket {
    ticket_id: i64,
    #[sqlx(flatten)]
    clock: ClockRow,
}

impl ClockRowWithTicket {
    pub(super) fn split(self) -> (i64, ClockRow) {
        (self.ticket_id, self.clock)
    }
}
