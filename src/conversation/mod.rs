//! The platform-neutral conversation service. Every door (web chat, terminal, Telegram,
//! Discord) turns what a person sent into an [`Incoming`] and shows the [`Outgoing`]
//! replies in its own idiom; this module runs the bot-flows over the desk and keeps each
//! person's conversation in the database, durable before the reply goes out.
//!
//! A message is handled in two steps: [`Chat::step`] decides (answers the question,
//! prepares the report, runs the command) and returns a [`Turn`] holding the replies and
//! what is still to save; the door renders the replies, and [`Turn::save`] writes the
//! conversation (or files the report) together with the door's record of the message, in
//! one transaction. [`Chat::handle`] does both for doors that keep no record.

mod cards;
mod closing;
mod commands;
mod complaint;
mod inspection;
mod jobs;
mod knowledge;
mod lanes;
mod notice;
mod registers;

pub(crate) use cards::CardWall;
pub use cards::is_accept;
pub use lanes::Lanes;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::Duration;

use crate::desk::ports::{CardBoard, Conversations};
use crate::desk::{
    Desk, DeskError, Expect, FilingRecord, FromChat, ReportDraft, ReportForm, Reporter, StepRecord,
    StoreError, StoredConversation, notice_payload,
};
use crate::domain::channel::Channel;
use crate::domain::routing::Engineer;
use crate::domain::ticket::{Caller, Ticket};
use crate::flow::{Conversation, Flows, Incoming, Lang, Outcome, Outgoing, report_form};

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

/// An error that may mean only that the person's conversation changed while their
/// message was decided (see [`decide_settled`]).
pub trait Unsettled {
    /// Another instance, or a notice, saved the conversation meanwhile: nothing was
    /// written, and deciding the message again on what is there now is right.
    fn is_conflict(&self) -> bool;
}

impl Unsettled for ChatError {
    fn is_conflict(&self) -> bool {
        matches!(
            self,
            ChatError::Store(StoreError::Conflict)
                | ChatError::Desk(DeskError::Store(StoreError::Conflict))
        )
    }
}

/// How often a message is decided before a conflict is given up on: each retry means
/// another of the person's messages was saved meanwhile, so a few are plenty.
const DECIDE_ATTEMPTS: usize = 5;

/// Runs `attempt` (deciding one message and saving it) again while it fails only because
/// the person's conversation changed meanwhile (see [`Unsettled`]); doors wrap their step
/// and save in it.
pub async fn decide_settled<T, E, F, Fut>(mut attempt: F) -> Result<T, E>
where
    E: Unsettled,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_conflict() && tries < DECIDE_ATTEMPTS => tries += 1,
            done => return done,
        }
    }
}

/// How long a conversation may sit idle before it is discarded (kept 24 h as a draft).
pub const DEFAULT_IDLE: Duration = Duration::minutes(30);
const DRAFT_KEPT: Duration = Duration::hours(24);

/// The conversation service.
#[derive(Clone)]
pub struct Chat {
    desk: Desk,
    conversations: Conversations,
    cards: CardBoard,
    flows: Flows,
    idle: Duration,
    /// One person's messages are decided one at a time.
    turns: Lanes<String>,
    /// The version of each conversation as the turn deciding it read or last saved it.
    seen: Seen,
}

/// What each turn in progress expects its person's conversation to be (see [`Expect`]):
/// set when the turn reads it, moved on by each save, forgotten when the turn ends.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<HashMap<String, Expect>>>);

impl Seen {
    fn set(&self, key: &str, expect: Expect) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned(), expect);
    }

    fn get(&self, key: &str) -> Expect {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
            .unwrap_or(Expect::Absent)
    }

    fn forget(&self, key: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// A person's turn: their next message waits until this is dropped, and what the turn
/// saw of their conversation is forgotten with it.
struct Held {
    _lane: tokio::sync::OwnedMutexGuard<()>,
    seen: Seen,
    key: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.seen.forget(&self.key);
    }
}

/// The reporter or engineer behind a person.
enum Role {
    Reporter(Reporter),
    Engineer(Engineer),
}

impl Role {
    fn caller(&self) -> Caller {
        match self {
            Role::Reporter(r) => Caller::Reporter(r.id),
            Role::Engineer(e) => Caller::Engineer(e.clone()),
        }
    }
}

/// A message decided but not saved yet (see [`Chat::step`]). It holds the person's turn:
/// their next message waits until this one is saved or dropped.
#[must_use = "nothing is saved until `save` is called"]
pub struct Turn {
    chat: Chat,
    person: Person,
    replies: Vec<Outgoing>,
    save: Save,
    _turn: Held,
}

/// What a turn still has to write.
enum Save {
    /// Nothing (the step wrote what it changed itself): the door records the message on
    /// its own.
    Nothing,
    /// The conversation's new state (`None` ends it).
    State(Option<Conversation>),
    /// A report to file, ending the conversation; the last reply is its receipt, with
    /// `mark` where the ticket's number goes. `conv` stays at the summary if filing fails.
    Report {
        draft: Box<ReportDraft>,
        conv: Conversation,
        mark: String,
    },
}

/// What a saved turn says (see [`Turn::save`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    /// The replies, final (a receipt names its ticket).
    pub replies: Vec<Outgoing>,
    /// Whether the door's record was written with the turn.
    pub recorded: bool,
    /// A report was filed: the mark its receipt carried, and the ticket's number.
    filed: Option<(String, String)>,
}

impl Saved {
    /// A door's encoding of the turn's replies (as it gave it in its record) with the
    /// filed ticket's number in place of the mark, as the store wrote the record.
    pub fn numbered(&self, encoded: &str) -> String {
        match &self.filed {
            Some((mark, number)) => encoded.replace(mark, number),
            None => encoded.to_owned(),
        }
    }
}

impl Turn {
    /// The replies to show (a report's receipt carries a mark for its number until the
    /// report is filed).
    pub fn replies(&self) -> &[Outgoing] {
        &self.replies
    }

    /// Whether saving writes something, so that the door's record of the message can go
    /// in the same transaction; when not, the door writes its record itself.
    pub fn takes_record(&self) -> bool {
        !matches!(self.save, Save::Nothing)
    }

    /// Writes what the turn changed, with the door's `record` of the message when it
    /// [takes one](Turn::takes_record), in one transaction.
    pub async fn save(self, record: Option<StepRecord>) -> Result<Saved, ChatError> {
        let Turn {
            chat,
            person,
            mut replies,
            save,
            _turn,
        } = self;
        let saved = |replies, recorded| Saved {
            replies,
            recorded,
            filed: None,
        };
        match save {
            Save::Nothing => Ok(saved(replies, false)),
            Save::State(conv) => {
                let recorded = record.is_some();
                chat.save(&person, conv.as_ref(), record).await?;
                Ok(saved(replies, recorded))
            }
            Save::Report { draft, conv, mark } => {
                let record = record.map(|record| FilingRecord {
                    record,
                    mark: mark.clone(),
                });
                let recorded = record.is_some();
                let from = FromChat {
                    channel: person.channel.clone(),
                    external_id: person.external_id.clone(),
                    record,
                    expect: chat.seen.get(&person_key(&person)),
                };
                let receipt = draft.receipt_event();
                match chat.desk.file(*draft, Some(from)).await {
                    Ok(ticket) => {
                        // The receipt, now with its number.
                        replies.pop();
                        replies.push(chat.receipt(&ticket, receipt, None, conv.lang()));
                        Ok(Saved {
                            replies,
                            recorded,
                            filed: Some((mark, ticket.number.as_str().to_owned())),
                        })
                    }
                    Err(e) => {
                        let e = ChatError::from(e);
                        // Nothing was filed: the reporter stays at the summary to try
                        // again (unless the conversation moved on meanwhile: then the
                        // step is decided again).
                        if !e.is_conflict() {
                            chat.save(&person, Some(&conv), None).await?;
                        }
                        Err(e)
                    }
                }
            }
        }
    }
}

impl Chat {
    /// A service over the desk with these flows, keeping conversations and group cards
    /// through their ports; conversations idle for `idle` expire.
    pub fn new(
        desk: Desk,
        conversations: Conversations,
        cards: CardBoard,
        flows: Flows,
        idle: Duration,
    ) -> Chat {
        Chat {
            desk,
            conversations,
            cards,
            flows,
            idle,
            turns: Lanes::default(),
            seen: Seen::default(),
        }
    }

    /// Waits for the person's turn.
    async fn enter(&self, person: &Person) -> Held {
        let key = person_key(person);
        Held {
            _lane: self.turns.enter(key.clone()).await,
            seen: self.seen.clone(),
            key,
        }
    }

    /// The flows in use.
    pub fn flows(&self) -> &Flows {
        &self.flows
    }

    /// A text from the flows' messages, in a language (for what a door says itself).
    pub fn text(&self, key: &str, lang: Lang) -> String {
        self.flows.text(key, lang, &serde_json::Value::Null)
    }

    /// Handles one message and saves what it changed; the replies.
    pub async fn handle(
        &self,
        person: &Person,
        input: Incoming,
    ) -> Result<Vec<Outgoing>, ChatError> {
        Ok(self.answer(person, input, None).await?.replies)
    }

    /// Decides one message and saves it, with the door's `record` of it when the step
    /// takes one, in one transaction; decided again while the person's conversation
    /// changed meanwhile (see [`decide_settled`]).
    pub async fn answer(
        &self,
        person: &Person,
        input: Incoming,
        record: Option<StepRecord>,
    ) -> Result<Saved, ChatError> {
        decide_settled(|| async {
            let turn = self.step(person, input.clone()).await?;
            let record = record.clone().filter(|_| turn.takes_record());
            turn.save(record).await
        })
        .await
    }

    /// Decides one message from a reporter, or from an engineer whose chat identity is
    /// linked: the replies, and what is still to save (see [`Turn`]). Messages of one
    /// person are handled one at a time.
    pub async fn step(&self, person: &Person, input: Incoming) -> Result<Turn, ChatError> {
        let turn = self.enter(person).await;
        let (replies, save) = self.decide(person, input).await?;
        Ok(Turn {
            chat: self.clone(),
            person: person.clone(),
            replies,
            save,
            _turn: turn,
        })
    }

    async fn decide(
        &self,
        person: &Person,
        input: Incoming,
    ) -> Result<(Vec<Outgoing>, Save), ChatError> {
        // `/link CODE` is for engineers who are not linked yet: no reporter is needed.
        if let Some(code) = link_code(&input) {
            return Ok((self.link(person, &code).await, Save::Nothing));
        }
        let (role, stored) = match self.who(person).await? {
            Ok(found) => found,
            // A stranger `[intake] strangers` does not let in: told so, nothing stored.
            Err(admission) => {
                return Ok((
                    self.stranger(person, admission, &input).await?,
                    Save::Nothing,
                ));
            }
        };
        let lang = self.lang_for(person, &role);
        let (mut conversation, mut replies) = self.load(person, lang, stored).await?;
        if let Incoming::Choice(id) = &input
            && let Some(ticket) = Flows::choice_scope(id)
            && conversation.as_ref().and_then(|c| c.var("ticket")) != Some(ticket)
        {
            // A button of a job card or a notification (an offer posted to the group, "is
            // it fixed?", the survey) whose flow is not the open conversation: open that
            // flow for that ticket first, then press it.
            match self.open_for_button(&role, id, ticket, lang).await? {
                Some(Ok(conv)) => conversation = Some(conv),
                Some(Err(refusal)) => return Ok((refusal, Save::Nothing)),
                None => {}
            }
        }
        let Some(mut conv) = conversation else {
            let (more, started) = self.idle_input(person, &role, lang, input).await?;
            replies.extend(more);
            // A report started (or a draft restored) is saved with the door's record.
            let save = started.map_or(Save::Nothing, |c| Save::State(Some(c)));
            return Ok((replies, save));
        };
        // An answer to the knowledge-base articles offered during a report.
        if let Some(answered) = self.kb_answer(person, &role, &conv, &input).await? {
            replies.extend(answered);
            return Ok((replies, Save::Nothing));
        }
        let before = conv.step().to_owned();
        let step = self.flows.step(&mut conv, input);
        let first = replies.len();
        replies.extend(step.replies);
        let save = match step.outcome {
            Outcome::Continue => {
                self.kb_after_step(person, &role, conv, &before, &mut replies, first)
                    .await?
            }
            Outcome::Cancelled => Save::State(None),
            // The flow switched language: remembered as the reporter's choice.
            Outcome::Command(cmd, _) if cmd == "lang" => {
                if let Role::Reporter(r) = &role {
                    self.desk.set_language(r, conv.lang().as_code()).await?;
                }
                Save::State(Some(conv))
            }
            Outcome::Command(cmd, args) => {
                self.save(person, Some(&conv), None).await?;
                let (more, started) = self
                    .command(person, &role, conv.lang(), &cmd, &args)
                    .await?;
                replies.extend(more);
                if let Some(started) = started {
                    self.save(person, Some(&started), None).await?;
                }
                Save::Nothing
            }
            Outcome::Submitted(answers) => match (&role, conv.flow()) {
                (Role::Reporter(r), "confirm_fix" | "survey" | "remote_consent") => {
                    self.save(person, None, None).await?;
                    replies.extend(self.closing(r, &conv, &answers).await);
                    Save::Nothing
                }
                (Role::Reporter(r), "complaint") => {
                    self.save(person, None, None).await?;
                    replies.push(
                        self.complaint_answered(person, r, conv.lang(), &answers)
                            .await,
                    );
                    Save::Nothing
                }
                (Role::Reporter(r), _) => match self.prepare(person, r, &conv, &answers).await? {
                    Ok((draft, receipt, mark)) => {
                        replies.push(receipt);
                        Save::Report { draft, conv, mark }
                    }
                    Err(problems) => {
                        replies.push(problems);
                        Save::State(Some(conv))
                    }
                },
                (Role::Engineer(e), "inspection") => {
                    let (more, next) = self.inspection_submitted(e, &conv, &answers).await?;
                    replies.extend(more);
                    Save::State(next)
                }
                (Role::Engineer(_), _) => Save::State(None),
            },
            Outcome::JobAction(job) => {
                self.save(person, Some(&conv), None).await?;
                if let (Role::Engineer(e), Some(ticket)) = (&role, job.ticket) {
                    replies.extend(self.job_action(e, &ticket, &job.kind, conv.lang()).await);
                }
                Save::Nothing
            }
        };
        Ok((replies, save))
    }

    /// The reporter (or linked engineer) behind a person and their stored conversation.
    /// One round trip for a known reporter and their conversation: this runs per message.
    /// A caller who is nobody yet is made a reporter if the staff directory knows them or
    /// strangers are welcome; otherwise the admission that says what to tell them.
    #[allow(clippy::type_complexity)]
    async fn who(
        &self,
        person: &Person,
    ) -> Result<Result<(Role, Option<StoredConversation>), crate::desk::Admission>, ChatError> {
        let (channel, id) = (&person.channel, &person.external_id);
        let known = self
            .conversations
            .reporter_with_conversation(channel, id)
            .await?;
        let (role, stored) = match known {
            Some((r, stored, false)) => (Role::Reporter(r), stored),
            known => match self.linked_engineer(person).await? {
                Some(e) => (
                    Role::Engineer(e),
                    self.conversations.get(channel, id).await?,
                ),
                None => match known {
                    Some((r, stored, _)) => (Role::Reporter(r), stored),
                    None => match self.desk.admission(channel, id).await? {
                        crate::desk::Admission::Welcome(entry) => (
                            Role::Reporter(self.new_reporter(person, entry).await?),
                            None,
                        ),
                        stranger => return Ok(Err(stranger)),
                    },
                },
            },
        };
        self.seen
            .set(&person_key(person), Expect::of(stored.as_ref()));
        Ok(Ok((role, stored)))
    }

    /// Opens the flow a button belongs to, for its ticket, as the person's conversation;
    /// or the refusal to show when that question is closed or the ticket is not theirs;
    /// `None` for a button that opens no flow (the open conversation answers it).
    async fn open_for_button(
        &self,
        role: &Role,
        id: &str,
        ticket: &str,
        lang: Lang,
    ) -> Result<Option<Result<Conversation, Vec<Outgoing>>>, ChatError> {
        match role {
            // A button of an inspection's card (its scope is the job's reference).
            Role::Engineer(e) if self.flows.flow_of_choice(id) == Some("inspection") => {
                let opened = match crate::desk::inspections::parse_reference(ticket) {
                    Some(job) => self.inspection_card(e, job, lang).await?,
                    None => Err(vec![Outgoing::Text(self.text("not_allowed", lang))]),
                };
                Ok(Some(opened.map(|(conv, _)| conv)))
            }
            Role::Engineer(e) => Ok(Some(
                self.job_card(e, ticket, lang).await?.map(|(conv, _)| conv),
            )),
            Role::Reporter(r) => {
                let Some(flow) = self.flows.flow_of_choice(id) else {
                    return Ok(None);
                };
                let caller = Caller::Reporter(r.id);
                // Say at once when the question is no longer open, rather than after the
                // reporter has typed a comment.
                match self.question_open(&caller, flow, ticket).await {
                    Ok(t) => {
                        let known = payload_vars(&notice_payload(&t, None, None));
                        let (conv, _) = self
                            .flows
                            .start(flow, lang, &known)
                            .map_err(|e| ChatError::State(e.to_string()))?;
                        Ok(Some(Ok(conv)))
                    }
                    Err(e) => Ok(Some(Err(vec![Outgoing::Text(
                        self.refusal(&e, ticket, lang),
                    )]))),
                }
            }
        }
    }

    /// The reporter behind a person, created on first contact (their name must then be
    /// valid) with their door's language, which later notifications use.
    /// A stranger `[intake] strangers` does not let in is refused (`Forbidden`, with the
    /// sentence to show), and nothing is stored.
    pub async fn reporter(&self, person: &Person) -> Result<Reporter, ChatError> {
        let (channel, id) = (&person.channel, &person.external_id);
        if let Some(r) = self.desk.reporter_by_identity(channel, id).await? {
            return self.with_door_language(person, r).await;
        }
        match self.desk.admission(channel, id).await? {
            crate::desk::Admission::Welcome(entry) => self.new_reporter(person, entry).await,
            _ => {
                let lang = resolve_lang(None, person.language.as_deref());
                Err(ChatError::Desk(DeskError::Forbidden(
                    self.text("stranger_refused", lang),
                )))
            }
        }
    }

    /// Fills the department and phone of the reporter behind `person` from their
    /// platform's directory, where the record has none (see
    /// [`Desk::remember_directory`]); nothing for a linked engineer.
    pub async fn remember_directory(
        &self,
        person: &Person,
        department: Option<&str>,
        phone: Option<&str>,
    ) -> Result<(), ChatError> {
        if self.linked_engineer(person).await?.is_some() {
            return Ok(());
        }
        let r = self.reporter(person).await?;
        self.desk.remember_directory(&r, department, phone).await?;
        Ok(())
    }

    /// Opens a web chat invitation for a new web identity: true if the code was good (the
    /// identity is now the invited reporter's, who then hears in their own language).
    pub async fn join_by_invite(&self, code: &str, external_id: &str) -> Result<bool, ChatError> {
        Ok(self
            .desk
            .redeem_web_invite(code, external_id)
            .await?
            .is_some())
    }

    /// The engineer a person's chat identity is linked to, if any.
    pub async fn linked_engineer(&self, person: &Person) -> Result<Option<Engineer>, ChatError> {
        // The terminal is trusted: `baoxiu chat --engineer HANDLE` names the engineer.
        if person.channel == "console-engineer" {
            return Ok(self.desk.engineer_by_handle(&person.external_id).await?);
        }
        Ok(self
            .desk
            .engineer_by_identity(&person.channel, &person.external_id)
            .await?)
    }

    /// The language to speak to a person in: a reporter's saved choice, else their
    /// door's, else Chinese. The one rule every door uses.
    pub async fn lang_of(&self, person: &Person) -> Lang {
        let saved = self
            .desk
            .reporter_by_identity(&person.channel, &person.external_id)
            .await
            .ok()
            .flatten()
            .and_then(|r| r.language);
        resolve_lang(saved.as_deref(), person.language.as_deref())
    }

    fn lang_for(&self, person: &Person, role: &Role) -> Lang {
        let saved = match role {
            Role::Reporter(r) => r.language.as_deref(),
            Role::Engineer(_) => None,
        };
        resolve_lang(saved, person.language.as_deref())
    }

    /// What a person sees on arriving (or after a restart): their current question, or a
    /// welcome that starts a report.
    pub async fn resume(&self, person: &Person) -> Result<Vec<Outgoing>, ChatError> {
        {
            let _turn = self.enter(person).await;
            let lang = resolve_lang(None, person.language.as_deref());
            let stored = self
                .conversations
                .get(&person.channel, &person.external_id)
                .await?;
            self.seen
                .set(&person_key(person), Expect::of(stored.as_ref()));
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
        let now = self.conversations.now();
        let expired = self
            .conversations
            .expire(now - self.idle, now - DRAFT_KEPT, now)
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
                (person, self.text("discarded", lang))
            })
            .collect())
    }

    /// The stored conversation (as read with the person), unless it went idle (then it
    /// becomes a draft, which the next report restores) or no longer fits the flows (then
    /// the person is told and starts again).
    async fn load(
        &self,
        person: &Person,
        lang: Lang,
        stored: Option<StoredConversation>,
    ) -> Result<(Option<Conversation>, Vec<Outgoing>), ChatError> {
        let Some(StoredConversation {
            state,
            at: updated_at,
            ..
        }) = stored
        else {
            return Ok((None, vec![]));
        };
        let now = self.conversations.now();
        if updated_at + self.idle < now {
            // Gone idle while nobody swept: it becomes a draft, which the next message
            // (going through "start") restores with a word of explanation.
            self.conversations
                .expire(now - self.idle, now - DRAFT_KEPT, now)
                .await?;
            // This turn moved it away itself: what follows starts from nothing.
            self.seen.set(&person_key(person), Expect::Absent);
            return Ok((None, vec![]));
        }
        match serde_json::from_str::<Conversation>(&state) {
            Ok(c) if self.flows.is_valid(&c) => Ok((Some(c), vec![])),
            _ => {
                self.save(person, None, None).await?;
                Ok((None, vec![Outgoing::Text(self.text("flow_gone", lang))]))
            }
        }
    }

    /// Saves a conversation's state (`None` ends it), with the door's record if given, if
    /// it is still as this turn saw it (else `Conflict`, and nothing is written).
    async fn save(
        &self,
        person: &Person,
        conv: Option<&Conversation>,
        record: Option<StepRecord>,
    ) -> Result<(), ChatError> {
        let state = conv
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| ChatError::State(e.to_string()))?;
        let (channel, id) = (&person.channel, &person.external_id);
        let now = self.conversations.now();
        let key = person_key(person);
        let expect = self.seen.get(&key);
        let version = match record {
            Some(record) => {
                self.conversations
                    .save_with(channel, id, state, now, record, expect)
                    .await?
            }
            None => {
                self.conversations
                    .save(channel, id, state, now, expect)
                    .await?
            }
        };
        self.seen
            .set(&key, version.map_or(Expect::Absent, Expect::At));
        Ok(())
    }

    /// A submitted report, checked and decided by the desk: the draft, its receipt (with
    /// a mark for its number) and the mark; or, when the desk refuses it, what it said.
    async fn prepare(
        &self,
        person: &Person,
        r: &Reporter,
        conv: &Conversation,
        answers: &BTreeMap<String, String>,
    ) -> Result<Result<(Box<ReportDraft>, Outgoing, String), Outgoing>, ChatError> {
        let form = ReportForm {
            channel: Channel::of_door(&person.channel),
            ..report_form(answers, self.desk.now())
        };
        match self
            .desk
            .prepare_report(&Caller::Reporter(r.id), r.id, form)
            .await
        {
            Ok(draft) => {
                // Random, so nothing a reporter typed can pass for it.
                let mark = format!("BXNUMBER{:032x}", rand::random::<u128>());
                let receipt = self.receipt(
                    draft.ticket(),
                    draft.receipt_event(),
                    Some(&mark),
                    conv.lang(),
                );
                Ok(Ok((Box::new(draft), receipt, mark)))
            }
            // The flows validate as the desk does, so this means they disagree: the
            // conversation stays at the summary and the reporter hears what was refused.
            Err(DeskError::Invalid(problems)) => {
                let lines: Vec<String> = problems.into_iter().map(|p| p.message).collect();
                Ok(Err(Outgoing::Text(lines.join("\n"))))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The reply to a filed report (`event`: what it says happens next, see
    /// `ReportDraft::receipt_event`), naming the ticket (or `number` in its place).
    fn receipt(&self, t: &Ticket, event: &str, number: Option<&str>, lang: Lang) -> Outgoing {
        let mut payload = notice_payload(t, None, None);
        if let Some(number) = number {
            payload["ticket"] = number.into();
        }
        Outgoing::Text(self.flows.text(event, lang, &payload))
    }

    /// A desk refusal as a sentence from bot-flows, in the person's language.
    fn refusal(&self, e: &DeskError, ticket: &str, lang: Lang) -> String {
        use crate::desk::SurveyRefusal;
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
            DeskError::Ticket(TicketError::ConsentPending) => ("remote_consent_pending", none),
            DeskError::Ticket(TicketError::NoConsentAsked) => ("remote_consent_not_asked", none),
            DeskError::Survey(SurveyRefusal::Answered) => ("survey_already", none),
            DeskError::Survey(SurveyRefusal::Expired) => ("survey_expired", none),
            DeskError::Survey(SurveyRefusal::NotOpen) => ("survey_not_open", none),
            DeskError::Store(err) | DeskError::Unavailable(err) => {
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

/// Whose turn it is: a person on a door.
fn person_key(person: &Person) -> String {
    format!("{}\u{0}{}", person.channel, person.external_id)
}

/// A person's language: their saved choice, else their door's, else Chinese.
fn resolve_lang(saved: Option<&str>, door: Option<&str>) -> Lang {
    saved.or(door).map_or(Lang::ZhCn, Lang::from_code)
}

/// The code of a `/link CODE` command, typed or sent as one.
fn link_code(input: &Incoming) -> Option<String> {
    match input {
        Incoming::Command(name, args) if name.trim_start_matches('/') == "link" => {
            Some(args.trim().to_owned())
        }
        Incoming::Text(t) => crate::flow::parse_command(t)
            .filter(|(name, _)| name == "link")
            .map(|(_, code)| code),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_saved_language_wins_over_the_doors() {
        assert_eq!(resolve_lang(Some("en"), Some("zh-CN")), Lang::En);
        assert_eq!(resolve_lang(None, Some("en-GB")), Lang::En);
        assert_eq!(resolve_lang(None, None), Lang::ZhCn);
        assert_eq!(resolve_lang(Some("zh-CN"), Some("en")), Lang::ZhCn);
    }

    #[test]
    fn link_codes_come_typed_or_as_a_command() {
        let text = |t: &str| Incoming::Text(t.into());
        assert_eq!(link_code(&text("/link AB12CD")), Some("AB12CD".into()));
        assert_eq!(
            link_code(&text("/link@baoxiu_bot AB12CD")),
            Some("AB12CD".into())
        );
        assert_eq!(link_code(&text("/link")), Some(String::new()));
        assert_eq!(
            link_code(&Incoming::Command("link".into(), " X9 ".into())),
            Some("X9".into())
        );
        assert_eq!(link_code(&text("link AB12CD")), None);
        assert_eq!(link_code(&text("/linked")), None);
    }
}
