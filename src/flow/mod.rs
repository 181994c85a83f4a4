//! The conversation engine: runs the bot-flows files (`bot-flows/*.toml`) step by step,
//! platform-neutral and pure (no database, no network).
//!
//! An adapter turns a platform event into an [`Incoming`], calls [`Flows::step`] with the
//! person's persisted [`Conversation`], sends the [`Outgoing`] replies, and acts on the
//! [`Outcome`]: a finished fault report ([`report_form`] → the desk), an engineer's job
//! action ([`to_ticket_action`] → the desk), a cancellation, or a command such as `/status`
//! that the caller answers itself. Notification texts come from [`Flows::text`].

mod engine;
mod load;
mod model;
mod report;
mod template;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use report::{report_form, to_ticket_action};

use crate::domain::ticket::PendingReason;
use model::{Flow, Messages};

/// Answer key under which the photos of a report are kept (one reference per line).
pub const PHOTOS: &str = "photos";
/// Key of the submitted answers holding the category follow-ups (and other `detail`
/// steps) as readable lines in the reporter's language; [`report_form`] appends them to
/// the description.
pub const DETAILS: &str = "details";

/// The notification events the desk emits (see `crate::desk` and `Ticket::apply`); each
/// must have a text in `messages.toml`.
pub const EVENTS: [&str; 51] = [
    "ticket_received",
    "ticket_received_no_engineer",
    "ticket_received_unstaffed",
    "job_offered",
    "no_engineer_on_duty",
    "ticket_accepted",
    "ticket_accepted_resolution_only",
    "ticket_accepted_no_deadline",
    "job_taken",
    "work_started_remote",
    "remote_consent_request",
    "remote_consent_given",
    "remote_consent_refused",
    "engineer_on_the_way",
    "engineer_arrived",
    "progress_update",
    "reporter_comment",
    "engineer_comment",
    "ticket_pending",
    "ticket_resumed",
    "ticket_resolved",
    "ticket_confirmed",
    "ticket_reopened",
    "ticket_auto_closed",
    "confirm_reminder",
    "follow_up_due",
    "ticket_cancelled",
    "job_reassigned",
    "ticket_reassigned",
    "job_escalated_away",
    "ticket_escalated",
    "ticket_escalated_to_managers",
    "sla_warning",
    "sla_breached",
    "sla_escalated",
    "sla_reminder",
    "progress_overdue",
    "work_continues",
    "replacement_due",
    "replacement_offered",
    "loaner_issued",
    "delivery_failed",
    "survey_request",
    "complaint_filed",
    "web_invite",
    "complaint_received",
    "complaint_overdue",
    "complaint_outcome",
    "inspection_offered",
    "inspection_unstaffed",
    "inspection_done",
];

/// The placeholders an outbox payload provides to event texts.
pub const PAYLOAD: [&str; 28] = [
    "ticket",
    "priority",
    "status",
    "category",
    "site",
    "room",
    "summary",
    "engineer",
    "note",
    "response_due_at",
    "resolution_due_at",
    "on_site_due_at",
    "clock",
    "due_at",
    "hours",
    "failed_event",
    "error",
    "rating",
    "link",
    "complaint",
    "inspection",
    "plan",
    "period",
    "units",
    "units_planned",
    "faults",
    "signed_by",
    "inspection_status",
];

/// Commands the conversation service answers (the engine answers `cancel`, `back`,
/// `help` and `lang` itself). Every command works at every step.
pub const SERVICE_COMMANDS: [&str; 11] = [
    "start",
    "complain",
    "kb",
    "report",
    "status",
    "mytickets",
    "jobs",
    "job",
    "link",
    "inspect",
    "inspections",
];

/// The one command parser of every door: `/name args`, where the name is 1–32 letters,
/// digits or `_` (Telegram's rule; a mention `@bot` after it is dropped), lowercased.
/// Anything else — `/home/user is full`, a lone `/` — is not a command.
pub fn parse_command(text: &str) -> Option<(String, String)> {
    let rest = text.trim().strip_prefix('/')?;
    let (word, args) = rest
        .split_once(char::is_whitespace)
        .map_or((rest, ""), |(w, a)| (w, a.trim()));
    let name = word.split_once('@').map_or(word, |(name, _bot)| name);
    let ok = (1..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    ok.then(|| (name.to_ascii_lowercase(), args.to_owned()))
}

/// A language the texts exist in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lang {
    /// Simplified Chinese, the default.
    #[default]
    #[serde(rename = "zh-CN")]
    ZhCn,
    /// English.
    #[serde(rename = "en")]
    En,
}

impl Lang {
    /// From a platform language code: `en`, `en-US`, `EN_gb` → English; anything else
    /// (including `zh-Hans`, empty and unknown codes) → Chinese.
    pub fn from_code(code: &str) -> Lang {
        let code = code.trim().to_ascii_lowercase();
        if code == "en" || code.starts_with("en-") || code.starts_with("en_") {
            Lang::En
        } else {
            Lang::ZhCn
        }
    }

    /// The code used in the files and in storage: `zh-CN` or `en`.
    pub fn as_code(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// One problem found while loading bot-flows. `line` is 1-based; 0 means the whole file
/// (a missing file or a missing required entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowProblem {
    /// The file.
    pub file: PathBuf,
    /// The line, or 0 for the whole file.
    pub line: usize,
    /// What is wrong, as a sentence.
    pub reason: String,
}

impl fmt::Display for FlowProblem {
    /// `file:line: reason` (`file: reason` when the line is 0).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.reason)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
        }
    }
}

/// Why a conversation could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// No flow with this id was loaded.
    #[error("there is no flow named `{0}`")]
    UnknownFlow(String),
    /// The flow needs a value the caller did not pass (e.g. the job card's `ticket`).
    #[error("flow `{flow}` needs `{var}` to start")]
    MissingVar {
        /// The flow.
        flow: String,
        /// The missing value.
        var: String,
    },
    /// A value passed to start is unusable.
    #[error("`{var}` cannot be used: {reason}")]
    BadVar {
        /// The value's name.
        var: String,
        /// Why.
        reason: String,
    },
}

/// What a person sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// Typed text. Text starting with `/cancel`, `/back`, `/help`, `/status`, `/lang` or
    /// `/start` is treated as that command.
    Text(String),
    /// A button press: the id from [`Outgoing::Choices`].
    Choice(String),
    /// A photo: the platform's file reference.
    Photo(String),
    /// A shared contact: its phone number.
    Contact(String),
    /// A command without its slash (`"cancel"`, `"help@botname"` …) and its arguments.
    Command(String, String),
    /// A submitted form (see [`Outgoing::Form`]): field id → value. An absent or blank
    /// field is skipped where the step allows it.
    Form(BTreeMap<String, String>),
}

/// One field of a form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormField {
    /// The field id (send it back as the key in [`Incoming::Form`]).
    pub id: String,
    /// Short label.
    pub label: String,
    /// The question, as a placeholder or help text.
    pub hint: String,
    /// Whether it may be left empty.
    pub required: bool,
    /// Longest accepted value, in characters.
    pub max_len: usize,
    /// The current answer, when changing one.
    pub value: Option<String>,
}

/// Something to send to the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Outgoing {
    /// A plain message.
    Text(String),
    /// A message with buttons: `(id, label)`; the id comes back as [`Incoming::Choice`].
    /// Ids are at most 64 bytes (Telegram callback data). Typing the label, an alias or
    /// the option's number works as well, so platforms without buttons can list them.
    Choices {
        /// The question.
        text: String,
        /// The buttons, in order.
        options: Vec<(String, String)>,
    },
    /// Several text questions at once, for platforms with forms (web chat, Discord modals).
    /// It is always followed in the same batch by the first field's ordinary question:
    /// a platform that shows the form drops the replies after it; a platform without
    /// forms drops the form. Either way each field can also be answered as text in turn.
    Form {
        /// Title of the form.
        title: String,
        /// Its fields, in order.
        fields: Vec<FormField>,
    },
}

/// The result of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What to send, in order.
    pub replies: Vec<Outgoing>,
    /// What the caller must do.
    pub outcome: Outcome,
}

/// What the caller must do after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing: persist the conversation and wait for the next input.
    Continue,
    /// The reporter submitted: map with [`report_form`] and call the desk. The
    /// conversation stays at the summary (so a failed call can be retried); drop it once
    /// the desk has the report.
    Submitted(BTreeMap<String, String>),
    /// An engineer acted on a job: map with [`to_ticket_action`] and call the desk. The
    /// conversation is back at the job card, ready for the next action.
    JobAction(JobAction),
    /// The person cancelled: drop the conversation.
    Cancelled,
    /// One of the [`SERVICE_COMMANDS`] with its arguments, for the caller to answer; or
    /// `lang` (with the new code) after the conversation switched language (store it as
    /// the person's choice).
    Command(String, String),
}

/// An engineer's action on a job, before it becomes a `crate::domain::ticket::Action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobAction {
    /// The ticket number the job card was for (the flow's `ticket` var).
    pub ticket: Option<String>,
    /// What to do.
    pub kind: JobActionKind,
}

/// The actions of the job card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobActionKind {
    /// Take the job.
    Accept,
    /// Not me: nothing changes on the ticket (the offer stays with the group).
    Decline,
    /// Working on it remotely.
    StartRemote,
    /// On the way to site.
    OnMyWay,
    /// At the reporter's desk.
    Arrived,
    /// A progress note for the reporter.
    Progress {
        /// The note.
        note: String,
    },
    /// Waiting for parts from a vendor, or for the reporter.
    NeedParts {
        /// What it waits for.
        reason: PendingReason,
        /// Why.
        note: String,
    },
    /// Fixed.
    Resolve {
        /// Root cause.
        cause: String,
        /// What fixed it.
        solution: String,
    },
}

/// The state of one person's conversation: small and serialisable, persisted per person.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Conversation {
    flow: String,
    step: String,
    lang: Lang,
    /// Choosing which answer to change (at the summary step).
    #[serde(default, skip_serializing_if = "is_false")]
    picking: bool,
    /// Answering a changed question: answered steps are passed until the summary.
    #[serde(default, skip_serializing_if = "is_false")]
    changing: bool,
    /// Cancelled: the caller should drop it.
    #[serde(default, skip_serializing_if = "is_false")]
    done: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    answers: BTreeMap<String, String>,
    /// Steps asked before the current one, for `/back` (capped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    history: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    vars: BTreeMap<String, String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Conversation {
    /// The flow it runs.
    pub fn flow(&self) -> &str {
        &self.flow
    }

    /// The step waiting for an answer.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// The language it speaks.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// Changes the language (e.g. when the platform reports a new one).
    pub fn set_lang(&mut self, lang: Lang) {
        self.lang = lang;
    }

    /// The answers so far, by answer key (option ids for choices, text otherwise, ""
    /// for a skipped question).
    pub fn answers(&self) -> &BTreeMap<String, String> {
        &self.answers
    }

    /// A value passed at start (e.g. `ticket` for a job card).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Whether it was cancelled (the caller should drop it).
    pub fn is_finished(&self) -> bool {
        self.done
    }

    /// Sets (or, with `None`, removes) a value the caller keeps with the conversation
    /// (e.g. the knowledge-base articles offered during a report, see
    /// `conversation::knowledge`); read it back with [`Conversation::var`].
    pub fn set_var(&mut self, name: &str, value: Option<String>) {
        match value {
            Some(v) => {
                self.vars.insert(name.to_owned(), v);
            }
            None => {
                self.vars.remove(name);
            }
        }
    }
}

/// The `bot-flows/` files built into the binary, `(file name, contents)`: the service
/// runs on them unless `[chat] flows_dir` names a directory, so the binary needs no
/// source tree (`baoxiu flows export DIR` writes them out for editing).
pub const EMBEDDED: [(&str, &str); 9] = [
    ("README.md", include_str!("../../bot-flows/README.md")),
    (
        "complaint.toml",
        include_str!("../../bot-flows/complaint.toml"),
    ),
    (
        "confirm_fix.toml",
        include_str!("../../bot-flows/confirm_fix.toml"),
    ),
    (
        "engineer_job.toml",
        include_str!("../../bot-flows/engineer_job.toml"),
    ),
    (
        "fault_report.toml",
        include_str!("../../bot-flows/fault_report.toml"),
    ),
    (
        "inspection.toml",
        include_str!("../../bot-flows/inspection.toml"),
    ),
    (
        "messages.toml",
        include_str!("../../bot-flows/messages.toml"),
    ),
    (
        "remote_consent.toml",
        include_str!("../../bot-flows/remote_consent.toml"),
    ),
    ("survey.toml", include_str!("../../bot-flows/survey.toml")),
];

/// The loaded, validated bot-flows: flows and message texts. Cheap to clone.
#[derive(Clone)]
pub struct Flows {
    inner: Arc<Inner>,
    tz: chrono_tz::Tz,
}

struct Inner {
    flows: HashMap<String, Flow>,
    messages: Messages,
}

impl fmt::Debug for Flows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.inner.flows.keys().collect();
        ids.sort();
        f.debug_struct("Flows")
            .field("flows", &ids)
            .field("messages", &self.inner.messages.texts.len())
            .field("tz", &self.tz)
            .finish()
    }
}

impl Flows {
    /// Loads and validates every file in `dir`; on any mistake returns all problems found.
    pub fn load_dir(dir: &Path) -> Result<Flows, Vec<FlowProblem>> {
        Ok(Self::from_loaded(load::load_dir(dir)?))
    }

    fn from_loaded(loaded: load::Loaded) -> Flows {
        Flows {
            inner: Arc::new(Inner {
                flows: loaded.flows,
                messages: loaded.messages,
            }),
            tz: chrono_tz::Asia::Shanghai,
        }
    }

    /// The `bot-flows/` directory of the source tree, for tests only: the service uses
    /// the copy embedded in the binary ([`Flows::embedded`]) and never the source tree.
    #[cfg(test)]
    pub(crate) fn builtin_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bot-flows")
    }

    /// Loads and validates the files embedded in the binary ([`EMBEDDED`]); problems name
    /// them `bot-flows/NAME`.
    pub fn embedded() -> Result<Flows, Vec<FlowProblem>> {
        let dir = Path::new("bot-flows");
        let sources = EMBEDDED
            .iter()
            .filter(|(name, _)| name.ends_with(".toml"))
            .map(|(name, text)| (dir.join(name), (*text).to_owned()))
            .collect();
        Ok(Self::from_loaded(load::load_sources(
            dir,
            sources,
            Vec::new(),
        )?))
    }

    /// The configured directory's files if one is given, else the embedded ones.
    pub fn load(dir: Option<&Path>) -> Result<Flows, Vec<FlowProblem>> {
        match dir {
            Some(dir) => Self::load_dir(dir),
            None => Self::embedded(),
        }
    }

    /// Writes the embedded files (the flows, the texts and the format's README) into
    /// `dir`, creating it; refuses to overwrite a file that is already there. Returns the
    /// paths written.
    pub fn export(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        for (name, text) in EMBEDDED {
            let path = dir.join(name);
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            std::io::Write::write_all(&mut file, text.as_bytes())?;
            written.push(path);
        }
        Ok(written)
    }

    /// The same flows, showing `*_at` times in `tz` (default Asia/Shanghai).
    pub fn with_time_zone(mut self, tz: chrono_tz::Tz) -> Flows {
        self.tz = tz;
        self
    }

    /// The ids of the loaded flows, sorted.
    pub fn flow_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.inner.flows.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// A message text from `messages.toml` with `{placeholders}` filled from the JSON
    /// object `vars` (an outbox payload). A missing or null value shows as "—"; values
    /// with a translation (`[value.category]`, `[value.status]` …) are translated; RFC 3339
    /// times in `*_at` values are shown as local `YYYY-MM-DD HH:MM`. An unknown key returns
    /// the key itself, so a gap is visible rather than silent.
    pub fn text(&self, key: &str, lang: Lang, vars: &serde_json::Value) -> String {
        let Some(text) = self.inner.messages.texts.get(key) else {
            return key.to_owned();
        };
        text.get(lang).render(&mut |name| {
            let raw = match vars.get(name)? {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => return None,
                other => other.to_string(),
            };
            Some(self.show_value(name, &raw, lang))
        })
    }

    /// A placeholder value for display: translated, or a local time.
    fn show_value(&self, name: &str, raw: &str, lang: Lang) -> String {
        if let Some(t) = self
            .inner
            .messages
            .values
            .get(&(name.to_owned(), raw.to_owned()))
        {
            return t.plain(lang);
        }
        if name.ends_with("_at")
            && let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw)
        {
            return t
                .with_timezone(&self.tz)
                .format("%Y-%m-%d %H:%M")
                .to_string();
        }
        raw.to_owned()
    }

    /// Starts a flow in `lang`. `known` holds what is already known: the flow's declared
    /// `vars` (a job card's `ticket`, `priority` …) and remembered answers (`department`,
    /// `phone`) that steps marked `ask = "if_missing"` then skip. Other keys are ignored.
    pub fn start(
        &self,
        flow: &str,
        lang: Lang,
        known: &BTreeMap<String, String>,
    ) -> Result<(Conversation, Vec<Outgoing>), FlowError> {
        engine::start(self, flow, lang, known)
    }

    /// Runs one input through the conversation. Never panics; bad input is answered with
    /// the current step's hint and leaves the conversation where it was.
    pub fn step(&self, conv: &mut Conversation, input: Incoming) -> Step {
        engine::step(self, conv, input)
    }

    /// The ticket number a scoped choice id (a job-card button, `card:accept@BX-2026-000123`)
    /// belongs to, so an adapter can find or start that job's conversation first.
    pub fn choice_scope(choice_id: &str) -> Option<&str> {
        choice_id.split_once('@').map(|(_, scope)| scope)
    }

    /// The scoped flow a button belongs to: the one whose first step made it (a button on
    /// a notification — a job offer, "is it fixed?", a survey — opens that flow).
    pub fn flow_of_choice(&self, choice_id: &str) -> Option<&str> {
        let (step, _) = choice_id.split_once(':')?;
        Flows::choice_scope(choice_id)?;
        let mut ids: Vec<&String> = self.inner.flows.keys().collect();
        ids.sort();
        ids.into_iter()
            .find(|id| {
                let f = &self.inner.flows[id.as_str()];
                f.scoped && f.steps.get(f.start).is_some_and(|s| s.id == step)
            })
            .map(String::as_str)
    }

    /// Replays the current question (after a restart, or when the person asks "where was
    /// I?"): the same replies the last step ended with.
    pub fn current(&self, conv: &Conversation) -> Vec<Outgoing> {
        engine::current(self, conv)
    }

    /// Whether `conv` points at a flow and step that exist (a conversation stored before the
    /// flows were edited may not; `step` then restarts it).
    pub fn is_valid(&self, conv: &Conversation) -> bool {
        self.inner
            .flows
            .get(&conv.flow)
            .is_some_and(|f| f.index.contains_key(&conv.step))
    }
}
