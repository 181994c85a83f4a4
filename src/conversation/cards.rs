//! Job cards in engineer groups' chats, the same on every door: an offer to a group is
//! posted once as a card with only its Accept button (claimed first, so two instances
//! never both post it), and when the job is taken the card is edited, once, to say by
//! whom. Each offer of a job has its own card: offered again (escalated, or reassigned
//! to the group after it was taken), it gets a new one, and an earlier card nobody took
//! loses its Accept, as does the card of a job cancelled before anyone took it. A door
//! supplies the chat of each group and how to post and edit there ([`CardWall`]); the
//! cards are kept on the desk's card board.

use std::time::Duration;

use super::Chat;
use crate::desk::{Card, CardClaim, CardEnd, DeskError, StoreError, notice_payload};
use crate::domain::ticket::{Caller, Status};
use crate::flow::{Lang, Outgoing};
use crate::outbox::{DeliveryError, Parcel};

/// A posting begun this long ago and never finished was cut short: it may be taken over.
const STALE_AFTER: chrono::Duration = chrono::Duration::minutes(2);

/// What a door gives the shared card logic.
pub(crate) trait CardWall: Sync {
    /// The door (`telegram`, `discord`).
    const DOOR: &'static str;
    /// The chat a group's cards go to, as the door writes its id.
    fn place_of(&self, group: &str) -> Option<String>;
    /// Card work of this instance, one at a time.
    fn one_at_a_time(&self) -> &tokio::sync::Mutex<()>;
    /// Posts a card with buttons `(id, label)`; the message id.
    async fn post_card(
        &self,
        place: &str,
        text: &str,
        buttons: &[Vec<(String, String)>],
    ) -> Result<String, DeliveryError>;
    /// Replaces a card's text and removes its buttons.
    async fn edit_card(
        &self,
        place: &str,
        message_id: &str,
        text: &str,
    ) -> Result<(), DeliveryError>;
}

impl Chat {
    /// Delivers a `job_offered`, `job_taken` or `ticket_cancelled` parcel for an engineer
    /// whose group has a chat through the group's card: an offer posts it (once per
    /// ticket, however many of the group's engineers it is for), a take edits it, and so
    /// does the cancelling of a job nobody took. True when that delivered the parcel;
    /// false when it goes privately (no group chat, an offer meant for one engineer only,
    /// or no card to edit).
    pub(crate) async fn deliver_card<W: CardWall>(
        &self,
        wall: &W,
        parcel: &Parcel,
    ) -> Result<bool, DeliveryError> {
        let (offer, cancel) = match parcel.event.as_str() {
            "job_offered" => (true, false),
            "job_taken" => (false, false),
            "ticket_cancelled" => (false, true),
            _ => return Ok(false),
        };
        let Some(number) = parcel.ticket.as_deref().filter(|n| !n.is_empty()) else {
            return Ok(false);
        };
        let Some(engineer) = self
            .desk
            .engineer_by_identity(W::DOOR, &parcel.to.external_id)
            .await
            .map_err(temporary)?
        else {
            return Ok(false);
        };
        let Some(place) = wall.place_of(&engineer.group) else {
            return Ok(false);
        };
        let board = &self.cards;
        let _one_at_a_time = wall.one_at_a_time().lock().await;
        if cancel {
            // Only an offer still open on the card is the group's to hear of; a job
            // someone took was cancelled to them alone.
            let Some(card) = board
                .card(W::DOOR, number, &place)
                .await
                .map_err(temporary)?
                .filter(|c| c.taken_by.is_none())
            else {
                return Ok(false);
            };
            if !card.closed()
                && let Some(message_id) = card.message_id.as_deref()
            {
                let cancelled = first_text(&parcel.replies);
                wall.edit_card(&place, message_id, &format!("{}\n\n{cancelled}", card.text))
                    .await?;
                board
                    .ended(W::DOOR, number, &place, CardEnd::Cancelled)
                    .await
                    .map_err(temporary)?;
            }
            return Ok(true);
        }
        let ticket = match self.desk.look_up(&Caller::System, number).await {
            Ok(t) => t,
            Err(DeskError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(temporary(e)),
        };
        if !offer {
            let Some(card) = board
                .card(W::DOOR, number, &place)
                .await
                .map_err(temporary)?
            else {
                return Ok(false);
            };
            let Some(message_id) = card
                .message_id
                .as_deref()
                .filter(|_| card.taken_by.is_none())
            else {
                return Ok(true);
            };
            // A take the job has since moved on from (escalated, reassigned) is history:
            // the card may already stand for the next offer.
            let Some(by) = ticket.assignee.map(|id| id.to_string()) else {
                return Ok(true);
            };
            let taken = first_text(&parcel.replies);
            wall.edit_card(&place, message_id, &format!("{}\n\n{taken}", card.text))
                .await?;
            board
                .ended(W::DOOR, number, &place, CardEnd::Taken(&by))
                .await
                .map_err(temporary)?;
            return Ok(true);
        }
        // An offer to one engineer (a reassignment to them) is theirs alone.
        if ticket.offered_to.is_some() {
            return Ok(false);
        }
        // An offer that is over (the job was taken, or closed) has nothing left to show.
        if ticket.status != Status::Offered || ticket.assignee.is_some() {
            return Ok(true);
        }
        let Some(buttons) = accept_button(&parcel.replies) else {
            return Ok(false);
        };
        let now = board.now();
        // Each offer of the job has its card: a new tier (escalated) is told anew.
        let offer = format!("{}/{}", ticket.tier.as_str(), ticket.escalation_level);
        match board
            .claim(W::DOOR, number, &place, &offer, now, now - STALE_AFTER)
            .await
            .map_err(temporary)?
        {
            CardClaim::Post { replaces: None } => {}
            CardClaim::Post {
                replaces: Some(old),
            } => {
                // The earlier offer's card loses its Accept, pointing to the new card.
                let payload = serde_json::json!({ "ticket": number });
                let moved = self.flows.text("offer_moved_on", Lang::ZhCn, &payload);
                let edit = match old.message_id.as_deref() {
                    Some(id) => {
                        wall.edit_card(&place, id, &format!("{}\n\n{moved}", old.text))
                            .await
                    }
                    None => Ok(()),
                };
                if let Err(e) = edit {
                    tracing::warn!(door = W::DOOR, ticket = number, error = %e, "earlier card not closed");
                }
            }
            CardClaim::Posted(_) => return Ok(true),
            // Another instance is posting it: look again shortly.
            CardClaim::Busy => return Err(DeliveryError::RateLimited(Duration::from_secs(1))),
        }
        let text = first_text(&parcel.replies);
        match wall.post_card(&place, &text, &buttons).await {
            Ok(message_id) => {
                board
                    .posted(W::DOOR, number, &place, &message_id, &text)
                    .await
                    .map_err(temporary)?;
                Ok(true)
            }
            Err(e) => {
                if let Err(release) = board.release(W::DOOR, number, &place).await {
                    tracing::warn!(door = W::DOOR, error = %release, "card claim not released");
                }
                Err(e)
            }
        }
    }

    /// The card that is message `message_id` in `place` on the wall's door, if it is one.
    pub(crate) async fn card_at<W: CardWall>(
        &self,
        place: &str,
        message_id: &str,
    ) -> Result<Option<Card>, StoreError> {
        self.cards.card_at(W::DOOR, place, message_id).await
    }

    /// After a tap on a card: if the job is taken now, the card's new text (the take is
    /// recorded first, so no later notice edits it again); the door makes the edit.
    pub(crate) async fn card_taken_text<W: CardWall>(
        &self,
        wall: &W,
        place: &str,
        message_id: &str,
    ) -> Option<String> {
        let board = &self.cards;
        let card = board.card_at(W::DOOR, place, message_id).await.ok()??;
        if card.taken_by.is_some() {
            return None;
        }
        let ticket = self
            .desk
            .look_up(&Caller::System, &card.ticket)
            .await
            .ok()?;
        let id = ticket.assignee?;
        let engineer = self.desk.engineer(id).await.ok()??;
        let _one_at_a_time = wall.one_at_a_time().lock().await;
        let by = id.to_string();
        if !board
            .ended(W::DOOR, &card.ticket, place, CardEnd::Taken(&by))
            .await
            .ok()?
        {
            return None;
        }
        let payload = notice_payload(&ticket, Some(engineer.name), None);
        // Groups mix languages: the card speaks the desk's first language.
        let taken = self.flows.text("job_taken", Lang::ZhCn, &payload);
        Some(format!("{}\n\n{taken}", card.text))
    }
}

impl Chat {
    /// Whether the engineer behind `person` holds job `ticket` now (after a tap on a
    /// group card: the taker is then shown the job's next steps privately).
    pub(crate) async fn holds_job(&self, person: &super::Person, ticket: &str) -> bool {
        let Ok(Some(engineer)) = self.linked_engineer(person).await else {
            return false;
        };
        match self.desk.look_up(&Caller::System, ticket).await {
            Ok(t) => t.assignee == Some(engineer.id),
            Err(_) => false,
        }
    }
}

/// A storage failure while delivering: worth trying again.
fn temporary(e: impl std::fmt::Display) -> DeliveryError {
    DeliveryError::Temporary(e.to_string())
}

/// The first text of a parcel (a notice's own sentence, before any card).
fn first_text(out: &[Outgoing]) -> String {
    out.iter()
        .find_map(|o| match o {
            Outgoing::Text(t) | Outgoing::Choices { text: t, .. } => Some(t.clone()),
            Outgoing::Form { .. } => None,
        })
        .unwrap_or_default()
}

/// Whether a choice id is a job card's Accept (`…:accept@TICKET`).
pub fn is_accept(id: &str) -> bool {
    id.split('@')
        .next()
        .is_some_and(|head| head.ends_with(":accept"))
}

/// The Accept button of a job card among a parcel's replies (a group card offers only
/// that: the other actions belong to whoever took the job).
fn accept_button(out: &[Outgoing]) -> Option<Vec<Vec<(String, String)>>> {
    out.iter().find_map(|o| match o {
        Outgoing::Choices { options, .. } => options
            .iter()
            .find(|(id, _)| is_accept(id))
            .map(|b| vec![vec![b.clone()]]),
        _ => None,
    })
}
