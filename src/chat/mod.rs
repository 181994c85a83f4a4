//! The platform-neutral conversation service. Every door (web chat, terminal, Telegram,
//! Discord) turns what a person sent into an [`Incoming`] and shows the [`Outgoing`]
//! replies in its own idiom; this module runs the bot-flows over the desk and keeps each
//! person's conversation in the database, durable before the reply goes out.

mod cards;
pub mod console;
pub mod discord;
mod notice;
pub mod telegram;
pub mod web;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use chrono::{DateTime, Duration, Utc};

use crate::desk::{Desk, DeskError, notice_payload};
use crate::domain::routing::Engineer;
use crate::domain::ticket::{Caller, Ticket};
use crate::flow::{
    Conversation, Flows, Incoming, Lang, Outcome, Outgoing, report_form, to_ticket_action,
};
use crate::store::{Reporter, StepRecord, StoreError, TicketFilter, TicketRecord};

/// Who is talking, as a door knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The door: `web`, `console`, `telegram`, `discord`.
    pub channel: String,
    /// Their id on that door.
    pub external_id: String,
    /// Their display name there.
    pub name: String,
    /// The door's language code (`zh-CN`, `en-US` …), if it tells.
    pub language: Option<String>,
}

/// Why a message could not be handled. Shown to the person as a short apology.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The desk failed.
    #[error(transparent)]
    Desk(#[from] DeskError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored conversation no longer reads (it is dropped).
    #[error("stored conversation is unreadable: {0}")]
    State(String),
}

/// A notification payload's text values, as a flow's starting vars.
fn payload_vars(payload: &serde_json::Value) -> BTreeMap<String, String> {
    payload
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
        .collect()
}

/// The reply to a filed report, naming the ticket.
fn receipt(flows: &Flows, t: &Ticket, lang: Lang) -> Outgoing {
    Outgoing::Text(flows.text("ticket_received", lang, &notice_payload(t, None, None)))
}

/// A command's replies, and the conversation it started (for the caller to save).
type Commanded = (Vec<Outgoing>, Option<Conversation>);

/// Turns a step's replies into the door's record of it (see [`Chat::handle_recorded`]);
/// `None` to write none. Shared: a report's record is made in its ticket's transaction.
pub type Recorder = Arc<dyn Fn(&[Outgoing]) -> Option<StepRecord> + Send + Sync>;

/// How long a conversation may sit idle before it is discarded (kept 24 h as a draft).
pub const DEFAULT_IDLE: Duration = Duration::minutes(30);
const DRAFT_KEPT: Duration = Duration::hours(24);

/// The conversation service.
#[derive(Clone)]
pub struct Chat {
    desk: Desk,
    flows: Flows,
    idle: Duration,
    locks: Arc<Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>>,
}

/// The reporter or engineer behind a person.
enum Role {
    Reporter(Reporter),
    Engineer(Engineer),
}

impl Chat {
    /// A service over the desk with these flows; conversations idle for `idle` expire.
    pub fn new(desk: Desk, flows: Flows, idle: Duration) -> Chat {
        Chat {
            desk,
            flows,
            idle,
            locks: Arc::default(),
        }
    }

    /// The flows in use.
    pub fn flows(&self) -> &Flows {
        &self.flows
    }

    /// The desk behind the service.
    pub fn desk(&self) -> &Desk {
        &self.desk
    }

    /// Handles one message from a reporter, or from an engineer whose chat identity is
    /// linked. Messages of one person are handled one at a time.
    pub async fn handle(
        &self,
        person: &Person,
        input: Incoming,
    ) -> Result<Vec<Outgoing>, ChatError> {
        let (replies, _) = self
            .handle_recorded(person, input, Arc::new(|_| None))
            .await?;
        Ok(replies)
    }

    /// As [`Chat::handle`], and when the step's last write is its conversation's state
    /// (answering a question, cancelling: most steps), `record` is called with the
    /// step's replies and the record it returns is written in the same transaction as
    /// that state; the flag says whether that happened. A door stores what it must
    /// remember about the message (handled, replies to send) this way with no write of
    /// its own.
    pub async fn handle_recorded(
        &self,
        person: &Person,
        input: Incoming,
        record: Recorder,
    ) -> Result<(Vec<Outgoing>, bool), ChatError> {
        let lock = self.lock_for(person);
        let _turn = lock.lock().await;
        let store = self.desk.store();
        let (channel, id) = (&person.channel, &person.external_id);
        // One round trip for a known reporter and their conversation: this runs per
        // message. A linked engineer (or a newcomer) needs more.
        let (role, stored) = match store.reporter_with_conversation(channel, id).await? {
            Some((r, stored, false)) => (Role::Reporter(r), stored),
            known => match self.linked_engineer(person).await? {
                Some(e) => (Role::Engineer(e), store.conversation(channel, id).await?),
                None => match known {
                    Some((r, stored, _)) => (Role::Reporter(r), stored),
                    None => (Role::Reporter(self.reporter(person).await?), None),
                },
            },
        };
        let lang = self.lang_of(person, &role);
        let (mut conversation, mut replies) = self.load(person, lang, stored).await?;
        // A job-card button for a job whose card is not the open conversation (an offer
        // posted to the group, an old card): open that job's card first, then press it.
        if let (Role::Engineer(e), Incoming::Choice(id)) = (&role, &input)
            && let Some(ticket) = Flows::choice_scope(id)
            && conversation.as_ref().and_then(|c| c.var("ticket")) != Some(ticket)
        {
            match self.job_card(e, ticket, lang).await? {
                Ok((conv, _card)) => conversation = Some(conv),
                Err(refusal) => return Ok((refusal, false)),
            }
        }
        // A reporter's button on a notification ("is it fixed?", the survey) whose flow is
        // not the open conversation: open that flow for that ticket first.
        if let (Role::Reporter(r), Incoming::Choice(id)) = (&role, &input)
            && let (Some(flow), Some(ticket)) =
                (self.flows.flow_of_choice(id), Flows::choice_scope(id))
            && conversation.as_ref().and_then(|c| c.var("ticket")) != Some(ticket)
        {
            match self.desk.ticket(&Caller::Reporter(r.id), ticket).await {
                Ok(d) => {
                    // Say at once when the question is no longer open, rather than after
                    // the reporter has typed a comment.
                    if let Some(refusal) = self.closed_question(flow, &d.ticket).await? {
                        return Ok((
                            vec![Outgoing::Text(self.refusal(&refusal, ticket, lang))],
                            false,
                        ));
                    }
                    let known = payload_vars(&notice_payload(&d.ticket, None, None));
                    let (conv, _) = self
                        .flows
                        .start(flow, lang, &known)
                        .map_err(|e| ChatError::State(e.to_string()))?;
                    conversation = Some(conv);
                }
                Err(e) => {
                    return Ok((vec![Outgoing::Text(self.refusal(&e, ticket, lang))], false));
                }
            }
        }
        let Some(mut conv) = conversation else {
            let (more, started) = self.idle_input(person, &role, lang, input).await?;
            replies.extend(more);
            // A report started (or a draft restored): its state goes with the door's record.
            let recorded = match started {
                Some(conv) => {
                    self.save_recorded(person, Some(&conv), record(&replies))
                        .await?
                }
                None => false,
            };
            return Ok((replies, recorded));
        };
        let step = self.flows.step(&mut conv, input);
        replies.extend(step.replies);
        let mut recorded = false;
        match step.outcome {
            // The replies are final here: the door's record can go with the state.
            Outcome::Continue => {
                recorded = self
                    .save_recorded(person, Some(&conv), record(&replies))
                    .await?
            }
            Outcome::Cancelled => {
                recorded = self.save_recorded(person, None, record(&replies)).await?
            }
            Outcome::Command(cmd) => {
                self.save(person, Some(&conv)).await?;
                let (more, started) = self.command(person, &role, conv.lang(), &cmd).await?;
                replies.extend(more);
                if let Some(started) = started {
                    self.save(person, Some(&started)).await?;
                }
            }
            Outcome::Submitted(answers) => {
                let Role::Reporter(r) = &role else {
                    self.save(person, None).await?;
                    return Ok((replies, false));
                };
                match conv.flow() {
                    "confirm_fix" | "survey" => {
                        self.save(person, None).await?;
                        replies.extend(self.closing(r, &conv, &answers).await);
                    }
                    _ => {
                        let (receipt, filed) = self
                            .submit(person, r, conv, &answers, &replies, &record)
                            .await?;
                        replies.extend(receipt);
                        recorded = filed;
                    }
                }
            }
            Outcome::JobAction(job) => {
                self.save(person, Some(&conv)).await?;
                if let (Role::Engineer(e), Some(ticket)) = (&role, job.ticket) {
                    replies.extend(self.job_action(e, &ticket, &job.kind, conv.lang()).await);
                }
            }
        }
        Ok((replies, recorded))
    }

    /// The reporter behind a person, created on first contact (their name must then be
    /// valid) with their door's language, which later notifications use.
    pub async fn reporter(&self, person: &Person) -> Result<Reporter, ChatError> {
        let (channel, id) = (&person.channel, &person.external_id);
        let mut r = self
            .desk
            .reporter_for_identity(channel, id, &person.name)
            .await?;
        if r.language.is_none()
            && let Some(code) = &person.language
        {
            let lang = Lang::from_code(code);
            self.remember_lang(&r, lang).await?;
            r.language = Some(lang.as_code().to_owned());
        }
        Ok(r)
    }

    /// What a person sees on arriving (or after a restart): their current question, or a
    /// welcome that starts a report.
    pub async fn resume(&self, person: &Person) -> Result<Vec<Outgoing>, ChatError> {
        {
            let lock = self.lock_for(person);
            let _turn = lock.lock().await;
            let lang = person
                .language
                .as_deref()
                .map_or(Lang::ZhCn, Lang::from_code);
            let stored = self
                .desk
                .store()
                .conversation(&person.channel, &person.external_id)
                .await?;
            let (conv, mut replies) = self.load(person, lang, stored).await?;
            if let Some(conv) = conv {
                replies.extend(self.flows.current(&conv));
                return Ok(replies);
            }
        }
        self.handle(person, Incoming::Command("start".into(), String::new()))
            .await
    }

    /// Discards conversations idle for longer than the idle time (kept as drafts for a
    /// day) and returns, for each, who to tell and the polite text to tell them.
    pub async fn expire_idle(&self) -> Result<Vec<(Person, String)>, ChatError> {
        let now = self.desk.now();
        let expired = self
            .desk
            .store()
            .expire_conversations(now - self.idle, now - DRAFT_KEPT, now)
            .await?;
        Ok(expired
            .into_iter()
            .map(|(channel, external_id, state)| {
                let lang =
                    serde_json::from_str::<Conversation>(&state).map_or(Lang::ZhCn, |c| c.lang());
                let person = Person {
                    channel,
                    external_id,
                    name: String::new(),
                    language: Some(lang.as_code().into()),
                };
                (
                    person,
                    self.flows.text("discarded", lang, &serde_json::Value::Null),
                )
            })
            .collect())
    }

    fn lock_for(&self, person: &Person) -> Arc<tokio::sync::Mutex<()>> {
        let key = format!("{}\u{0}{}", person.channel, person.external_id);
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = locks.get(&key).and_then(Weak::upgrade) {
            return l;
        }
        // Forget locks nobody holds any more, so the map does not grow without bound.
        if locks.len() > 1024 {
            locks.retain(|_, w| w.strong_count() > 0);
        }
        let l = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(key, Arc::downgrade(&l));
        l
    }

    async fn linked_engineer(&self, person: &Person) -> Result<Option<Engineer>, ChatError> {
        // The terminal is trusted: `baoxiu chat --engineer HANDLE` names the engineer.
        if person.channel == "console-engineer" {
            return Ok(self.desk.engineer_by_handle(&person.external_id).await?);
        }
        Ok(self
            .desk
            .store()
            .engineer_by_identity(&person.channel, &person.external_id)
            .await?)
    }

    fn lang_of(&self, person: &Person, role: &Role) -> Lang {
        let saved = match role {
            Role::Reporter(r) => r.language.as_deref(),
            Role::Engineer(_) => None,
        };
        saved
            .or(person.language.as_deref())
            .map_or(Lang::ZhCn, Lang::from_code)
    }

    /// The stored conversation (as read with the person), unless it went idle (then it
    /// becomes a draft, which the next report restores) or no longer fits the flows (then
    /// the person is told and starts again).
    async fn load(
        &self,
        person: &Person,
        lang: Lang,
        stored: Option<(String, DateTime<Utc>)>,
    ) -> Result<(Option<Conversation>, Vec<Outgoing>), ChatError> {
        let store = self.desk.store();
        let Some((state, updated_at)) = stored else {
            return Ok((None, vec![]));
        };
        let now = self.desk.now();
        if updated_at + self.idle < now {
            // Gone idle while nobody swept: it becomes a draft, which the next message
            // (going through "start") restores with a word of explanation.
            store
                .expire_conversations(now - self.idle, now - DRAFT_KEPT, now)
                .await?;
            return Ok((None, vec![]));
        }
        match serde_json::from_str::<Conversation>(&state) {
            Ok(c) if self.flows.is_valid(&c) => Ok((Some(c), vec![])),
            _ => {
                self.save(person, None).await?;
                let text = self.flows.text("flow_gone", lang, &serde_json::Value::Null);
                Ok((None, vec![Outgoing::Text(text)]))
            }
        }
    }

    /// Saves the conversation with the door's record, if it gave one; true if it did.
    async fn save_recorded(
        &self,
        person: &Person,
        conv: Option<&Conversation>,
        record: Option<StepRecord>,
    ) -> Result<bool, ChatError> {
        let Some(record) = record else {
            self.save(person, conv).await?;
            return Ok(false);
        };
        let state = conv
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| ChatError::State(e.to_string()))?;
        self.desk
            .store()
            .save_conversation_with(
                &person.channel,
                &person.external_id,
                state,
                self.desk.now(),
                record,
            )
            .await?;
        Ok(true)
    }

    async fn save(&self, person: &Person, conv: Option<&Conversation>) -> Result<(), ChatError> {
        let state = conv
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| ChatError::State(e.to_string()))?;
        let now = self.desk.now();
        Ok(self
            .desk
            .store()
            .save_conversation(&person.channel, &person.external_id, state, now)
            .await?)
    }

    /// Input while no conversation runs: commands, or anything else starts a report
    /// (reporters) / lists jobs (engineers).
    async fn idle_input(
        &self,
        person: &Person,
        role: &Role,
        lang: Lang,
        input: Incoming,
    ) -> Result<Commanded, ChatError> {
        let (cmd, args) = match input {
            Incoming::Command(c, a) => (c, a),
            Incoming::Text(t) if t.trim_start().starts_with('/') => {
                let t = t.trim_start().trim_start_matches('/');
                let (c, a) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
                (c.to_owned(), a.trim().to_owned())
            }
            _ => ("start".into(), String::new()),
        };
        let cmd = cmd
            .split('@')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        self.command_with_args(person, role, lang, &cmd, &args)
            .await
    }

    async fn command(
        &self,
        person: &Person,
        role: &Role,
        lang: Lang,
        cmd: &str,
    ) -> Result<Commanded, ChatError> {
        if cmd == "lang" {
            if let Role::Reporter(r) = role {
                self.remember_lang(r, lang).await?;
            }
            return Ok((vec![], None));
        }
        self.command_with_args(person, role, lang, cmd, "").await
    }

    async fn command_with_args(
        &self,
        person: &Person,
        role: &Role,
        lang: Lang,
        cmd: &str,
        args: &str,
    ) -> Result<Commanded, ChatError> {
        if let ("start" | "report", Role::Reporter(r)) = (cmd, role) {
            return self.start_report(person, r, lang, args).await;
        }
        let none = serde_json::Value::Null;
        let replies = match (cmd, role) {
            ("status" | "mytickets" | "jobs", _) => self.status(role, lang).await,
            ("lang", _) => {
                let new = match args.trim() {
                    "en" | "english" | "English" => Lang::En,
                    "zh" | "zh-cn" | "zh-CN" | "中文" => Lang::ZhCn,
                    _ => {
                        return Ok((
                            vec![Outgoing::Text(self.flows.text("lang_usage", lang, &none))],
                            None,
                        ));
                    }
                };
                if let Role::Reporter(r) = role {
                    self.remember_lang(r, new).await?;
                }
                Ok(vec![Outgoing::Text(self.flows.text(
                    "lang_switched",
                    new,
                    &none,
                ))])
            }
            ("help", _) | ("cancel", _) | ("back", _) => {
                Ok(vec![Outgoing::Text(self.flows.text("help", lang, &none))])
            }
            ("job", Role::Engineer(e)) => self.open_job(person, e, args.trim(), lang).await,
            (_, Role::Engineer(_)) => self.status(role, lang).await,
            _ => Ok(vec![Outgoing::Text(self.flows.text(
                "unknown_command",
                lang,
                &none,
            ))]),
        }?;
        Ok((replies, None))
    }

    /// `/start`, `/report`: a new report (or the draft kept from an idle one), returned to
    /// be saved by the caller.
    async fn start_report(
        &self,
        person: &Person,
        r: &Reporter,
        lang: Lang,
        args: &str,
    ) -> Result<Commanded, ChatError> {
        let none = serde_json::Value::Null;
        let mut known = BTreeMap::new();
        if let Some(d) = &r.department {
            known.insert("department".to_owned(), d.clone());
        }
        if let Some(p) = &r.phone {
            known.insert("phone".to_owned(), p.clone());
        }
        // A QR sticker's deep link: /start asset_PRN-3F-02 fills in the device.
        if let Some(tag) = args.trim().strip_prefix("asset_") {
            known.insert("asset_tag".to_owned(), tag.to_owned());
        }
        // An unfinished report discarded for idleness comes back for a day.
        let since = self.desk.now() - DRAFT_KEPT;
        let draft = self
            .desk
            .store()
            .take_draft(&person.channel, &person.external_id, since)
            .await?;
        if let Some(conv) = draft.and_then(|d| serde_json::from_str::<Conversation>(&d).ok())
            && self.flows.is_valid(&conv)
        {
            let mut replies = vec![Outgoing::Text(self.flows.text(
                "draft_restored",
                conv.lang(),
                &none,
            ))];
            replies.extend(self.flows.current(&conv));
            return Ok((replies, Some(conv)));
        }
        let (conv, replies) = self
            .flows
            .start("fault_report", lang, &known)
            .map_err(|e| ChatError::State(e.to_string()))?;
        Ok((replies, Some(conv)))
    }

    async fn remember_lang(&self, r: &Reporter, lang: Lang) -> Result<(), ChatError> {
        let mut r = r.clone();
        r.language = Some(lang.as_code().to_owned());
        self.desk
            .store()
            .update_reporter(&r, self.desk.now())
            .await?;
        Ok(())
    }

    async fn status(&self, role: &Role, lang: Lang) -> Result<Vec<Outgoing>, ChatError> {
        let caller = match role {
            Role::Reporter(r) => Caller::Reporter(r.id),
            Role::Engineer(e) => Caller::Engineer(e.clone()),
        };
        let filter = TicketFilter {
            open_only: true,
            ..TicketFilter::default()
        };
        let page = self.desk.list(&caller, &filter, 1, 20).await?;
        if page.items.is_empty() {
            return Ok(vec![Outgoing::Text(self.flows.text(
                "no_open_tickets",
                lang,
                &serde_json::Value::Null,
            ))]);
        }
        let mut text = self.flows.text(
            "status_header",
            lang,
            &serde_json::json!({ "count": page.total }),
        );
        for t in &page.items {
            text.push('\n');
            text.push_str(
                &self
                    .flows
                    .text("status_line", lang, &notice_payload(t, None, None)),
            );
        }
        Ok(vec![Outgoing::Text(text)])
    }

    /// The reporter pressed "submit": file the report (ending the conversation, and with
    /// the door's record of the step after the replies `before`, in the same transaction)
    /// and answer with the receipt; true if the record was written.
    async fn submit(
        &self,
        person: &Person,
        r: &Reporter,
        conv: Conversation,
        answers: &BTreeMap<String, String>,
        before: &[Outgoing],
        record: &Recorder,
    ) -> Result<(Vec<Outgoing>, bool), ChatError> {
        let form = report_form(answers, self.desk.now());
        let caller = Caller::Reporter(r.id);
        let lang = conv.lang();
        let recorded = Arc::new(AtomicBool::new(false));
        let ticket_record = {
            let (flows, before, record, recorded) = (
                self.flows.clone(),
                before.to_vec(),
                record.clone(),
                recorded.clone(),
            );
            TicketRecord(Arc::new(move |t: &Ticket| {
                let mut all = before.clone();
                all.push(receipt(&flows, t, lang));
                let made = record(&all);
                recorded.store(made.is_some(), Ordering::Relaxed);
                made
            }))
        };
        let chat = (person.channel.as_str(), person.external_id.as_str());
        match self
            .desk
            .report_from_chat(&caller, r.id, form, chat, Some(ticket_record))
            .await
        {
            Ok(t) => Ok((
                vec![receipt(&self.flows, &t, lang)],
                recorded.load(Ordering::Relaxed),
            )),
            Err(DeskError::Invalid(problems)) => {
                // The flows validate as the desk does, so this means they disagree: keep the
                // conversation at the summary and say what the desk refused.
                self.save(person, Some(&conv)).await?;
                let lines: Vec<String> = problems.into_iter().map(|p| p.message).collect();
                Ok((vec![Outgoing::Text(lines.join("\n"))], false))
            }
            Err(e) => {
                self.save(person, Some(&conv)).await?;
                Err(e.into())
            }
        }
    }

    /// Why the question a notification button asks is closed, if it is.
    async fn closed_question(
        &self,
        flow: &str,
        t: &crate::domain::ticket::Ticket,
    ) -> Result<Option<DeskError>, ChatError> {
        use crate::desk::SurveyRefusal;
        use crate::domain::ticket::{Status, TicketError};
        Ok(match flow {
            "confirm_fix" if t.status != Status::Resolved => {
                Some(DeskError::Ticket(TicketError::IllegalTransition {
                    action: "confirm",
                    status: t.status,
                }))
            }
            "survey" => {
                let now = self.desk.now();
                match self.desk.store().survey(t.id).await? {
                    Some(s) if s.status == "sent" && s.expires_at > now => None,
                    Some(s) if s.status == "answered" => {
                        Some(DeskError::Survey(SurveyRefusal::Answered))
                    }
                    Some(s) if s.status == "expired" || s.status == "sent" => {
                        Some(DeskError::Survey(SurveyRefusal::Expired))
                    }
                    _ => Some(DeskError::Survey(SurveyRefusal::NotOpen)),
                }
            }
            _ => None,
        })
    }

    /// The reporter's answer to "is it fixed?" or to the survey, as a desk call.
    async fn closing(
        &self,
        r: &Reporter,
        conv: &Conversation,
        answers: &BTreeMap<String, String>,
    ) -> Vec<Outgoing> {
        let lang = conv.lang();
        let ticket = conv.var("ticket").unwrap_or_default().to_owned();
        let caller = Caller::Reporter(r.id);
        let vars = serde_json::json!({ "ticket": ticket });
        let answer = |key: &str| answers.get(key).cloned();
        let (result, done) = if conv.flow() == "confirm_fix" {
            let action = match answer("reason")
                .filter(|_| answer("fixed").as_deref() == Some("no"))
                .map(|reason| crate::domain::intake::Note::parse(&reason))
            {
                None => Ok(crate::domain::ticket::Action::Confirm),
                Some(Ok(reason)) => Ok(crate::domain::ticket::Action::Reopen(reason)),
                Some(Err(e)) => Err(DeskError::BadValue(e.to_string())),
            };
            let reopen = matches!(action, Ok(crate::domain::ticket::Action::Reopen(_)));
            let result = match action {
                Ok(a) => self.desk.act(&caller, &ticket, a).await.map(|_| ()),
                Err(e) => Err(e),
            };
            (
                result,
                if reopen {
                    "reopen_ack"
                } else {
                    "confirm_thanks"
                },
            )
        } else {
            let rating = answer("rating");
            let reply = crate::desk::SurveyReply {
                rating: rating
                    .as_deref()
                    .and_then(|r| r.strip_prefix('r'))
                    .and_then(|n| n.parse().ok()),
                comment: answer("comment"),
                complaint: rating.as_deref() == Some("complaint"),
            };
            let key = if reply.complaint {
                "complaint_ack"
            } else {
                "survey_thanks"
            };
            (self.desk.answer_survey(&caller, &ticket, reply).await, key)
        };
        match result {
            Ok(()) => vec![Outgoing::Text(self.flows.text(done, lang, &vars))],
            Err(e) => vec![Outgoing::Text(self.refusal(&e, &ticket, lang))],
        }
    }

    /// Opens a job card for an engineer as their conversation.
    async fn open_job(
        &self,
        person: &Person,
        e: &Engineer,
        number: &str,
        lang: Lang,
    ) -> Result<Vec<Outgoing>, ChatError> {
        match self.job_card(e, number, lang).await? {
            Ok((conv, card)) => {
                self.save(person, Some(&conv)).await?;
                Ok(card)
            }
            Err(refusal) => Ok(refusal),
        }
    }

    /// A job card conversation for a ticket the engineer may see, or the refusal to show.
    async fn job_card(
        &self,
        e: &Engineer,
        number: &str,
        lang: Lang,
    ) -> Result<Result<(Conversation, Vec<Outgoing>), Vec<Outgoing>>, ChatError> {
        let caller = Caller::Engineer(e.clone());
        let detail = match self.desk.ticket(&caller, number).await {
            Ok(d) => d,
            Err(e @ DeskError::NotFound(_)) => {
                return Ok(Err(vec![Outgoing::Text(self.refusal(&e, number, lang))]));
            }
            Err(other) => return Err(other.into()),
        };
        let known = payload_vars(&notice_payload(&detail.ticket, None, None));
        self.flows
            .start("engineer_job", lang, &known)
            .map(Ok)
            .map_err(|e| ChatError::State(e.to_string()))
    }

    async fn job_action(
        &self,
        e: &Engineer,
        ticket: &str,
        kind: &crate::flow::JobActionKind,
        lang: Lang,
    ) -> Vec<Outgoing> {
        let action = match to_ticket_action(kind) {
            Ok(Some(a)) => a,
            Ok(None) => return vec![],
            Err(problem) => return vec![Outgoing::Text(problem.to_string())],
        };
        match self
            .desk
            .act(&Caller::Engineer(e.clone()), ticket, action)
            .await
        {
            Ok(t) => {
                let payload = notice_payload(&t, Some(e.name.clone()), None);
                vec![Outgoing::Text(self.flows.text(
                    "status_line",
                    lang,
                    &payload,
                ))]
            }
            Err(refusal) => vec![Outgoing::Text(self.refusal(&refusal, ticket, lang))],
        }
    }

    /// A desk refusal as a sentence from bot-flows, in the person's language.
    fn refusal(&self, e: &DeskError, ticket: &str, lang: Lang) -> String {
        use crate::domain::ticket::TicketError;
        let none = serde_json::Value::Null;
        let (key, vars) = match e {
            DeskError::AlreadyTaken { by } => {
                ("already_taken", serde_json::json!({ "engineer": by }))
            }
            DeskError::NotFound(_) => ("not_found", serde_json::json!({ "ticket": ticket })),
            DeskError::Forbidden(_) | DeskError::Ticket(TicketError::Forbidden { .. }) => {
                ("not_allowed", none)
            }
            DeskError::Ticket(TicketError::IllegalTransition { status, .. }) => {
                ("not_now", serde_json::json!({ "status": status.as_str() }))
            }
            DeskError::Ticket(TicketError::AlreadyArrived) => ("already_arrived", none),
            DeskError::Survey(crate::desk::SurveyRefusal::Answered) => ("survey_already", none),
            DeskError::Survey(crate::desk::SurveyRefusal::Expired) => ("survey_expired", none),
            DeskError::Survey(crate::desk::SurveyRefusal::NotOpen) => ("survey_not_open", none),
            DeskError::Store(err) => {
                tracing::error!(error = %err, "chat action failed");
                ("try_again", none)
            }
            DeskError::Busy => ("try_again", none),
            // The remaining refusals carry specifics (which field, which group) in their sentence.
            other => return other.to_string(),
        };
        self.flows.text(key, lang, &vars)
    }
}

/// Reads a door's `group=id,…` setting (the chat each engineer group gets its job cards
/// in): `parse` accepts an id, `what` says what one looks like; on error, why, as a
/// sentence.
fn group_places<T>(
    value: &str,
    id_name: &str,
    parse: impl Fn(&str) -> Option<T>,
    what: &str,
) -> Result<BTreeMap<String, T>, String> {
    let mut places = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (group, id) = entry
            .split_once('=')
            .ok_or_else(|| format!("`{entry}` is not `group={id_name}`"))?;
        let (group, id) = (group.trim(), id.trim());
        let id = parse(id).ok_or_else(|| format!("`{id}` is not {what}"))?;
        if group.is_empty() {
            return Err(format!("`{entry}` names no group"));
        }
        if places.insert(group.to_owned(), id).is_some() {
            return Err(format!("group `{group}` is given twice"));
        }
    }
    Ok(places)
}
