//! An engineer's jobs in chat: a job card (the `engineer_job` flow for one ticket) and
//! the actions taken on it, each a desk call.

use super::{Chat, ChatError, Person, payload_vars};
use crate::desk::{DeskError, notice_payload};
use crate::domain::routing::Engineer;
use crate::domain::ticket::{Caller, RemoteConsent};
use crate::flow::{Conversation, JobActionKind, Lang, Outgoing, to_ticket_action};

/// A job card as the engineer's conversation with its first replies, or the refusal to
/// show instead.
pub(super) type Card = Result<(Conversation, Vec<Outgoing>), Vec<Outgoing>>;

impl Chat {
    /// `/job NUMBER`: opens a job card for an engineer as their conversation.
    pub(super) async fn open_job(
        &self,
        person: &Person,
        e: &Engineer,
        number: &str,
        lang: Lang,
    ) -> Result<Vec<Outgoing>, ChatError> {
        match self.job_card(e, number, lang).await? {
            Ok((conv, mut card)) => {
                self.save(person, Some(&conv), None).await?;
                card.extend(self.kb_related(e, number, lang).await);
                Ok(card)
            }
            Err(refusal) => Ok(refusal),
        }
    }

    /// A job card conversation for a ticket the engineer may see, or the refusal to show.
    pub(super) async fn job_card(
        &self,
        e: &Engineer,
        number: &str,
        lang: Lang,
    ) -> Result<Card, ChatError> {
        let caller = Caller::Engineer(e.clone());
        let ticket = match self.desk.look_up(&caller, number).await {
            Ok(t) => t,
            Err(e @ DeskError::NotFound(_)) => {
                return Ok(Err(vec![Outgoing::Text(self.refusal(&e, number, lang))]));
            }
            Err(other) => return Err(other.into()),
        };
        let known = payload_vars(&notice_payload(&ticket, None, None));
        let history = self.recent_faults(&ticket, lang).await?;
        self.flows
            .start("engineer_job", lang, &known)
            .map(|(conv, mut card)| {
                card.extend(history);
                Ok((conv, card))
            })
            .map_err(|e| ChatError::State(e.to_string()))
    }

    /// The device's last three faults before this ticket (issue 20: the job card shows
    /// them), when the ticket names a device that has any.
    async fn recent_faults(
        &self,
        ticket: &crate::domain::ticket::Ticket,
        lang: Lang,
    ) -> Result<Option<Outgoing>, ChatError> {
        let Some(tag) = &ticket.intake.device.asset_tag else {
            return Ok(None);
        };
        let tz = self.desk.policy().calendar.time_zone();
        let lines: Vec<String> = self
            .desk
            .recent_faults(tag.as_str(), 4)
            .await?
            .into_iter()
            .filter(|f| f.ticket != ticket.number.as_str())
            .take(3)
            .map(|f| {
                let day = f.reported_at.with_timezone(&tz).format("%Y-%m-%d");
                let summary: String = f
                    .summary
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(40)
                    .collect();
                match f.solution {
                    Some(done) => format!(
                        "· {} {day} {summary} → {}",
                        f.ticket,
                        done.chars().take(40).collect::<String>()
                    ),
                    None => format!("· {} {day} {summary}", f.ticket),
                }
            })
            .collect();
        if lines.is_empty() {
            return Ok(None);
        }
        let vars = serde_json::json!({ "note": tag.as_str(), "summary": lines.join("\n") });
        Ok(Some(Outgoing::Text(self.flows.text(
            "asset_recent_faults",
            lang,
            &vars,
        ))))
    }

    /// An action taken on a job card, as a desk call; the ticket's new status, or why not.
    pub(super) async fn job_action(
        &self,
        e: &Engineer,
        ticket: &str,
        kind: &JobActionKind,
        lang: Lang,
    ) -> Vec<Outgoing> {
        let action = match to_ticket_action(kind) {
            Ok(Some(a)) => a,
            Ok(None) => return vec![],
            Err(problem) => return vec![Outgoing::Text(problem.to_string())],
        };
        let text = match self
            .desk
            .act(&Caller::Engineer(e.clone()), ticket, action)
            .await
        {
            // Remote work waits for the reporter's consent: say so, not just the status.
            Ok(t) if t.remote_consent == Some(RemoteConsent::Asked) => {
                let vars = serde_json::json!({ "ticket": t.number.as_str() });
                self.flows.text("remote_consent_waiting", lang, &vars)
            }
            Ok(t) => {
                let payload = notice_payload(&t, Some(e.name.clone()), None);
                self.flows.text("status_line", lang, &payload)
            }
            Err(refusal) => self.refusal(&refusal, ticket, lang),
        };
        vec![Outgoing::Text(text)]
    }
}
