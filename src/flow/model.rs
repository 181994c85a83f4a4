//! The compiled, validated form of the bot-flows files. Everything here was checked at load,
//! so the engine can index steps by position without re-checking references.

use std::collections::HashMap;
use std::path::PathBuf;

use regex::Regex;

use super::template::Text;

/// What a step expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One of the options (buttons or typed id / label / alias / number).
    Choice,
    /// Free text (optionally checked by a pattern); options, if any, are shortcuts.
    Text,
    /// A whole number in `min..=max`, or one of the options.
    Number,
    /// Shows the answers so far; its options finish the flow (submit, change, cancel).
    Summary,
}

/// The kinds of job action an engineer's flow can finish with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobKind {
    Accept,
    Decline,
    Remote,
    OnMyWay,
    Arrived,
    Progress,
    Pend,
    Resolve,
}

impl JobKind {
    pub(crate) const ALL: [(&'static str, JobKind); 8] = [
        ("accept", JobKind::Accept),
        ("decline", JobKind::Decline),
        ("remote", JobKind::Remote),
        ("on_my_way", JobKind::OnMyWay),
        ("arrived", JobKind::Arrived),
        ("progress", JobKind::Progress),
        ("pend", JobKind::Pend),
        ("resolve", JobKind::Resolve),
    ];

    /// The answers this action is built from; the loader checks every path collects them.
    pub(crate) fn needs(self) -> &'static [&'static str] {
        match self {
            JobKind::Progress => &["note"],
            JobKind::Pend => &["pend_reason", "note"],
            JobKind::Resolve => &["cause", "solution"],
            _ => &[],
        }
    }
}

/// How a flow ends at a step or option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// Hand the answers to the caller (`Outcome::Submitted`).
    Submit,
    /// Abandon the conversation.
    Cancel,
    /// Pick an answer to change, then come back to this summary.
    Change,
    /// Hand a job action to the caller.
    Job(JobKind),
}

impl Finish {
    pub(crate) fn parse(s: &str) -> Option<Finish> {
        match s {
            "submit" => Some(Finish::Submit),
            "cancel" => Some(Finish::Cancel),
            "change" => Some(Finish::Change),
            _ => {
                let job = s.strip_prefix("job:")?;
                JobKind::ALL
                    .iter()
                    .find(|(name, _)| *name == job)
                    .map(|(_, k)| Finish::Job(*k))
            }
        }
    }
}

/// Where an answer leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Next(usize),
    Finish(Finish),
    /// Only for a model the loader would have refused; the engine re-asks.
    Nowhere,
}

#[derive(Debug, Clone)]
pub(crate) struct OptionDef {
    pub(crate) id: String,
    pub(crate) label: Text,
    pub(crate) next: Option<usize>,
    pub(crate) finish: Option<Finish>,
}

#[derive(Debug, Clone)]
pub(crate) struct StepDef {
    pub(crate) id: String,
    pub(crate) kind: Kind,
    /// Answer key (None for summaries).
    pub(crate) answer: Option<String>,
    pub(crate) label: Option<Text>,
    pub(crate) text: Text,
    pub(crate) hint: Text,
    pub(crate) next: Option<usize>,
    pub(crate) finish: Option<Finish>,
    pub(crate) options: Vec<OptionDef>,
    /// Normalised typed word (id, labels, aliases) → option index.
    pub(crate) words: HashMap<String, usize>,
    pub(crate) skip: bool,
    pub(crate) photo: bool,
    pub(crate) contact: bool,
    pub(crate) multiline: bool,
    pub(crate) detail: bool,
    pub(crate) if_missing: bool,
    pub(crate) pattern: Option<Regex>,
    pub(crate) max_len: usize,
    pub(crate) min: i64,
    pub(crate) max: i64,
    /// The form this step is a field of, and whether it is the form's first field.
    pub(crate) form: Option<(usize, bool)>,
}

impl StepDef {
    /// The option a stored answer stands for.
    pub(crate) fn option_for(&self, value: &str) -> Option<usize> {
        self.options.iter().position(|o| o.id == value)
    }

    /// Keys this step writes into the answers.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.answer
            .as_deref()
            .into_iter()
            .chain(self.photo.then_some(super::PHOTOS))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct FormDef {
    pub(crate) title: Text,
    pub(crate) steps: Vec<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct Flow {
    pub(crate) file: PathBuf,
    pub(crate) start: usize,
    /// Choice ids carry `@<ticket>` so a button of another job is refused.
    pub(crate) scoped: bool,
    pub(crate) vars: Vec<String>,
    pub(crate) intro: Option<Text>,
    pub(crate) steps: Vec<StepDef>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) forms: Vec<FormDef>,
}

impl Flow {
    /// Where answering step `i` (with option `opt`, or typed / skipped) leads.
    pub(crate) fn target(&self, i: usize, opt: Option<usize>) -> Target {
        let step = &self.steps[i];
        if let Some(o) = opt.and_then(|o| step.options.get(o)) {
            if let Some(f) = o.finish {
                return Target::Finish(f);
            }
            if let Some(n) = o.next {
                return Target::Next(n);
            }
        }
        match (step.finish, step.next) {
            (Some(f), _) => Target::Finish(f),
            (None, Some(n)) => Target::Next(n),
            (None, None) => Target::Nowhere,
        }
    }

    /// Every target a step can lead to (for reachability and answer analysis).
    pub(crate) fn targets(&self, i: usize) -> Vec<Target> {
        let step = &self.steps[i];
        let mut out: Vec<Target> = (0..step.options.len())
            .map(|o| self.target(i, Some(o)))
            .collect();
        let typed = !matches!(step.kind, Kind::Choice | Kind::Summary);
        if typed || step.skip || step.options.is_empty() {
            out.push(self.target(i, None));
        }
        out
    }
}

/// Message texts and value translations from `messages.toml`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Messages {
    pub(crate) texts: HashMap<String, Text>,
    /// `(placeholder, value)` → display text, e.g. `("category", "printer")`.
    pub(crate) values: HashMap<(String, String), Text>,
}
