//! Satisfaction surveys: scheduled when a ticket closes (the day after its resolution, or
//! the next working day, at the configured time, sampled), sent by the scheduler, answered
//! once by the reporter.

use chrono::{DateTime, Utc};

use super::{Desk, DeskError, actor, managers, notice_payload};
use crate::domain::TicketId;
use crate::domain::intake::Note;
use crate::domain::ticket::{Caller, Status, Ticket};
use crate::store::{
    NewAuditEvent, NewOutboxMessage, NewSurvey, Recipient, StoreError, Survey, SurveyAnswer,
};

/// Surveys handled per query.
const BATCH: i64 = 100;

/// Why a ticket's survey cannot be answered at `now`; `None` if it can.
fn refusal(survey: Option<&Survey>, now: DateTime<Utc>) -> Option<SurveyRefusal> {
    match survey {
        Some(s) if s.status == "sent" && s.expires_at > now => None,
        Some(s) if s.status == "answered" => Some(SurveyRefusal::Answered),
        Some(s) if s.status == "expired" || s.status == "sent" => Some(SurveyRefusal::Expired),
        _ => Some(SurveyRefusal::NotOpen),
    }
}

/// Why a survey answer was not taken (nothing changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SurveyRefusal {
    /// There is no open survey for this ticket (not closed, not sampled, not sent yet).
    #[error("there is no survey open for this ticket")]
    NotOpen,
    /// Already answered.
    #[error("this survey has already been answered; thank you")]
    Answered,
    /// Past its validity.
    #[error("this survey has expired")]
    Expired,
}

/// A reporter's survey answer, before checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyReply {
    /// 1–5, or none with a complaint.
    pub rating: Option<u8>,
    /// Comment (required at 1–2) or the complaint's text.
    pub comment: Option<String>,
    /// File a complaint (routed to the managers).
    pub complaint: bool,
}

impl Desk {
    /// The survey a closure at `now` schedules: sampled deterministically by ticket id.
    pub(super) fn survey_for(&self, t: &Ticket, now: DateTime<Utc>) -> NewSurvey {
        let s = &self.policy.survey;
        let send_at = s.send_at(
            &self.policy.wall,
            &self.policy.manager_hours,
            t.resolved_at.unwrap_or(now),
            now,
        );
        // Multiplicative hashing spreads consecutive ids evenly over the sample.
        let bucket = (t.id.0.unsigned_abs().wrapping_mul(2_654_435_761) % 10_000) as f64;
        NewSurvey {
            status: if bucket < s.sample_rate * 10_000.0 {
                "scheduled"
            } else {
                "skipped"
            },
            send_at,
            expires_at: send_at + s.valid_for,
        }
    }

    /// The ticket, if the caller can confirm (or reject) its fix now; if not, why: the
    /// domain's own rule for confirming.
    pub async fn confirmation_open(
        &self,
        caller: &Caller,
        number: &str,
    ) -> Result<Ticket, DeskError> {
        let t = self.look_up(caller, number).await?;
        t.apply(caller, crate::domain::ticket::Action::Confirm, self.now())
            .map_err(DeskError::Ticket)?;
        Ok(t)
    }

    /// The ticket, if the caller can answer "may the engineer work remotely?" now; if
    /// not, why.
    pub async fn remote_consent_open(
        &self,
        caller: &Caller,
        number: &str,
    ) -> Result<Ticket, DeskError> {
        let t = self.look_up(caller, number).await?;
        t.apply(
            caller,
            crate::domain::ticket::Action::AnswerRemoteConsent(false),
            self.now(),
        )
        .map_err(DeskError::Ticket)?;
        Ok(t)
    }

    /// The ticket, if the caller can answer its survey now; if not, why.
    pub async fn survey_open(&self, caller: &Caller, number: &str) -> Result<Ticket, DeskError> {
        let t = self.look_up(caller, number).await?;
        let survey = self.store.survey(t.id).await?;
        match refusal(survey.as_ref(), self.now()) {
            None => Ok(t),
            Some(r) => Err(DeskError::Survey(r)),
        }
    }

    /// Expires the surveys past their validity and sends those due; how many were sent.
    pub async fn send_due_surveys(&self) -> Result<u32, DeskError> {
        let now = self.now();
        self.store.expire_surveys(now).await?;
        let mut sent = 0;
        loop {
            let due = self.store.due_surveys(now, BATCH).await?;
            for id in &due {
                if self.send_survey(*id).await? {
                    sent += 1;
                }
            }
            if (due.len() as i64) < BATCH {
                return Ok(sent);
            }
        }
    }

    /// Sends the survey of a ticket if it is due and not sent yet (once, however many
    /// schedulers race). Returns whether it was sent now.
    pub async fn send_survey(&self, id: TicketId) -> Result<bool, DeskError> {
        let Some(t) = self.store.ticket(id).await? else {
            return Ok(false);
        };
        let now = self.now();
        let audit = NewAuditEvent {
            actor: actor(&Caller::System, &t),
            at: now,
            action: "survey_sent".into(),
            from: Some(t.status),
            to: t.status,
            note: None,
        };
        let message = NewOutboxMessage {
            to: Recipient::Reporter(t.reporter),
            event: "survey_request".into(),
            payload: notice_payload(&t, None, None),
            not_before: None,
        };
        let sent = self.store.send_survey(id, now, &audit, &message).await?;
        if sent {
            self.signal.notify_one();
        }
        Ok(sent)
    }

    /// Records a reporter's answer to their ticket's survey. A rating of 1–2 needs a
    /// comment; a complaint needs its text and is sent to the managers.
    pub async fn answer_survey(
        &self,
        caller: &Caller,
        number: &str,
        reply: SurveyReply,
    ) -> Result<(), DeskError> {
        let Caller::Reporter(reporter) = caller else {
            return Err(DeskError::Forbidden(
                "only the reporter can answer their survey".into(),
            ));
        };
        let t = self.look_up(caller, number).await?;
        if t.status != Status::Closed {
            return Err(DeskError::Survey(SurveyRefusal::NotOpen));
        }
        let comment = reply
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| Note::parse(c).map_err(|e| DeskError::BadValue(e.to_string())))
            .transpose()?;
        match (reply.rating, reply.complaint, &comment) {
            (Some(r), false, _) if !(1..=5).contains(&r) => {
                return Err(DeskError::BadValue("a rating is 1 to 5".into()));
            }
            (Some(1 | 2), _, None) => {
                return Err(DeskError::BadValue(
                    "please say why when rating 1 or 2".into(),
                ));
            }
            (_, true, None) => {
                return Err(DeskError::BadValue("a complaint needs its text".into()));
            }
            (None, false, _) => {
                return Err(DeskError::BadValue("a rating is 1 to 5".into()));
            }
            _ => {}
        }
        let now = self.now();
        let comment = comment.map(|c| c.to_string());
        let note = match (reply.rating, &comment) {
            (Some(r), Some(c)) => format!("rating {r}: {c}"),
            (Some(r), None) => format!("rating {r}"),
            (None, Some(c)) => c.clone(),
            (None, None) => String::new(),
        };
        let audit = NewAuditEvent {
            actor: actor(caller, &t),
            at: now,
            action: if reply.complaint {
                "complaint"
            } else {
                "survey_answered"
            }
            .into(),
            from: Some(t.status),
            to: t.status,
            note: Some(note),
        };
        let mut outbox = Vec::new();
        let mut record = None;
        if reply.complaint {
            let mut payload = notice_payload(&t, None, comment.clone());
            payload["rating"] = serde_json::json!(reply.rating);
            // The store puts the complaint record's id here.
            payload["complaint"] = serde_json::json!(0);
            let engineers = self.store.engineers().await?;
            let who = self
                .store
                .reporter(*reporter)
                .await?
                .ok_or_else(|| DeskError::NotFound(format!("reporter {reporter}")))?;
            // The managers hear of it below (`complaint_filed`), so the record's own
            // message to its owner is not sent twice.
            let (new, filed, _) = self.complaint_filing(
                &who,
                Some(&t),
                comment.as_deref().unwrap_or_default(),
                "survey",
                &engineers,
                "complaint_received",
            );
            record = Some((new, filed));
            for e in managers(&engineers) {
                outbox.push(NewOutboxMessage {
                    to: Recipient::Engineer(e.id),
                    event: "complaint_filed".into(),
                    payload: payload.clone(),
                    not_before: None,
                });
            }
        }
        let answer = SurveyAnswer {
            reporter: *reporter,
            at: now,
            rating: reply.rating.map(i32::from),
            comment,
            complaint: reply.complaint,
            record,
        };
        match self
            .store
            .answer_survey(t.id, &answer, &audit, &outbox)
            .await
        {
            Ok(()) => {
                self.signal.notify_one();
                Ok(())
            }
            Err(StoreError::Conflict) => {
                let survey = self.store.survey(t.id).await?;
                let refusal = refusal(survey.as_ref(), now).unwrap_or(SurveyRefusal::NotOpen);
                Err(DeskError::Survey(refusal))
            }
            Err(e) => Err(e.into()),
        }
    }
}
