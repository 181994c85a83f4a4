//! Running a conversation: one input in, replies and an outcome out. The state machine is
//! small on purpose — ask, accept an answer, move on (skipping what is already known),
//! summarise, change, go back — and every refusal re-states the current step's hint.

use std::collections::BTreeMap;
use std::str::FromStr;

use super::model::{Finish, Flow, JobKind, Kind, Target};
use super::template::Text;
use super::{
    Conversation, DETAILS, FlowError, Flows, FormField, Incoming, JobAction, JobActionKind, Lang,
    Outcome, Outgoing, PAYLOAD, PHOTOS, Step,
};
use crate::domain::ticket::PendingReason;

/// Texts the engine itself needs from `messages.toml`, with the placeholders each may use.
pub(crate) const ENGINE_TEXTS: &[(&str, &[&str])] = &[
    ("help", &[]),
    ("cancelled", &[]),
    ("nothing_to_go_back", &[]),
    ("unknown_command", &["command"]),
    ("discarded", &[]),
    ("status_header", &["count"]),
    ("status_line", &PAYLOAD),
    ("no_open_tickets", &[]),
    ("finished", &[]),
    ("flow_gone", &[]),
    ("restarted", &[]),
    ("lang_switched", &[]),
    ("lang_usage", &[]),
    ("skip", &[]),
    ("skipped", &[]),
    ("change_which", &[]),
    ("change_back", &[]),
    ("current_answer", &["value"]),
    ("summary_line", &["label", "value"]),
    ("summary_photos", &["count"]),
    ("detail_line", &["label", "value"]),
    ("photo_received", &["count"]),
    ("too_many_photos", &["max"]),
    ("bad_empty", &[]),
    ("bad_too_long", &["len", "max"]),
    ("bad_control", &[]),
    ("bad_no_words", &[]),
    ("bad_pattern", &[]),
    ("bad_number", &["min", "max"]),
    ("bad_choice", &[]),
    ("stale_button", &[]),
    ("bad_photo", &[]),
    ("bad_contact", &[]),
    ("bad_form", &[]),
    ("form_field", &["label", "reason"]),
    // Replies of the chat service (src/conversation) around the flows.
    ("draft_restored", &[]),
    ("comment_added", &["ticket"]),
    ("remote_allowed_ack", &["ticket"]),
    ("remote_refused_ack", &["ticket"]),
    ("remote_consent_pending", &[]),
    ("remote_consent_not_asked", &[]),
    ("remote_consent_waiting", &["ticket"]),
    ("already_taken", &["engineer"]),
    ("offer_moved_on", &["ticket"]),
    ("not_found", &["ticket"]),
    ("not_allowed", &[]),
    ("not_now", &["status"]),
    ("already_arrived", &[]),
    ("try_again", &[]),
    // Replies to "is it fixed?" and to the survey (src/conversation).
    ("confirm_thanks", &["ticket"]),
    ("reopen_ack", &["ticket"]),
    ("survey_thanks", &["ticket"]),
    ("complaint_ack", &["ticket"]),
    // `/complain` (src/conversation).
    ("complaint_recorded", &["complaint", "due_at"]),
    ("survey_already", &[]),
    ("survey_expired", &[]),
    ("survey_not_open", &[]),
    // The knowledge base: `/kb`, the offer at intake, the job card (src/conversation).
    ("kb_usage", &[]),
    ("kb_none", &[]),
    ("kb_results", &["count"]),
    ("kb_line", &["article", "title", "solution"]),
    ("kb_line_draft", &["article", "title", "solution"]),
    ("kb_related", &[]),
    ("kb_offer", &[]),
    ("kb_offer_line", &["n", "title", "solution"]),
    ("kb_solved_button", &["n"]),
    ("kb_no_button", &[]),
    ("kb_self_solved", &["title"]),
    ("kb_declined", &[]),
    // Replies of the chat doors (src/doors).
    ("link_usage", &[]),
    ("link_done", &["engineer"]),
    ("link_refused", &[]),
    ("link_locked", &["due_at"]),
    ("unsupported_message", &[]),
    // The Discord door (src/doors/discord): slash-command descriptions, card replies.
    ("cmd_report", &[]),
    ("cmd_status", &[]),
    ("cmd_mytickets", &[]),
    ("cmd_cancel", &[]),
    ("cmd_lang", &[]),
    ("cmd_lang_option", &[]),
    ("cmd_link", &[]),
    ("cmd_link_option", &[]),
    ("cmd_complain", &[]),
    ("cmd_complain_option", &[]),
    ("card_not_engineer", &[]),
];

/// Commands the engine answers itself; with the service's (`super::SERVICE_COMMANDS`),
/// the words that typed after a slash are a command at every step. Any other slash word
/// is an answer (`/var is full` describes a fault).
const COMMANDS: [&str; 4] = ["cancel", "back", "help", "lang"];
/// Typed words that skip an optional question (besides the skip button's labels).
const SKIP_WORDS: [&str; 10] = [
    "skip",
    "跳过",
    "-",
    "—",
    "无",
    "没有",
    "不知道",
    "不清楚",
    "n/a",
    "none",
];
/// `/back` remembers this many steps; older ones are forgotten to keep state small.
const MAX_HISTORY: usize = 32;
/// Photos per report (the desk's limit) and the longest accepted file reference.
const MAX_PHOTOS: usize = 10;
const MAX_PHOTO_REF: usize = 512;
/// Values passed at start are capped so a conversation stays small.
const MAX_VAR_LEN: usize = 300;
/// The picker's pseudo-step and its "back to the summary" option.
const PICKER: &str = "change";
const PICKER_BACK: &str = "_back";

/// `step:option`, with `@scope` for a scoped flow.
pub(crate) fn choice_id(step: &str, option: &str, scope: Option<&str>) -> String {
    match scope {
        Some(s) => format!("{step}:{option}@{s}"),
        None => format!("{step}:{option}"),
    }
}

/// How typed words are compared: trimmed, lower-case, full-width forms folded to ASCII,
/// inner spaces collapsed, trailing punctuation dropped ("２。" → "2").
pub(crate) fn normalize(s: &str) -> String {
    let folded: String = s
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect();
    let words: Vec<&str> = folded.split_whitespace().collect();
    words
        .join(" ")
        .trim_end_matches(['.', '。', '!', '?', '、', ','])
        .trim()
        .to_owned()
}

/// Why an input was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bad {
    Empty,
    TooLong(usize, usize),
    Control,
    NoWords,
    Pattern,
    Number(i64, i64),
    Choice,
    Stale,
    Photo,
    TooManyPhotos,
    Contact,
    Form(Vec<String>),
}

enum Typed {
    Skip,
    Opt(usize),
}

pub(super) fn start(
    flows: &Flows,
    flow_id: &str,
    lang: Lang,
    known: &BTreeMap<String, String>,
) -> Result<(Conversation, Vec<super::Outgoing>), FlowError> {
    let flow = flows
        .inner
        .flows
        .get(flow_id)
        .ok_or_else(|| FlowError::UnknownFlow(flow_id.to_owned()))?;
    let mut vars = BTreeMap::new();
    for v in &flow.vars {
        if let Some(value) = known.get(v) {
            let clean: String = value
                .trim()
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(MAX_VAR_LEN)
                .collect();
            vars.insert(v.clone(), clean);
        }
    }
    if flow.scoped {
        let ticket = vars.get("ticket").ok_or_else(|| FlowError::MissingVar {
            flow: flow_id.to_owned(),
            var: "ticket".into(),
        })?;
        let ok = (1..super::load::SCOPE_RESERVE).contains(&ticket.len())
            && ticket
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(FlowError::BadVar {
                var: "ticket".into(),
                reason: "a ticket number of letters, digits and '-', at most 26 bytes".into(),
            });
        }
    }
    let mut conv = Conversation {
        flow: flow_id.to_owned(),
        step: flow.steps[flow.start].id.clone(),
        lang,
        picking: false,
        changing: false,
        done: false,
        answers: BTreeMap::new(),
        history: Vec::new(),
        vars,
    };
    let mut run = Run {
        flows,
        flow,
        conv: &mut conv,
        out: Vec::new(),
    };
    // Remembered answers are used only when they would pass the step's own checks.
    for (i, s) in flow.steps.iter().enumerate() {
        if let (true, Some(key)) = (s.if_missing, &s.answer)
            && let Some(value) = known.get(key)
            && let Ok(clean) = run.typed_text(i, value)
        {
            run.conv.answers.insert(key.clone(), clean);
        }
    }
    if let Some(intro) = &flow.intro {
        let text = run.render(intro);
        run.out.push(Outgoing::Text(text));
    }
    run.enter(flow.start);
    let out = run.out;
    Ok((conv, out))
}

pub(super) fn step(flows: &Flows, conv: &mut Conversation, input: Incoming) -> Step {
    let lang = conv.lang;
    let Some(flow) = flows.inner.flows.get(&conv.flow) else {
        conv.done = true;
        return Step {
            replies: vec![Outgoing::Text(message(flows, "flow_gone", lang, &[]))],
            outcome: Outcome::Cancelled,
        };
    };
    if conv.done {
        return Step {
            replies: vec![Outgoing::Text(message(flows, "finished", lang, &[]))],
            outcome: Outcome::Cancelled,
        };
    }
    let mut run = Run {
        flows,
        flow,
        conv,
        out: Vec::new(),
    };
    let outcome = match flow.index.get(&run.conv.step) {
        // Stored before the flows were edited: start over, keeping the answers.
        None => {
            run.restart();
            Outcome::Continue
        }
        Some(&i) => run.handle(i, input),
    };
    Step {
        replies: run.out,
        outcome,
    }
}

pub(super) fn current(flows: &Flows, conv: &Conversation) -> Vec<Outgoing> {
    let mut conv = conv.clone();
    let lang = conv.lang;
    let Some(flow) = flows.inner.flows.get(&conv.flow) else {
        return vec![Outgoing::Text(message(flows, "flow_gone", lang, &[]))];
    };
    if conv.done {
        return vec![Outgoing::Text(message(flows, "finished", lang, &[]))];
    }
    let mut run = Run {
        flows,
        flow,
        conv: &mut conv,
        out: Vec::new(),
    };
    match flow.index.get(&run.conv.step) {
        None => run.restart(),
        Some(&i) => run.reshow(i),
    }
    run.out
}

fn message(flows: &Flows, key: &str, lang: Lang, vars: &[(&str, &str)]) -> String {
    match flows.inner.messages.texts.get(key) {
        Some(t) => t.get(lang).render(&mut |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }),
        None => key.to_owned(),
    }
}

fn join(a: String, b: String) -> String {
    if a.is_empty() {
        b
    } else if b.is_empty() {
        a
    } else {
        format!("{a}\n{b}")
    }
}

/// One step's work: the flow, the conversation it changes, and the replies so far.
struct Run<'a, 'c> {
    flows: &'a Flows,
    flow: &'a Flow,
    conv: &'c mut Conversation,
    out: Vec<Outgoing>,
}

impl Run<'_, '_> {
    fn lang(&self) -> Lang {
        self.conv.lang
    }

    fn msg(&self, key: &str, vars: &[(&str, &str)]) -> String {
        message(self.flows, key, self.lang(), vars)
    }

    fn scope(&self) -> Option<&str> {
        if self.flow.scoped {
            self.conv.vars.get("ticket").map(String::as_str)
        } else {
            None
        }
    }

    fn cid(&self, step: &str, option: &str) -> String {
        choice_id(step, option, self.scope())
    }

    /// A step text with answers and vars filled in.
    fn render(&self, text: &Text) -> String {
        text.get(self.lang()).render(&mut |name| {
            if let Some(v) = self.conv.answers.get(name) {
                let owner = self
                    .flow
                    .steps
                    .iter()
                    .position(|s| s.answer.as_deref() == Some(name));
                return Some(match owner {
                    Some(i) => self.display(i, v),
                    None => v.clone(),
                });
            }
            self.conv
                .vars
                .get(name)
                .map(|v| self.flows.show_value(name, v, self.lang()))
        })
    }

    /// How a stored answer reads: the option's label, "skipped", or the text.
    fn display(&self, i: usize, value: &str) -> String {
        let s = &self.flow.steps[i];
        if value.is_empty() {
            return self.msg("skipped", &[]);
        }
        match s.option_for(value) {
            Some(o) => s.options[o].label.plain(self.lang()),
            None => value.to_owned(),
        }
    }

    fn answer_of(&self, i: usize) -> Option<&str> {
        let key = self.flow.steps[i].answer.as_ref()?;
        self.conv.answers.get(key).map(String::as_str)
    }

    /// Answered with a value this version of the flow understands.
    fn answered(&self, i: usize) -> bool {
        let s = &self.flow.steps[i];
        self.answer_of(i)
            .is_some_and(|v| s.kind != Kind::Choice || s.option_for(v).is_some())
    }

    fn chosen(&self, i: usize) -> Option<usize> {
        self.answer_of(i)
            .and_then(|v| self.flow.steps[i].option_for(v))
    }

    fn options(&self, i: usize) -> Vec<(String, String)> {
        let s = &self.flow.steps[i];
        let mut out: Vec<(String, String)> = s
            .options
            .iter()
            .map(|o| (self.cid(&s.id, &o.id), o.label.plain(self.lang())))
            .collect();
        if s.skip {
            out.push((self.cid(&s.id, "skip"), self.msg("skip", &[])));
        }
        out
    }

    fn with_options(&self, i: usize, text: String) -> Outgoing {
        let options = self.options(i);
        if options.is_empty() {
            Outgoing::Text(text)
        } else {
            Outgoing::Choices { text, options }
        }
    }

    fn push_history(&mut self, i: usize) {
        self.conv.history.push(self.flow.steps[i].id.clone());
        if self.conv.history.len() > MAX_HISTORY {
            self.conv.history.remove(0);
        }
    }

    /// The path the answers take from the start towards `until`, and whether it gets there.
    fn walk(&self, until: usize) -> (Vec<usize>, bool) {
        let mut path = Vec::new();
        let mut seen = vec![false; self.flow.steps.len()];
        let mut i = self.flow.start;
        loop {
            if std::mem::replace(&mut seen[i], true) {
                return (path, false);
            }
            path.push(i);
            if i == until {
                return (path, true);
            }
            if !self.answered(i) {
                return (path, false);
            }
            match self.flow.target(i, self.chosen(i)) {
                Target::Next(n) => i = n,
                _ => return (path, false),
            }
        }
    }

    /// Forgets answers of branches no longer taken (a category changed from printer to
    /// network leaves no printer model behind).
    fn prune(&mut self, path: &[usize]) {
        let keep: Vec<&str> = path
            .iter()
            .flat_map(|&i| self.flow.steps[i].keys())
            .collect();
        self.conv.answers.retain(|k, _| keep.contains(&k.as_str()));
    }

    // ---- asking ----

    /// Moves to step `i`, passing steps whose answer is already known (remembered ones, or
    /// every answered one while changing an answer).
    fn enter(&mut self, mut i: usize) {
        let flow = self.flow;
        for _ in 0..=flow.steps.len() {
            let s = &flow.steps[i];
            if s.kind == Kind::Summary {
                self.enter_summary(i);
                return;
            }
            if (s.if_missing || self.conv.changing)
                && self.answered(i)
                && let Target::Next(n) = flow.target(i, self.chosen(i))
            {
                i = n;
                continue;
            }
            break;
        }
        self.conv.step = flow.steps[i].id.clone();
        self.conv.picking = false;
        self.ask(i);
    }

    fn ask(&mut self, i: usize) {
        let flow = self.flow;
        let s = &flow.steps[i];
        if let Some((f, true)) = s.form {
            let form = self.form(f);
            self.out.push(form);
        }
        let mut text = self.render(&s.text);
        if self.conv.changing
            && let Some(v) = self.answer_of(i)
        {
            let shown = self.display(i, v);
            text = join(text, self.msg("current_answer", &[("value", &shown)]));
        }
        let q = self.with_options(i, text);
        self.out.push(q);
    }

    fn form(&self, f: usize) -> Outgoing {
        let form = &self.flow.forms[f];
        let fields = form
            .steps
            .iter()
            .map(|&i| {
                let s = &self.flow.steps[i];
                FormField {
                    id: s.id.clone(),
                    label: s
                        .label
                        .as_ref()
                        .map_or_else(|| s.id.clone(), |l| l.plain(self.lang())),
                    hint: self.render(&s.text),
                    required: !s.skip,
                    max_len: s.max_len,
                    value: self
                        .answer_of(i)
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned),
                }
            })
            .collect();
        Outgoing::Form {
            title: form.title.plain(self.lang()),
            fields,
        }
    }

    /// Shows the summary, or — when an answer on the way is missing — asks for it first.
    fn enter_summary(&mut self, i: usize) {
        let (path, reached) = self.walk(i);
        self.conv.picking = false;
        if !reached {
            let u = path.last().copied().unwrap_or(self.flow.start);
            self.conv.changing = true;
            self.conv.step = self.flow.steps[u].id.clone();
            self.ask(u);
            return;
        }
        self.conv.changing = false;
        self.conv.step = self.flow.steps[i].id.clone();
        self.prune(&path);
        let summary = self.summary(i, &path, String::new());
        self.out.push(summary);
    }

    fn summary(&self, i: usize, path: &[usize], prefix: String) -> Outgoing {
        let mut lines = Vec::new();
        for &p in path {
            let s = &self.flow.steps[p];
            if p == i || s.kind == Kind::Summary {
                continue;
            }
            if let (Some(v), Some(label)) = (self.answer_of(p), &s.label) {
                let value = self.display(p, v);
                let label = label.plain(self.lang());
                lines.push(self.msg("summary_line", &[("label", &label), ("value", &value)]));
            }
        }
        let photos = self.photo_count();
        if photos > 0 {
            lines.push(self.msg("summary_photos", &[("count", &photos.to_string())]));
        }
        let head = join(prefix, self.render(&self.flow.steps[i].text));
        self.with_options(i, format!("{head}\n\n{}", lines.join("\n")))
    }

    fn picker_targets(&self, i: usize) -> Vec<usize> {
        let (path, _) = self.walk(i);
        path.into_iter()
            .filter(|&p| {
                p != i
                    && self.flow.steps[p].kind != Kind::Summary
                    && self.flow.steps[p].label.is_some()
                    && self.answered(p)
            })
            .collect()
    }

    fn picker(&self, i: usize, prefix: String) -> Outgoing {
        let mut options: Vec<(String, String)> = self
            .picker_targets(i)
            .into_iter()
            .map(|p| {
                let s = &self.flow.steps[p];
                let label = s
                    .label
                    .as_ref()
                    .map_or_else(String::new, |l| l.plain(self.lang()));
                (self.cid(PICKER, &s.id), label)
            })
            .collect();
        options.push((self.cid(PICKER, PICKER_BACK), self.msg("change_back", &[])));
        Outgoing::Choices {
            text: join(prefix, self.msg("change_which", &[])),
            options,
        }
    }

    /// Shows the current question again (after /lang, /help, a refusal).
    fn reshow(&mut self, i: usize) {
        if self.conv.picking {
            let p = self.picker(i, String::new());
            self.out.push(p);
        } else if self.flow.steps[i].kind == Kind::Summary {
            self.enter_summary(i);
        } else {
            self.ask(i);
        }
    }

    fn restart(&mut self) {
        self.conv.history.clear();
        self.conv.picking = false;
        self.conv.changing = false;
        let text = self.msg("restarted", &[]);
        self.out.push(Outgoing::Text(text));
        self.enter(self.flow.start);
    }

    // ---- refusing ----

    fn reason(&self, bad: &Bad) -> String {
        match bad {
            Bad::Empty => self.msg("bad_empty", &[]),
            Bad::TooLong(len, max) => self.msg(
                "bad_too_long",
                &[("len", &len.to_string()), ("max", &max.to_string())],
            ),
            Bad::Control => self.msg("bad_control", &[]),
            Bad::NoWords => self.msg("bad_no_words", &[]),
            Bad::Pattern => self.msg("bad_pattern", &[]),
            Bad::Number(min, max) => self.msg(
                "bad_number",
                &[("min", &min.to_string()), ("max", &max.to_string())],
            ),
            Bad::Choice => self.msg("bad_choice", &[]),
            Bad::Stale => self.msg("stale_button", &[]),
            Bad::Photo => self.msg("bad_photo", &[]),
            Bad::TooManyPhotos => self.msg("too_many_photos", &[("max", &MAX_PHOTOS.to_string())]),
            Bad::Contact => self.msg("bad_contact", &[]),
            Bad::Form(lines) => join(self.msg("bad_form", &[]), lines.join("\n")),
        }
    }

    /// Refuses an input: the reason and the step's own hint, with its buttons again.
    fn refuse(&mut self, i: usize, bad: Bad) -> Outcome {
        let reason = self.reason(&bad);
        self.hint(i, reason);
        Outcome::Continue
    }

    /// The current step's hint after `prefix`, with its buttons.
    fn hint(&mut self, i: usize, prefix: String) {
        let reply = if self.conv.picking {
            self.picker(i, prefix)
        } else {
            let s = &self.flow.steps[i];
            let hint = self.render(&s.hint);
            self.with_options(i, join(prefix, hint))
        };
        self.out.push(reply);
    }

    // ---- input ----

    fn handle(&mut self, i: usize, input: Incoming) -> Outcome {
        match input {
            Incoming::Command(name, args) => self.command(i, &name, &args),
            Incoming::Text(t) => match super::parse_command(&t).filter(|(name, _)| {
                COMMANDS.contains(&name.as_str())
                    || super::SERVICE_COMMANDS.contains(&name.as_str())
            }) {
                Some((name, args)) => self.command(i, &name, &args),
                None if self.conv.picking => self.pick_typed(i, &t),
                None => self.on_text(i, &t),
            },
            Incoming::Choice(id) if self.conv.picking => self.pick_choice(i, &id),
            Incoming::Choice(id) => self.on_choice(i, &id),
            Incoming::Photo(r) => self.on_photo(i, &r),
            Incoming::Contact(phone) => {
                if !self.conv.picking && self.flow.steps[i].contact {
                    self.on_text(i, &phone)
                } else {
                    self.refuse(i, Bad::Contact)
                }
            }
            Incoming::Form(fields) => self.on_form(i, &fields),
        }
    }

    fn command(&mut self, i: usize, name: &str, args: &str) -> Outcome {
        let name = name.trim().trim_start_matches('/');
        let name = name.split('@').next().unwrap_or("").to_lowercase();
        match name.as_str() {
            "cancel" => self.cancel(),
            "back" => self.back(i),
            "help" => {
                let help = self.msg("help", &[]);
                let hint = if self.conv.picking {
                    String::new()
                } else {
                    self.render(&self.flow.steps[i].hint)
                };
                let text = join(hint, help);
                let reply = if self.conv.picking {
                    self.picker(i, text)
                } else {
                    self.with_options(i, text)
                };
                self.out.push(reply);
                Outcome::Continue
            }
            // The conversation service's commands work at every step.
            cmd if super::SERVICE_COMMANDS.contains(&cmd) => {
                Outcome::Command(name.clone(), args.trim().to_owned())
            }
            "lang" => {
                let lang = match normalize(args).as_str() {
                    "en" | "en-us" | "english" | "英文" | "英语" => Some(Lang::En),
                    "zh" | "zh-cn" | "cn" | "chinese" | "中文" | "简体中文" => {
                        Some(Lang::ZhCn)
                    }
                    _ => None,
                };
                match lang {
                    Some(lang) => {
                        self.conv.lang = lang;
                        let t = self.msg("lang_switched", &[]);
                        self.out.push(Outgoing::Text(t));
                        self.reshow(i);
                        Outcome::Command("lang".into(), lang.as_code().into())
                    }
                    None => {
                        let t = self.msg("lang_usage", &[]);
                        self.hint(i, t);
                        Outcome::Continue
                    }
                }
            }
            _ => {
                let shown: String = name.chars().take(32).collect();
                let t = self.msg("unknown_command", &[("command", &shown)]);
                self.hint(i, t);
                Outcome::Continue
            }
        }
    }

    fn cancel(&mut self) -> Outcome {
        self.conv.done = true;
        self.conv.picking = false;
        let t = self.msg("cancelled", &[]);
        self.out.push(Outgoing::Text(t));
        Outcome::Cancelled
    }

    fn back(&mut self, i: usize) -> Outcome {
        if self.conv.picking {
            self.enter_summary(i);
            return Outcome::Continue;
        }
        let Some(prev) = self.conv.history.pop() else {
            let t = self.msg("nothing_to_go_back", &[]);
            self.hint(i, t);
            return Outcome::Continue;
        };
        match self.flow.index.get(&prev) {
            Some(&p) if self.flow.steps[p].kind == Kind::Summary => self.enter_summary(p),
            Some(&p) => {
                self.conv.step = prev;
                self.ask(p);
            }
            None => self.restart(),
        }
        Outcome::Continue
    }

    /// Cleans typed text for step `i`: not blank, not over the step's length, no control
    /// characters (line breaks only where the step is multi-line).
    fn clean(&self, i: usize, raw: &str) -> Result<String, Bad> {
        let s = &self.flow.steps[i];
        let t = raw.trim();
        if t.is_empty() {
            return Err(Bad::Empty);
        }
        // Count no further than needed: a megabyte of input costs no more than the cap.
        let len = t.chars().take(s.max_len + 1).count();
        if len > s.max_len {
            return Err(Bad::TooLong(t.chars().count(), s.max_len));
        }
        let allowed = |c: char| s.multiline && matches!(c, '\n' | '\t' | '\r');
        if t.chars().any(|c| c.is_control() && !allowed(c)) {
            return Err(Bad::Control);
        }
        Ok(if s.multiline {
            t.replace("\r\n", "\n").replace('\r', "\n")
        } else {
            t.to_owned()
        })
    }

    /// A free-text answer for step `i`: clean, with words (not only emoji or symbols), and
    /// matching the step's pattern.
    fn typed_text(&self, i: usize, raw: &str) -> Result<String, Bad> {
        let t = self.clean(i, raw)?;
        if !t.chars().any(char::is_alphanumeric) {
            return Err(Bad::NoWords);
        }
        if let Some(re) = &self.flow.steps[i].pattern
            && !re.is_match(&t)
        {
            return Err(Bad::Pattern);
        }
        Ok(t)
    }

    fn typed_option(&self, i: usize, t: &str) -> Option<Typed> {
        let s = &self.flow.steps[i];
        let n = normalize(t);
        if s.skip {
            let labels = [
                message(self.flows, "skip", Lang::ZhCn, &[]),
                message(self.flows, "skip", Lang::En, &[]),
            ];
            if SKIP_WORDS.contains(&n.as_str()) || labels.iter().any(|l| normalize(l) == n) {
                return Some(Typed::Skip);
            }
        }
        if let Some(&o) = s.words.get(&n) {
            return Some(Typed::Opt(o));
        }
        // "2" picks the second option, except where numbers are the answer.
        if s.kind != Kind::Number
            && let Ok(k) = n.parse::<usize>()
            && (1..=s.options.len()).contains(&k)
        {
            return Some(Typed::Opt(k - 1));
        }
        None
    }

    fn on_text(&mut self, i: usize, raw: &str) -> Outcome {
        let s = &self.flow.steps[i];
        let t = match self.clean(i, raw) {
            Ok(t) => t,
            Err(bad) => return self.refuse(i, bad),
        };
        match self.typed_option(i, &t) {
            Some(Typed::Skip) => return self.accept(i, String::new(), None),
            Some(Typed::Opt(o)) => return self.accept(i, s.options[o].id.clone(), Some(o)),
            None => {}
        }
        match s.kind {
            Kind::Choice | Kind::Summary => self.refuse(i, Bad::Choice),
            Kind::Number => match parse_number(&t) {
                Some(n) if (s.min..=s.max).contains(&n) => self.accept(i, n.to_string(), None),
                _ => self.refuse(i, Bad::Number(s.min, s.max)),
            },
            Kind::Text => match self.typed_text(i, &t) {
                Ok(t) => self.accept(i, t, None),
                Err(bad) => self.refuse(i, bad),
            },
        }
    }

    /// Splits `step:option[@scope]`, refusing another flow's, another step's or another
    /// job's button.
    fn split_choice<'x>(&self, id: &'x str) -> Option<(&'x str, &'x str)> {
        if id.len() > super::load::MAX_CHOICE_ID {
            return None;
        }
        let (base, scope) = match id.split_once('@') {
            Some((b, s)) => (b, Some(s)),
            None => (id, None),
        };
        if scope != self.scope() {
            return None;
        }
        base.split_once(':')
    }

    fn on_choice(&mut self, i: usize, id: &str) -> Outcome {
        let s = &self.flow.steps[i];
        match self.split_choice(id) {
            Some((step, "skip")) if step == s.id && s.skip => self.accept(i, String::new(), None),
            Some((step, opt)) if step == s.id => match s.options.iter().position(|o| o.id == opt) {
                Some(o) => self.accept(i, opt.to_owned(), Some(o)),
                None => self.refuse(i, Bad::Stale),
            },
            _ => self.refuse(i, Bad::Stale),
        }
    }

    fn on_photo(&mut self, i: usize, reference: &str) -> Outcome {
        if self.conv.picking || !self.flow.steps[i].photo {
            return self.refuse(i, Bad::Photo);
        }
        let r = reference.trim();
        if r.is_empty() || r.len() > MAX_PHOTO_REF || r.chars().any(char::is_control) {
            return self.refuse(i, Bad::Photo);
        }
        let count = self.photo_count();
        if count >= MAX_PHOTOS {
            return self.refuse(i, Bad::TooManyPhotos);
        }
        let photos = self.conv.answers.entry(PHOTOS.to_owned()).or_default();
        if !photos.is_empty() {
            photos.push('\n');
        }
        photos.push_str(r);
        let t = self.msg("photo_received", &[("count", &(count + 1).to_string())]);
        self.out.push(Outgoing::Text(t));
        Outcome::Continue
    }

    fn photo_count(&self) -> usize {
        self.conv
            .answers
            .get(PHOTOS)
            .map_or(0, |p| p.lines().filter(|l| !l.is_empty()).count())
    }

    /// A whole form at once: every field checked, all problems listed, nothing stored
    /// unless all are fine.
    fn on_form(&mut self, i: usize, fields: &BTreeMap<String, String>) -> Outcome {
        let flow = self.flow;
        let Some((f, _)) = flow.steps[i].form.filter(|_| !self.conv.picking) else {
            return self.refuse(i, Bad::Form(Vec::new()));
        };
        let form = &flow.forms[f];
        let mut values = Vec::new();
        let mut errors = Vec::new();
        for &fi in &form.steps {
            let s = &flow.steps[fi];
            let raw = fields.get(&s.id).map_or("", String::as_str);
            let skipped = s.skip
                && (raw.trim().is_empty()
                    || matches!(self.typed_option(fi, raw), Some(Typed::Skip)));
            let value = if skipped {
                Ok(String::new())
            } else {
                self.typed_text(fi, raw)
            };
            match value {
                Ok(v) => values.push((fi, v)),
                Err(bad) => {
                    let label = s
                        .label
                        .as_ref()
                        .map_or_else(|| s.id.clone(), |l| l.plain(self.lang()));
                    let reason = self.reason(&bad);
                    errors.push(self.msg("form_field", &[("label", &label), ("reason", &reason)]));
                }
            }
        }
        if !errors.is_empty() {
            return self.refuse(i, Bad::Form(errors));
        }
        let Some(&(last, _)) = values.last() else {
            return self.refuse(i, Bad::Form(Vec::new()));
        };
        let from = form.steps.iter().position(|&x| x == i).unwrap_or(0);
        for (k, (fi, v)) in values.into_iter().enumerate() {
            if let Some(key) = &flow.steps[fi].answer {
                self.conv.answers.insert(key.clone(), v.clone());
            }
            if fi == last {
                return self.accept(fi, v, None);
            }
            if k >= from {
                self.push_history(fi);
            }
        }
        Outcome::Continue
    }

    fn pick_choice(&mut self, i: usize, id: &str) -> Outcome {
        match self.split_choice(id) {
            Some((PICKER, PICKER_BACK)) => {
                self.enter_summary(i);
                Outcome::Continue
            }
            Some((PICKER, target)) => match self.flow.index.get(target) {
                Some(&t) if self.picker_targets(i).contains(&t) => self.change(i, t),
                _ => self.refuse(i, Bad::Stale),
            },
            _ => self.refuse(i, Bad::Stale),
        }
    }

    fn pick_typed(&mut self, i: usize, raw: &str) -> Outcome {
        let t = match self.clean(i, raw) {
            Ok(t) => normalize(&t),
            Err(bad) => return self.refuse(i, bad),
        };
        let targets = self.picker_targets(i);
        let back = [
            message(self.flows, "change_back", Lang::ZhCn, &[]),
            message(self.flows, "change_back", Lang::En, &[]),
        ];
        if back.iter().any(|b| normalize(b) == t) || t == "back" || t == "返回" {
            self.enter_summary(i);
            return Outcome::Continue;
        }
        if let Ok(k) = t.parse::<usize>() {
            return match targets.get(k.wrapping_sub(1)) {
                Some(&p) => self.change(i, p),
                None if k == targets.len() + 1 => {
                    self.enter_summary(i);
                    Outcome::Continue
                }
                None => self.refuse(i, Bad::Choice),
            };
        }
        let found = targets.iter().copied().find(|&p| {
            let s = &self.flow.steps[p];
            s.id == t
                || s.label.as_ref().is_some_and(|l| {
                    normalize(&l.plain(Lang::ZhCn)) == t || normalize(&l.plain(Lang::En)) == t
                })
        });
        match found {
            Some(p) => self.change(i, p),
            None => self.refuse(i, Bad::Choice),
        }
    }

    /// Asks step `target` again; afterwards answered steps are passed back to the summary.
    fn change(&mut self, summary: usize, target: usize) -> Outcome {
        self.push_history(summary);
        self.conv.picking = false;
        self.conv.changing = true;
        self.conv.step = self.flow.steps[target].id.clone();
        self.ask(target);
        Outcome::Continue
    }

    /// Records the answer to step `i` and follows where it leads.
    fn accept(&mut self, i: usize, value: String, opt: Option<usize>) -> Outcome {
        let flow = self.flow;
        if let Some(key) = &flow.steps[i].answer {
            self.conv.answers.insert(key.clone(), value);
        }
        match flow.target(i, opt) {
            Target::Next(n) => {
                self.push_history(i);
                self.enter(n);
                Outcome::Continue
            }
            Target::Finish(Finish::Submit) => self.submit(i),
            Target::Finish(Finish::Cancel) => self.cancel(),
            Target::Finish(Finish::Change) => {
                self.conv.picking = true;
                let p = self.picker(i, String::new());
                self.out.push(p);
                Outcome::Continue
            }
            Target::Finish(Finish::Job(kind)) => self.job(kind),
            Target::Nowhere => {
                self.ask(i);
                Outcome::Continue
            }
        }
    }

    fn submit(&mut self, i: usize) -> Outcome {
        let (path, reached) = self.walk(i);
        if !reached {
            // An answer on the way is missing (flows edited meanwhile): ask it first.
            let u = path.last().copied().unwrap_or(self.flow.start);
            self.conv.changing = true;
            self.conv.step = self.flow.steps[u].id.clone();
            self.ask(u);
            return Outcome::Continue;
        }
        self.prune(&path);
        let mut answers = self.conv.answers.clone();
        let details: Vec<String> = path
            .iter()
            .filter(|&&p| self.flow.steps[p].detail)
            .filter_map(|&p| {
                let v = self.answer_of(p).filter(|v| !v.is_empty())?;
                let label = self.flow.steps[p].label.as_ref()?.plain(self.lang());
                let value = self.display(p, v);
                Some(self.msg("detail_line", &[("label", &label), ("value", &value)]))
            })
            .collect();
        if !details.is_empty() {
            answers.insert(DETAILS.to_owned(), details.join("\n"));
        }
        Outcome::Submitted(answers)
    }

    fn job(&mut self, kind: JobKind) -> Outcome {
        let get = |k: &str| self.conv.answers.get(k).cloned().unwrap_or_default();
        let action = match kind {
            JobKind::Accept => JobActionKind::Accept,
            JobKind::Decline => JobActionKind::Decline,
            JobKind::Remote => JobActionKind::StartRemote,
            JobKind::OnMyWay => JobActionKind::OnMyWay,
            JobKind::Arrived => JobActionKind::Arrived,
            JobKind::Progress => JobActionKind::Progress { note: get("note") },
            JobKind::Pend => match PendingReason::from_str(&get("pend_reason")) {
                Ok(reason) => JobActionKind::NeedParts {
                    reason,
                    note: get("note"),
                },
                // The loader makes this impossible; start the card again rather than guess.
                Err(_) => {
                    self.conv.answers.clear();
                    self.restart();
                    return Outcome::Continue;
                }
            },
            JobKind::Resolve => JobActionKind::Resolve {
                cause: get("cause"),
                solution: get("solution"),
            },
        };
        let ticket = self.conv.vars.get("ticket").cloned();
        // Back to the card, ready for the next action on the same job.
        self.conv.answers.clear();
        self.conv.history.clear();
        self.conv.picking = false;
        self.conv.changing = false;
        self.conv.step = self.flow.steps[self.flow.start].id.clone();
        Outcome::JobAction(JobAction {
            ticket,
            kind: action,
        })
    }
}

/// `/cancel`, `/help@bot args` … typed as text: only the universal commands, so a
/// description such as "/var is full" is still a description.
/// "12", "12 人", "12 people" → 12.
fn parse_number(t: &str) -> Option<i64> {
    let n = normalize(t);
    let digits: String = n.chars().take_while(char::is_ascii_digit).collect();
    let rest = n[digits.len()..].trim();
    let unit_ok = matches!(
        rest,
        "" | "人"
            | "个人"
            | "个"
            | "位"
            | "名"
            | "people"
            | "persons"
            | "person"
            | "users"
            | "user"
    );
    if digits.is_empty() || digits.len() > 9 || !unit_ok {
        return None;
    }
    digits.parse().ok()
}

/// The current step's hint as a refusal shows it (tests compare replies against it).
#[cfg(test)]
pub(super) fn hint_of(flows: &Flows, conv: &Conversation) -> String {
    let mut conv = conv.clone();
    let Some(flow) = flows.inner.flows.get(&conv.flow) else {
        return String::new();
    };
    let Some(&i) = flow.index.get(&conv.step) else {
        return String::new();
    };
    let run = Run {
        flows,
        flow,
        conv: &mut conv,
        out: Vec::new(),
    };
    if run.conv.picking {
        run.msg("change_which", &[])
    } else {
        run.render(&flow.steps[i].hint)
    }
}
