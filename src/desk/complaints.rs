//! Complaints as records: filed by a reporter (`/complain` in any chat, the REST API, or
//! a survey answer), owned by the on-call manager, due within `[complaints]
//! respond_within` (plan 004: a complaint is urgent), escalated to every manager when
//! that runs out, and closed with an outcome told to the complainant. The text is for
//! managers only: it lives in the complaint's own trail, never in the ticket's.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::{Desk, DeskError, managers, notice_payload};
use crate::domain::complaint::{ComplaintFact, ComplaintFigures, ComplaintStatus, owner};
use crate::domain::intake::Note;
use crate::domain::routing::Engineer;
use crate::domain::ticket::{Caller, Ticket};
use crate::store::{
    Actor, Complaint, ComplaintEvent, NewComplaint, NewComplaintEvent, NewOutboxMessage, Recipient,
    Reporter, StoreError,
};

/// Overdue complaints handled per query.
const BATCH: i64 = 100;
/// The most complaints one listing returns.
const MAX_PAGE: i64 = 200;

/// A complaint with its trail, as managers see it.
#[derive(Debug, Clone, Serialize)]
pub struct ComplaintDetail {
    /// The complaint.
    pub complaint: Complaint,
    /// Its trail, oldest first.
    pub events: Vec<ComplaintEvent>,
}

/// A complaint about to be filed: the record, its first event, the owner's message.
pub(super) type Filing = (NewComplaint, NewComplaintEvent, Vec<NewOutboxMessage>);

/// Who acts on a complaint, as its trail records them.
fn actor(caller: &Caller, reporter: Option<&Reporter>) -> Actor {
    super::actor_named(caller, |id| {
        reporter.map_or_else(|| format!("reporter {id}"), |r| r.name.clone())
    })
}

/// What a message about a complaint needs: its id (filled in when it is stored), the
/// ticket's placeholders if it concerns one, the text and when its answer is due.
fn payload(c_ticket: Option<&Ticket>, text: &str, due_at: DateTime<Utc>) -> serde_json::Value {
    let mut p = c_ticket.map_or_else(|| json!({}), |t| notice_payload(t, None, None));
    p["complaint"] = json!(0);
    p["note"] = json!(text);
    p["due_at"] = json!(due_at);
    p
}

fn managers_only(caller: &Caller) -> Result<(), DeskError> {
    if caller.is_manager() {
        Ok(())
    } else {
        Err(DeskError::Forbidden(
            "only managers can read or answer complaints".into(),
        ))
    }
}

impl Desk {
    /// The record of a complaint `who` files now about `ticket` (or the service), owned by
    /// whoever is on call (else the first manager), with the owner's message `event`.
    pub(super) fn complaint_filing(
        &self,
        who: &Reporter,
        ticket: Option<&Ticket>,
        text: &str,
        channel: &str,
        engineers: &[Engineer],
        event: &str,
    ) -> Filing {
        let now = self.now();
        let due_at = now + self.policy.complaint_response;
        let owner = owner(&self.policy.on_call.at(now), engineers);
        let new = NewComplaint {
            ticket: ticket.map(|t| t.id),
            reporter: who.id,
            department: ticket
                .map(|t| t.intake.department.to_string())
                .or_else(|| who.department.clone()),
            text: text.to_owned(),
            channel: channel.to_owned(),
            created_at: now,
            owner: owner.map(|e| e.id),
            due_at,
        };
        let filed = NewComplaintEvent {
            actor: actor(&Caller::Reporter(who.id), Some(who)),
            at: now,
            action: "filed",
            from: None,
            to: ComplaintStatus::Open.as_str(),
            note: None,
        };
        let outbox = owner
            .map(|e| NewOutboxMessage {
                to: Recipient::Engineer(e.id),
                event: event.into(),
                payload: payload(ticket, text, due_at),
                not_before: None,
            })
            .into_iter()
            .collect();
        (new, filed, outbox)
    }

    /// Files a reporter's complaint about one of their tickets (by number) or about the
    /// service in general, from the door `channel`. Reporters only, for themselves.
    pub async fn complain(
        &self,
        caller: &Caller,
        ticket: Option<&str>,
        text: &str,
        channel: &str,
    ) -> Result<Complaint, DeskError> {
        let Caller::Reporter(reporter) = caller else {
            return Err(DeskError::Forbidden(
                "a complaint is filed by the reporter who makes it".into(),
            ));
        };
        let text = Note::parse(text.trim()).map_err(|e| DeskError::BadValue(e.to_string()))?;
        let ticket = match ticket.map(str::trim).filter(|n| !n.is_empty()) {
            Some(number) => Some(self.look_up(caller, number).await?),
            None => None,
        };
        let who = self
            .store
            .reporter(*reporter)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("reporter {reporter}")))?;
        let engineers = self.store.engineers().await?;
        let (new, filed, outbox) = self.complaint_filing(
            &who,
            ticket.as_ref(),
            text.as_str(),
            channel,
            &engineers,
            "complaint_received",
        );
        let id = self.store.insert_complaint(&new, &filed, &outbox).await?;
        self.signal.notify_one();
        self.store
            .complaint(id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("complaint {id}")))
    }

    /// Complaints, newest first, in a status or all (managers only).
    pub async fn complaints(
        &self,
        caller: &Caller,
        status: Option<ComplaintStatus>,
        page: i64,
        per_page: i64,
    ) -> Result<Vec<Complaint>, DeskError> {
        managers_only(caller)?;
        let per_page = per_page.clamp(1, MAX_PAGE);
        let offset = (page.max(1) - 1).saturating_mul(per_page);
        Ok(self
            .store
            .complaints(status.map(ComplaintStatus::as_str), per_page, offset)
            .await?)
    }

    /// One complaint with its trail (managers only).
    pub async fn complaint(&self, caller: &Caller, id: i64) -> Result<ComplaintDetail, DeskError> {
        managers_only(caller)?;
        let complaint = self
            .store
            .complaint(id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("complaint {id}")))?;
        let events = self.store.complaint_events(id).await?;
        Ok(ComplaintDetail { complaint, events })
    }

    /// Records a complaint's outcome and tells the complainant (managers only): an open
    /// complaint becomes `answered` (or `closed` with `close`); an answered one may be
    /// closed with a last word.
    pub async fn answer_complaint(
        &self,
        caller: &Caller,
        id: i64,
        outcome: &str,
        close: bool,
    ) -> Result<ComplaintDetail, DeskError> {
        managers_only(caller)?;
        let outcome =
            Note::parse(outcome.trim()).map_err(|e| DeskError::BadValue(e.to_string()))?;
        let c = self.complaint(caller, id).await?.complaint;
        let from: ComplaintStatus = c.status.parse().map_err(|e: String| {
            DeskError::Store(StoreError::Corrupt(format!("complaint {id}: {e}")))
        })?;
        let to = if close {
            ComplaintStatus::Closed
        } else {
            ComplaintStatus::Answered
        };
        let to = from
            .answer(to)
            .map_err(|e| DeskError::BadValue(e.to_string()))?;
        let now = self.now();
        let event = NewComplaintEvent {
            actor: actor(caller, None),
            at: now,
            action: if close { "closed" } else { "answered" },
            from: Some(from.as_str()),
            to: to.as_str(),
            note: Some(outcome.to_string()),
        };
        let mut p = json!({ "complaint": c.id, "note": outcome.as_str() });
        if let Some(number) = &c.ticket {
            p["ticket"] = json!(number);
        }
        let told = NewOutboxMessage {
            to: Recipient::Reporter(crate::domain::ReporterId(c.reporter_id)),
            event: "complaint_outcome".into(),
            payload: p,
            not_before: None,
        };
        match self
            .store
            .answer_complaint(id, outcome.as_str(), &event, std::slice::from_ref(&told))
            .await
        {
            Ok(()) => {
                self.signal.notify_one();
                self.complaint(caller, id).await
            }
            Err(StoreError::Conflict) => Err(DeskError::Busy),
            Err(e) => Err(e.into()),
        }
    }

    /// Tells every manager (and an owner on call who is not one) of each open complaint
    /// whose response time ran out, once; how many were escalated.
    pub async fn escalate_overdue_complaints(&self) -> Result<u32, DeskError> {
        let now = self.now();
        let mut escalated = 0;
        loop {
            let due = self.store.overdue_complaints(now, BATCH).await?;
            if due.is_empty() {
                return Ok(escalated);
            }
            let engineers = self.store.engineers().await?;
            let to: Vec<_> = managers(&engineers).map(|e| e.id).collect();
            for c in &due {
                let mut to = to.clone();
                if let Some(o) = c.owner_id.map(crate::domain::EngineerId)
                    && !to.contains(&o)
                {
                    to.push(o);
                }
                let mut p = json!({
                    "complaint": c.id,
                    "note": c.text,
                    "due_at": c.due_at,
                });
                if let Some(number) = &c.ticket {
                    p["ticket"] = json!(number);
                }
                let outbox: Vec<NewOutboxMessage> = to
                    .iter()
                    .map(|e| NewOutboxMessage {
                        to: Recipient::Engineer(*e),
                        event: "complaint_overdue".into(),
                        payload: p.clone(),
                        not_before: None,
                    })
                    .collect();
                let event = NewComplaintEvent {
                    actor: actor(&Caller::System, None),
                    at: now,
                    action: "escalated",
                    from: Some(ComplaintStatus::Open.as_str()),
                    to: ComplaintStatus::Open.as_str(),
                    note: None,
                };
                if self.store.escalate_complaint(c.id, &event, &outbox).await? {
                    escalated += 1;
                    self.signal.notify_one();
                }
            }
            if (due.len() as i64) < BATCH {
                return Ok(escalated);
            }
        }
    }

    /// The complaint figures of complaints filed in `[from, to)`.
    pub(super) async fn complaint_figures(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<ComplaintFigures, DeskError> {
        let facts = self
            .store
            .complaint_facts(from, to)
            .await?
            .into_iter()
            .map(|(created_at, answered_at, status, department)| {
                Ok(ComplaintFact {
                    created_at,
                    answered_at,
                    status: status.parse().map_err(|e: String| {
                        DeskError::Store(StoreError::Corrupt(format!("complaint status: {e}")))
                    })?,
                    department: department.unwrap_or_else(|| "-".into()),
                })
            })
            .collect::<Result<Vec<_>, DeskError>>()?;
        Ok(ComplaintFigures::of(&facts, self.policy.complaint_response))
    }
}
