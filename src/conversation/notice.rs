//! Outbox messages as a person sees them: which door reaches the recipient, in which
//! language, and what to show (a job offer carries the job card's buttons). The
//! conversation service is the outbox's [`Render`] port.

use super::{Chat, ChatError, payload_vars};
use crate::desk::{Expect, OutboxMessage, Recipient, StoreError};
use crate::flow::{Lang, Outgoing};
use crate::outbox::{Address, Parcel, Render, RenderError, Rendering};

/// Doors that can push a message, most preferred first (the terminal cannot).
const PUSH_DOORS: [&str; 4] = ["telegram", "discord", "web", "wecom"];

impl Render for Chat {
    fn render<'a>(&'a self, m: &'a OutboxMessage) -> Rendering<'a> {
        Box::pin(async move { self.parcel(m).await.map_err(|e| RenderError(e.to_string())) })
    }
}

impl Chat {
    /// Renders an outbox message for its recipient, or `None` when they have no chat that
    /// can be reached.
    pub async fn parcel(&self, m: &OutboxMessage) -> Result<Option<Parcel>, ChatError> {
        let Some(contact) = self.desk.contact(m.to).await? else {
            return Ok(None);
        };
        let Some(to) = PUSH_DOORS.iter().find_map(|door| {
            contact
                .identities
                .iter()
                .find(|(channel, _)| channel == door)
                .map(|(channel, external_id)| Address {
                    channel: channel.clone(),
                    external_id: external_id.clone(),
                })
        }) else {
            return Ok(None);
        };
        let lang = contact
            .language
            .as_deref()
            .map_or(Lang::ZhCn, Lang::from_code);
        let ticket = m.payload["ticket"].as_str().map(str::to_owned);
        let mut replies = vec![Outgoing::Text(self.flows.text(&m.event, lang, &m.payload))];
        // An offer carries the job card's buttons, so one tap accepts it.
        if let (Some(e), Some(number), "job_offered" | "sla_escalated") =
            (&contact.engineer, &ticket, m.event.as_str())
            && let Ok((_, card)) = self.job_card(e, number, lang).await?
        {
            replies.extend(
                card.into_iter()
                    .filter(|r| matches!(r, Outgoing::Choices { .. })),
            );
        }
        // An inspection offered carries its card's buttons, so one tap accepts it.
        if let (Some(e), "inspection_offered") = (&contact.engineer, m.event.as_str())
            && let Some(id) = m.payload["inspection"]
                .as_str()
                .and_then(crate::desk::inspections::parse_reference)
            && let Ok((_, card)) = self.inspection_card(e, id, lang).await?
        {
            replies.extend(
                card.into_iter()
                    .filter(|r| matches!(r, Outgoing::Choices { .. })),
            );
        }
        // "Is it fixed?" and the survey carry their flow's buttons, and open it as the
        // reporter's conversation (unless one is in progress) so typed answers work too.
        let flow = match (m.to, m.event.as_str()) {
            (Recipient::Reporter(_), "ticket_resolved" | "confirm_reminder") => Some("confirm_fix"),
            (Recipient::Reporter(_), "survey_request") => Some("survey"),
            (Recipient::Reporter(_), "remote_consent_request") => Some("remote_consent"),
            _ => None,
        };
        if let Some(flow) = flow
            && let Ok((conv, question)) = self.flows.start(flow, lang, &payload_vars(&m.payload))
        {
            replies.extend(
                question
                    .into_iter()
                    .filter(|r| matches!(r, Outgoing::Choices { .. })),
            );
            let (channel, id) = (&to.channel, &to.external_id);
            if self.conversations.get(channel, id).await?.is_none() {
                let state =
                    serde_json::to_string(&conv).map_err(|e| ChatError::State(e.to_string()))?;
                let now = self.conversations.now();
                // Only where none is open: a conversation begun meanwhile (the person
                // wrote just now) is theirs, and the notice's buttons still work.
                match self
                    .conversations
                    .save(channel, id, Some(state), now, Expect::Absent)
                    .await
                {
                    Ok(_) | Err(StoreError::Conflict) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(Some(Parcel {
            id: m.id,
            to,
            lang,
            event: m.event.clone(),
            ticket,
            replies,
        }))
    }
}
