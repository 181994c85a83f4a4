//! From a conversation's results to the desk's inputs: a finished fault report becomes a
//! [`ReportForm`], a job action becomes a ticket [`Action`]. The option ids interpreted here
//! are the contract with `bot-flows/fault_report.toml`; the loader refuses files that use
//! others.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::{DETAILS, JobActionKind, PHOTOS};
use crate::domain::asset::{normalise_ip, normalise_tag};
use crate::domain::intake::{AssetTag, Description, InputError, Note};
use crate::domain::priority::{Impact, Urgency};
use crate::domain::report_form::ReportForm;
use crate::domain::ticket::{Action, WorkMode};

/// Answers `fault_report` must collect.
pub(crate) const REQUIRED: [&str; 3] = ["category", "site", "description"];
/// Option ids of `started`.
pub(crate) const STARTED: &[&str] = &["just_now", "within_hour", "earlier_today", "before_today"];
/// Option ids of `people` (besides a typed number).
pub(crate) const PEOPLE: &[&str] = &["one", "several", "everyone"];
/// Option ids of `urgency`.
pub(crate) const URGENCY: &[&str] = &["stopped", "degraded", "can_wait"];

/// Maps the answers of a submitted `fault_report` to the desk's form.
///
/// - `category`, `site`, `building`, `room`, `department`, `phone`, `device_model`: as
///   given (skipped = absent).
/// - `device`: an IP address if it parses as one, otherwise an asset tag (both normalised:
///   case, full-width characters, spaces); a value that is neither is kept in the
///   description rather than lost.
/// - `description`: the reporter's text, then the category follow-ups and other detail
///   lines (`details`), capped at the desk's limit.
/// - `started`: `just_now` = now, `within_hour` = 30 min ago, `earlier_today` = 3 h ago,
///   `before_today` = 24 h ago (the midpoint or bound the reporter meant; the exact choice
///   is also in the details).
/// - `people`: a number sets people affected (the desk derives the impact); `one` = 1 and
///   impact one, `several` = impact some, `everyone` = impact everyone.
/// - `urgency`: `stopped` = high, `degraded` = medium, `can_wait` = low.
/// - `photos`: one reference per line.
pub fn report_form(answers: &BTreeMap<String, String>, now: DateTime<Utc>) -> ReportForm {
    let get = |k: &str| {
        answers
            .get(k)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let mut extra = Vec::new();
    let (mut asset_tag, mut ip) = (None, None);
    if let Some(device) = get("device") {
        // Typed tags and IPs are normalised (case, full-width characters, spaces) so they
        // match the asset register.
        if let Some(addr) = normalise_ip(&device) {
            ip = Some(addr.to_string());
        } else if let Ok(tag) = AssetTag::parse(&normalise_tag(&device)) {
            asset_tag = Some(tag.as_str().to_owned());
        } else {
            extra.push(device);
        }
    }
    let started_at = get("started").and_then(|s| {
        let ago = match s.as_str() {
            "just_now" => Duration::zero(),
            "within_hour" => Duration::minutes(30),
            "earlier_today" => Duration::hours(3),
            "before_today" => Duration::hours(24),
            _ => return None,
        };
        Some(now - ago)
    });
    let (people_affected, impact) = match get("people").as_deref() {
        Some("one") => (Some(1), Some(Impact::One)),
        Some("several") => (None, Some(Impact::Some)),
        Some("everyone") => (None, Some(Impact::Everyone)),
        Some(n) => (n.parse::<u32>().ok().filter(|n| *n >= 1), None),
        None => (None, None),
    };
    let urgency = match get("urgency").as_deref() {
        Some("stopped") => Some(Urgency::High),
        Some("degraded") => Some(Urgency::Medium),
        Some("can_wait") => Some(Urgency::Low),
        _ => None,
    };
    let mut description = get("description").unwrap_or_default();
    if let Some(details) = get(DETAILS) {
        extra.insert(0, details);
    }
    if !extra.is_empty() {
        description = format!("{description}\n\n{}", extra.join("\n"));
    }
    if description.chars().count() > Description::MAX {
        description = description.chars().take(Description::MAX).collect();
    }
    ReportForm {
        kind: None,
        reporter_name: None,
        department: get("department"),
        phone: get("phone"),
        site: get("site").unwrap_or_default(),
        building: get("building"),
        room: get("room"),
        asset_tag,
        device_model: get("device_model"),
        ip,
        category: get("category").unwrap_or_default(),
        description,
        started_at,
        people_affected,
        impact,
        urgency,
        photos: answers
            .get(PHOTOS)
            .map(|p| {
                p.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        // The door sets it (the conversation knows which door the reporter is on).
        channel: None,
        received_at: None,
    }
}

/// The ticket action for a job action; `Decline` changes nothing on the ticket (`None`:
/// the caller just stops offering the card to that engineer). Notes are checked as the
/// domain checks them.
pub fn to_ticket_action(kind: &JobActionKind) -> Result<Option<Action>, InputError> {
    Ok(Some(match kind {
        JobActionKind::Accept => Action::Accept,
        JobActionKind::Decline => return Ok(None),
        JobActionKind::StartRemote => Action::StartWork(WorkMode::Remote),
        JobActionKind::OnMyWay => Action::StartWork(WorkMode::OnSite),
        JobActionKind::Arrived => Action::Arrive,
        JobActionKind::Progress { note } => Action::Progress(Note::parse(note)?),
        JobActionKind::NeedParts { reason, note } => Action::Pend(*reason, Note::parse(note)?),
        JobActionKind::Resolve { cause, solution } => Action::Resolve {
            cause: Note::parse(cause)?,
            solution: Note::parse(solution)?,
        },
    }))
}
