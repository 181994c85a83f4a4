//! Outbox messages as a person sees them: which door reaches the recipient, in which
//! language, and what to show (a job offer carries the job card's buttons).

use super::{Chat, ChatError};
use crate::flow::{Lang, Outgoing};
use crate::outbox::{Address, Parcel};
use crate::store::{OutboxMessage, Recipient};

/// Doors that can push a message, most preferred first (the terminal cannot).
const PUSH_DOORS: [&str; 3] = ["telegram", "discord", "web"];

impl Chat {
    /// Renders an outbox message for its recipient, or `None` when they have no chat that
    /// can be reached.
    pub async fn parcel(&self, m: &OutboxMessage) -> Result<Option<Parcel>, ChatError> {
        let store = self.desk().store();
        let (address, lang, engineer) = match m.to {
            Recipient::Reporter(id) => {
                let (reporter, identities) =
                    tokio::join!(store.reporter(id), store.reporter_identities(id));
                let lang = reporter?
                    .and_then(|r| r.language)
                    .map_or(Lang::ZhCn, |l| Lang::from_code(&l));
                let identities = identities?;
                let address = PUSH_DOORS.iter().find_map(|door| {
                    identities.iter().find(|(channel, _)| channel == door).map(
                        |(channel, external_id)| Address {
                            channel: channel.clone(),
                            external_id: external_id.clone(),
                        },
                    )
                });
                (address, lang, None)
            }
            Recipient::Engineer(id) => {
                let Some(e) = store.engineer(id).await? else {
                    return Ok(None);
                };
                let address = [
                    ("telegram", &e.telegram_id),
                    ("discord", &e.discord_id),
                    ("web", &e.web_id),
                ]
                .into_iter()
                .find_map(|(channel, id)| {
                    id.as_ref().map(|id| Address {
                        channel: channel.to_owned(),
                        external_id: id.clone(),
                    })
                });
                (address, Lang::ZhCn, Some(e))
            }
        };
        let Some(to) = address else {
            return Ok(None);
        };
        let ticket = m.payload["ticket"].as_str().map(str::to_owned);
        let mut replies = vec![Outgoing::Text(
            self.flows().text(&m.event, lang, &m.payload),
        )];
        // An offer carries the job card's buttons, so one tap accepts it.
        if let (Some(e), Some(number), "job_offered" | "sla_escalated") =
            (&engineer, &ticket, m.event.as_str())
            && let Ok((_, card)) = self.job_card(e, number, lang).await?
        {
            replies.extend(
                card.into_iter()
                    .filter(|r| matches!(r, Outgoing::Choices { .. })),
            );
        }
        // "Is it fixed?" and the survey carry their flow's buttons, and open it as the
        // reporter's conversation (unless one is in progress) so typed answers work too.
        let flow = match (m.to, m.event.as_str()) {
            (Recipient::Reporter(_), "ticket_resolved") => Some("confirm_fix"),
            (Recipient::Reporter(_), "survey_request") => Some("survey"),
            _ => None,
        };
        if let Some(flow) = flow {
            let known = super::payload_vars(&m.payload);
            if let Ok((conv, question)) = self.flows().start(flow, lang, &known) {
                replies.extend(
                    question
                        .into_iter()
                        .filter(|r| matches!(r, Outgoing::Choices { .. })),
                );
                let store = self.desk().store();
                if store
                    .conversation(&to.channel, &to.external_id)
                    .await?
                    .is_none()
                {
                    let state = serde_json::to_string(&conv)
                        .map_err(|e| ChatError::State(e.to_string()))?;
                    store
                        .save_conversation(
                            &to.channel,
                            &to.external_id,
                            Some(state),
                            self.desk().now(),
                        )
                        .await?;
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
