//! What each kind of Discord event does:
//!
//! | event | where | does |
//! |---|---|---|
//! | message | a DM, from a person | text, an attachment → the conversation |
//! | message | a server, or from a bot | nothing: what is said in servers is not for the bot |
//! | button / menu click | the clicker's own DM with the bot | the choice → the conversation |
//! | click on the form button | the clicker's DM | the form opens as a modal |
//! | click | someone else's DM | acknowledged and ignored |
//! | click | a group's job card in a server | a linked engineer of the card's group takes the job; answered ephemerally |
//! | slash command | a DM | the command (with its option) → the conversation |
//! | modal submit | a DM | the form's values → the conversation |
//!
//! Each person's events are handled one at a time, in the order they reach the door
//! (serenity hands each to a task of its own), replies included. Every event is recorded
//! by its snowflake id first, so one dispatched twice (a replay after RESUME, a resent
//! HTTP interaction) has one effect; when a step ends with its conversation's state, the
//! event's handled mark goes in the same transaction.
//! Interactions are acknowledged first (within Discord's 3 seconds) and answered with
//! follow-ups; the first answer and each follow-up are tried again after a 5xx or a 429
//! ([`super::rest`]) while the interaction's token lives (15 minutes), so one failure
//! loses no question.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use serenity::all::{
    ActionRowComponent, ChannelId, CommandDataOptionValue, CommandInteraction,
    ComponentInteraction, Context, CreateAllowedMentions, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, EventHandler, Interaction,
    InteractionId, Message, ModalInteraction, Ready, User,
};
use serenity::http::{LightMethod, Route};
use tokio::time::Instant;

use super::Inner;
use super::render::{
    FORM_BUTTON, FORM_MODAL, choice_of, followup, is_accept_for, modal, person_of, reply, shown,
};
use super::rest::Failure;
use crate::conversation::Person;
use crate::desk::StepRecord;
use crate::doors::lock;
use crate::flow::{Incoming, Outgoing};

/// Discord takes an interaction's first answer for 3 seconds after sending it.
const FIRST_ANSWER_LIFE: Duration = Duration::from_secs(3);
/// An interaction's token takes follow-ups for 15 minutes.
const TOKEN_LIFE: Duration = Duration::from_secs(15 * 60);

/// An interaction being answered: its id and token, who made it, and when it came.
#[derive(Clone, Copy)]
struct Asked<'a> {
    id: InteractionId,
    token: &'a str,
    user: u64,
    received: Instant,
}

/// The deferral of a command or a form: "thinking…", the replies to follow.
fn deferred_reply() -> CreateInteractionResponse {
    CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new())
}

/// Where an interaction's first answer goes.
pub(super) enum Ack {
    /// A callback request to Discord (interactions from the gateway).
    Callback,
    /// The HTTP response to Discord's POST (the interactions endpoint), taken once.
    Http(Mutex<Option<tokio::sync::oneshot::Sender<CreateInteractionResponse>>>),
}

/// The gateway's events, handed to the door.
pub(super) struct Handler {
    pub(super) inner: std::sync::Arc<Inner>,
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, "discord: connected");
        self.inner.prune().await;
    }

    async fn message(&self, _ctx: Context, m: Message) {
        self.inner.on_message(m).await;
    }

    async fn interaction_create(&self, _ctx: Context, i: Interaction) {
        self.inner
            .on_interaction(i, &Ack::Callback, Instant::now())
            .await;
    }
}

impl Inner {
    async fn on_message(&self, m: Message) {
        // DMs only; what is said in servers is not for the bot.
        if m.author.bot || m.guild_id.is_some() {
            return;
        }
        let _lane = self.lanes.enter(m.author.id.get()).await;
        let id = m.id.get();
        if !self.first_time(id, "message").await {
            return;
        }
        let user = m.author.id.get();
        self.lock_dms().insert(user, m.channel_id.get());
        let person = person_of(&m.author, None);
        let input = match (m.content.trim(), m.attachments.first()) {
            ("", Some(a)) => Incoming::Photo(a.url.clone()),
            ("", None) => return self.handled(id).await,
            _ => Incoming::Text(m.content.clone()),
        };
        let (out, recorded) = self.converse(&person, input, Some(id)).await;
        for piece in &self.render(user, &out) {
            if let Err(e) = self.post_patiently(m.channel_id.get(), piece).await {
                tracing::warn!(error = %e, "discord: reply not delivered");
                break;
            }
        }
        if !recorded {
            self.handled(id).await;
        }
    }

    /// Handles an interaction from the gateway or the HTTP endpoint, `received` then;
    /// `ack` says where its first answer goes.
    pub(super) async fn on_interaction(&self, i: Interaction, ack: &Ack, received: Instant) {
        match i {
            Interaction::Component(c) => self.on_click(c, ack, received).await,
            Interaction::Command(c) => self.on_command(c, ack, received).await,
            Interaction::Modal(m) => self.on_modal(m, ack, received).await,
            _ => {}
        }
    }

    /// Gives an interaction its first answer.
    async fn respond(
        &self,
        ack: &Ack,
        asked: Asked<'_>,
        r: CreateInteractionResponse,
    ) -> Result<(), Failure> {
        match ack {
            Ack::Callback => {
                let route = Route::InteractionResponse {
                    interaction_id: asked.id,
                    token: asked.token,
                };
                let until = asked.received + FIRST_ANSWER_LIFE;
                self.call_patiently(route, LightMethod::Post, &r, until)
                    .await
                    .map(drop)
            }
            Ack::Http(tx) => {
                if let Some(tx) = lock(tx).take() {
                    // The endpoint may have answered with a deferral already: no matter.
                    let _ = tx.send(r);
                }
                Ok(())
            }
        }
    }

    /// Whether `channel` is `user`'s DM with the bot (a click anywhere else is refused).
    async fn owns(&self, user: &User, channel: ChannelId) -> bool {
        let known = self.lock_dms().get(&user.id.get()).copied();
        let dm = match known {
            Some(dm) => dm,
            None => match user.id.create_dm_channel(&*self.http).await {
                Ok(c) => {
                    self.lock_dms().insert(user.id.get(), c.id.get());
                    c.id.get()
                }
                Err(e) => {
                    tracing::warn!(error = %e, "discord: DM channel unknown");
                    return false;
                }
            },
        };
        dm == channel.get()
    }

    /// A follow-up to an interaction, tried again while its token lives.
    async fn follow_up(
        &self,
        asked: Asked<'_>,
        f: &CreateInteractionResponseFollowup,
    ) -> Result<(), Failure> {
        let route = Route::WebhookFollowupMessages {
            application_id: self.app_id.into(),
            token: asked.token,
        };
        let until = asked.received + TOKEN_LIFE;
        self.call_patiently(route, LightMethod::Post, f, until)
            .await
            .map(drop)
    }

    async fn on_click(&self, c: ComponentInteraction, ack: &Ack, received: Instant) {
        let _lane = self.lanes.enter(c.user.id.get()).await;
        if !self.first_time(c.id.get(), "interaction").await {
            return;
        }
        let user = c.user.id.get();
        let asked = Asked {
            id: c.id,
            token: &c.token,
            user,
            received,
        };
        // A click in a server can only be on a group's job card.
        if c.guild_id.is_some() {
            self.on_card_click(&c, ack, asked).await;
            self.handled(c.id.get()).await;
            return;
        }
        let owner_ok = c.guild_id.is_none()
            && c.message.author.id.get() == self.app_id
            && self.owns(&c.user, c.channel_id).await;
        // The form button is answered with the modal itself (it must be the first answer).
        if owner_ok && c.data.custom_id == FORM_BUTTON {
            let form = lock(&self.forms).get(&user).cloned();
            if let Some((title, fields)) = form {
                let r = CreateInteractionResponse::Modal(modal(&title, &fields));
                if let Err(e) = self.respond(ack, asked, r).await {
                    tracing::warn!(error = %e, "discord: modal not shown");
                }
                self.handled(c.id.get()).await;
                return;
            }
        }
        if !owner_ok {
            tracing::warn!(
                user,
                "discord: a click on someone else's message was ignored"
            );
            let ignored = CreateInteractionResponse::Acknowledge;
            if let Err(e) = self.respond(ack, asked, ignored).await {
                tracing::warn!(error = %e, "discord: click not acknowledged");
            }
            self.handled(c.id.get()).await;
            return;
        }
        let person = person_of(&c.user, Some(&c.locale));
        let step = async {
            if c.data.custom_id == FORM_BUTTON {
                // The form is gone (a restart): show where the conversation stands.
                (self.chat.resume(&person).await.unwrap_or_default(), false)
            } else {
                let choice = Incoming::Choice(choice_of(&c));
                self.converse(&person, choice, Some(c.id.get())).await
            }
        };
        let deferral = CreateInteractionResponse::Acknowledge;
        if !self.answer(ack, asked, deferral, step).await {
            self.handled(c.id.get()).await;
        }
    }

    async fn on_command(&self, c: CommandInteraction, ack: &Ack, received: Instant) {
        let _lane = self.lanes.enter(c.user.id.get()).await;
        if !self.first_time(c.id.get(), "interaction").await {
            return;
        }
        let person = person_of(&c.user, Some(&c.locale));
        let args = command_args(&c);
        let step = async {
            if c.guild_id.is_some() {
                (vec![], false)
            } else {
                let command = Incoming::Command(c.data.name.clone(), args);
                self.converse(&person, command, Some(c.id.get())).await
            }
        };
        let asked = Asked {
            id: c.id,
            token: &c.token,
            user: c.user.id.get(),
            received,
        };
        if !self.answer(ack, asked, deferred_reply(), step).await {
            self.handled(c.id.get()).await;
        }
    }

    async fn on_modal(&self, m: ModalInteraction, ack: &Ack, received: Instant) {
        let _lane = self.lanes.enter(m.user.id.get()).await;
        if !self.first_time(m.id.get(), "interaction").await {
            return;
        }
        let user = m.user.id.get();
        let step = async {
            if m.guild_id.is_none() && m.data.custom_id == FORM_MODAL {
                let values = form_values(&m);
                lock(&self.forms).remove(&user);
                let person = person_of(&m.user, Some(&m.locale));
                self.converse(&person, Incoming::Form(values), Some(m.id.get()))
                    .await
            } else {
                (vec![], false)
            }
        };
        let asked = Asked {
            id: m.id,
            token: &m.token,
            user,
            received,
        };
        if !self.answer(ack, asked, deferred_reply(), step).await {
            self.handled(m.id.get()).await;
        }
    }

    /// Runs an interaction's step and answers it: with the first reply itself when the
    /// step is done in time (one request instead of a deferral and a follow-up), else with
    /// `deferral` first; the other replies follow up, in order, until one fails. Whether
    /// the step recorded the event as handled.
    async fn answer(
        &self,
        ack: &Ack,
        asked: Asked<'_>,
        deferral: CreateInteractionResponse,
        step: impl Future<Output = (Vec<Outgoing>, bool)>,
    ) -> bool {
        tokio::pin!(step);
        let within = self.patience.answer_within;
        let in_time = if within.is_zero() {
            None
        } else {
            tokio::time::timeout(within, &mut step).await.ok()
        };
        let (out, recorded, deferred) = match in_time {
            Some((out, recorded)) => (out, recorded, false),
            None => {
                if let Err(e) = self.respond(ack, asked, deferral.clone()).await {
                    tracing::warn!(error = %e, "discord: interaction not acknowledged");
                }
                let (out, recorded) = step.await;
                (out, recorded, true)
            }
        };
        let mut pieces = self.render(asked.user, &out).into_iter();
        if !deferred {
            let first = pieces
                .next()
                .map_or(deferral, |p| CreateInteractionResponse::Message(reply(&p)));
            if let Err(e) = self.respond(ack, asked, first).await {
                tracing::warn!(error = %e, "discord: interaction not answered");
                return recorded;
            }
        }
        for piece in pieces {
            if let Err(e) = self.follow_up(asked, &followup(&piece)).await {
                tracing::warn!(error = %e, "discord: follow-up not delivered");
                break;
            }
        }
        recorded
    }

    /// The conversation's replies to `input` (or an apology), and whether event `id` was
    /// recorded as handled with the step's state (else the caller marks it).
    async fn converse(
        &self,
        person: &Person,
        input: Incoming,
        id: Option<u64>,
    ) -> (Vec<Outgoing>, bool) {
        let record = id.map(|id| StepRecord::DiscordHandled {
            event_id: id.to_string(),
        });
        match self.chat.answer(person, input, record).await {
            Ok(saved) => (saved.replies, saved.recorded),
            Err(e) => {
                tracing::error!(error = %e, "discord: the chat service failed");
                let lang = self.chat.lang_of(person).await;
                (
                    vec![Outgoing::Text(self.chat.text("try_again", lang))],
                    false,
                )
            }
        }
    }

    /// A click on a message in a server: only a linked engineer of the card's group may
    /// press its Accept button. The clicker alone is answered (ephemerally); replies
    /// with buttons also go to their DM; a take shows on the card for everyone.
    async fn on_card_click(&self, c: &ComponentInteraction, ack: &Ack, asked: Asked<'_>) {
        let quietly = CreateInteractionResponseMessage::new().ephemeral(true);
        let defer = CreateInteractionResponse::Defer(quietly);
        if let Err(e) = self.respond(ack, asked, defer).await {
            tracing::warn!(error = %e, "discord: card click not acknowledged");
        }
        let (channel, message) = (c.channel_id.get(), c.message.id.get());
        let person = person_of(&c.user, Some(&c.locale));
        let out = self
            .card_click(&person, channel, message, &c.data.custom_id)
            .await;
        let said: Vec<&str> = out
            .iter()
            .filter_map(|o| match o {
                Outgoing::Text(t) | Outgoing::Choices { text: t, .. } => Some(t.as_str()),
                Outgoing::Form { .. } => None,
            })
            .collect();
        let note = CreateInteractionResponseFollowup::new()
            .content(shown(&said.join("\n")))
            .ephemeral(true)
            .allowed_mentions(CreateAllowedMentions::new());
        if let Err(e) = self.follow_up(asked, &note).await {
            tracing::warn!(error = %e, "discord: card reply not delivered");
        }
        // Buttons for the job (what to do next) belong in the engineer's DM.
        if out.iter().any(|o| matches!(o, Outgoing::Choices { .. })) {
            let user = c.user.id.get();
            match self.dm_of(user).await {
                Ok(dm) => {
                    for piece in self.render(user, &out) {
                        if let Err(e) = self.post_patiently(dm, &piece).await {
                            tracing::warn!(error = %e, "discord: job buttons not delivered");
                            break;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "discord: DM channel unknown"),
            }
        }
        let (place, message) = (channel.to_string(), message.to_string());
        if let Some(text) = self.chat.card_taken_text(self, &place, &message).await
            && let Err(e) = self.edit_card_patiently(&place, &message, &text).await
        {
            tracing::warn!(error = %e, "discord: card not edited");
        }
    }

    /// What a card click does: the chat service's replies to the engineer, or why not.
    async fn card_click(
        &self,
        person: &Person,
        channel: u64,
        message: u64,
        custom_id: &str,
    ) -> Vec<Outgoing> {
        let lang = self.chat.lang_of(person).await;
        let say = |key: &str| vec![Outgoing::Text(self.chat.text(key, lang))];
        let card = match self
            .chat
            .card_at::<Self>(&channel.to_string(), &message.to_string())
            .await
        {
            Ok(Some(card)) => card,
            Ok(None) => return say("not_allowed"),
            Err(e) => {
                tracing::error!(error = %e, "discord: card lookup failed");
                return say("try_again");
            }
        };
        // Only the card's own Accept, whatever custom_id a forger sends.
        if !is_accept_for(custom_id, &card.ticket) {
            return say("not_allowed");
        }
        let engineer = match self.chat.linked_engineer(person).await {
            Ok(Some(e)) => e,
            Ok(None) => return say("card_not_engineer"),
            Err(e) => {
                tracing::error!(error = %e, "discord: engineer lookup failed");
                return say("try_again");
            }
        };
        if self.group_channels.get(&engineer.group) != Some(&channel) {
            return say("not_allowed");
        }
        // Not recorded with the step: the caller marks the click handled after the card.
        let choice = Incoming::Choice(custom_id.to_owned());
        let (out, _) = self.converse(person, choice, None).await;
        out
    }
}

/// A slash command's string options, as one argument line.
pub(super) fn command_args(c: &CommandInteraction) -> String {
    let args: Vec<&str> = c
        .data
        .options
        .iter()
        .filter_map(|o| match &o.value {
            CommandDataOptionValue::String(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    args.join(" ")
}

/// A submitted modal's values by field id (an empty field as empty text).
pub(super) fn form_values(m: &ModalInteraction) -> BTreeMap<String, String> {
    m.data
        .components
        .iter()
        .flat_map(|row| row.components.iter())
        .filter_map(|c| match c {
            ActionRowComponent::InputText(t) => {
                Some((t.custom_id.clone(), t.value.clone().unwrap_or_default()))
            }
            _ => None,
        })
        .collect()
}
