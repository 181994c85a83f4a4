//! The console's pages: askama templates (`templates/console/`, compiled into the
//! binary) and the plain values they show. Every text a person reads is in the
//! templates, Chinese first and English beside it (`l.t("中文", "English")`); values the
//! bot-flows translate (statuses, categories, clocks) come from `messages.toml`.

use askama::Template;

/// The page's language: picks the Chinese or the English of each text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L {
    /// English; otherwise Chinese (zh-CN).
    pub en: bool,
}

impl L {
    /// The text in the page's language.
    pub fn t<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        if self.en { en } else { zh }
    }

    /// The `lang` attribute of the page.
    pub fn code(&self) -> &'static str {
        if self.en { "en" } else { "zh-CN" }
    }
}

/// The person signed in, as the page header shows them.
#[derive(Debug, Clone)]
pub struct Me {
    /// Display name.
    pub name: String,
    /// Handle.
    pub handle: String,
    /// A manager (sees every ticket).
    pub manager: bool,
    /// May write articles (experts and managers): the articles page is theirs too.
    pub articles: bool,
    /// The session's form token.
    pub csrf: String,
}

/// What an administration page says above its content: what was just done, or why the
/// last form was refused.
#[derive(Debug, Clone, Default)]
pub struct Note {
    /// What was just done, if anything.
    pub done: String,
    /// Why the last form was refused, if it was.
    pub problem: String,
}

impl Note {
    /// What a page says after a form was done (the `done` of its redirect), if anything.
    pub fn done(done: Option<String>) -> Note {
        Note {
            done: done.unwrap_or_default(),
            problem: String::new(),
        }
    }
}

/// One choice of a `<select>`.
#[derive(Debug, Clone)]
pub struct Opt {
    /// The submitted value.
    pub value: String,
    /// What the person reads.
    pub label: String,
    /// Chosen now.
    pub selected: bool,
}

/// One line of the queue.
#[derive(Debug, Clone)]
pub struct Row {
    /// Ticket number.
    pub number: String,
    /// `P1` …
    pub priority: String,
    /// VIP reporter.
    pub vip: bool,
    /// Status, translated.
    pub status: String,
    /// Category, translated.
    pub category: String,
    /// Site (and room).
    pub place: String,
    /// Reporter's name.
    pub reporter: String,
    /// Who has the job (empty: nobody yet).
    pub assignee: String,
    /// The description's start.
    pub summary: String,
    /// The line's colour (`breached`, `warning`, `running`, `paused`, `stopped`).
    pub shade: &'static str,
    /// The most urgent clock, translated (empty: none).
    pub clock: String,
    /// Its deadline, local time (empty: paused or none).
    pub due: String,
    /// Time left (or over), e.g. `1h 05m`.
    pub left: String,
    /// Past the deadline.
    pub overdue: bool,
}

/// The sign-in page.
#[derive(Template)]
#[template(path = "console/sign_in.html")]
pub struct SignInPage {
    /// Language.
    pub l: L,
    /// The pre-session form token.
    pub csrf: String,
    /// The handle typed before.
    pub handle: String,
    /// What to say: `` (nothing), `wrong`, `locked`, `link_sent`, `expired`,
    /// `signed_out`, `link_invalid`.
    pub say: &'static str,
    /// For `locked`: until when (local time).
    pub until: String,
}

/// A one-time link's page (a button, so a chat's link preview cannot use it up).
#[derive(Template)]
#[template(path = "console/link.html")]
pub struct LinkPage {
    /// Language.
    pub l: L,
    /// The pre-session form token.
    pub csrf: String,
    /// Where the form posts.
    pub action: String,
    /// `sign_in` or `set_password`.
    pub purpose: &'static str,
    /// Whose link (set password).
    pub name: String,
    /// What to say: `` or `mismatch`, `bad_password`.
    pub say: &'static str,
}

/// The queue.
#[derive(Template)]
#[template(path = "console/queue.html")]
pub struct QueuePage {
    /// Language.
    pub l: L,
    /// Who is signed in.
    pub me: Me,
    /// Lines.
    pub rows: Vec<Row>,
    /// Matching in all.
    pub total: i64,
    /// Where this page stands in the queue.
    pub pager: Pager,
    /// Groups to filter by.
    pub groups: Vec<Opt>,
    /// Priorities.
    pub priorities: Vec<Opt>,
    /// Open statuses.
    pub statuses: Vec<Opt>,
    /// Engineers (assignee filter).
    pub engineers: Vec<Opt>,
    /// The site filter.
    pub site: String,
    /// The search words.
    pub q: String,
    /// Breached only.
    pub breached: bool,
    /// Due within an hour only.
    pub due_soon: bool,
}

/// The queue's lines alone (the live refresh).
#[derive(Template)]
#[template(path = "console/rows.html")]
pub struct RowsFragment {
    /// Language.
    pub l: L,
    /// Lines.
    pub rows: Vec<Row>,
    /// Matching in all.
    pub total: i64,
    /// Where this page stands in the queue.
    pub pager: Pager,
}

/// Where a queue page stands: its lines' places (from 1; 0 and 0 when empty) and the
/// links to the pages before and after (empty when there is none).
#[derive(Debug, Clone, Default)]
pub struct Pager {
    /// The first line's place.
    pub first: i64,
    /// The last line's place.
    pub last: i64,
    /// The previous page's link.
    pub previous: String,
    /// The next page's link.
    pub next: String,
}

/// A clock on the ticket page.
#[derive(Debug, Clone)]
pub struct ClockLine {
    /// Which, translated.
    pub name: String,
    /// Colour class.
    pub shade: &'static str,
    /// Deadline while running (local).
    pub due: String,
    /// Share used, e.g. `42 %`.
    pub used: String,
    /// Still measuring.
    pub open: bool,
}

/// An audit event on the ticket page.
#[derive(Debug, Clone)]
pub struct TrailLine {
    /// When (local).
    pub at: String,
    /// Who.
    pub who: String,
    /// Verb.
    pub action: String,
    /// From → to, translated.
    pub change: String,
    /// Note.
    pub note: String,
}

/// Another ticket of the same asset.
#[derive(Debug, Clone)]
pub struct PastFault {
    /// Number.
    pub number: String,
    /// Reported (local date).
    pub at: String,
    /// Status, translated.
    pub status: String,
    /// The description's start.
    pub summary: String,
}

/// The ticket page.
#[derive(Template)]
#[template(path = "console/ticket.html")]
pub struct TicketPage {
    /// Language.
    pub l: L,
    /// Who is signed in.
    pub me: Me,
    /// Number.
    pub number: String,
    /// Priority.
    pub priority: String,
    /// VIP reporter.
    pub vip: bool,
    /// Status, translated.
    pub status: String,
    /// Status code (for the page's colour and tests).
    pub status_code: String,
    /// Category, translated.
    pub category: String,
    /// Group's name.
    pub group: String,
    /// Tier code.
    pub tier: String,
    /// Assignee's name (empty: nobody).
    pub assignee: String,
    /// Reporter's name.
    pub reporter: String,
    /// Department.
    pub department: String,
    /// Phone.
    pub phone: String,
    /// Site / building / room.
    pub place: String,
    /// Asset tag.
    pub asset: String,
    /// Model.
    pub model: String,
    /// IP address.
    pub ip: String,
    /// Description.
    pub description: String,
    /// When it started (local), if known.
    pub started: String,
    /// People affected.
    pub affected: u32,
    /// Reported (local).
    pub created: String,
    /// Work mode code (`remote`, `on_site`, empty).
    pub work_mode: String,
    /// Remote consent code (`asked`, `given`, `refused`, empty).
    pub consent: String,
    /// Cause, once resolved.
    pub cause: String,
    /// Solution, once resolved.
    pub solution: String,
    /// Replacement device lent (empty: none).
    pub loaner: String,
    /// Photo numbers (from 1).
    pub photos: Vec<usize>,
    /// Clocks.
    pub clocks: Vec<ClockLine>,
    /// Audit trail, oldest first.
    pub trail: Vec<TrailLine>,
    /// The asset's last faults.
    pub past: Vec<PastFault>,
    /// Actions the person may take.
    pub actions: Vec<&'static str>,
    /// Groups (reassign).
    pub groups: Vec<Opt>,
    /// Engineers (reassign).
    pub engineers: Vec<Opt>,
    /// The action just done, if any.
    pub done: String,
    /// Why the last action was refused, if it was.
    pub problem: String,
}

/// A page that only says something: not found, refused, failed.
#[derive(Template)]
#[template(path = "console/message.html")]
pub struct MessagePage {
    /// Language.
    pub l: L,
    /// Who is signed in, if anyone.
    pub me: Option<Me>,
    /// `not_found`, `csrf`, `error`, `link_invalid`.
    pub kind: &'static str,
    /// A sentence from the desk, if any.
    pub detail: String,
}

impl TicketPage {
    /// Whether the person may take `verb` now.
    pub fn can(&self, verb: &str) -> bool {
        self.actions.contains(&verb)
    }

    /// Whether any action is open to the person.
    pub fn any_action(&self) -> bool {
        !self.actions.is_empty()
    }
}

/// An engineer on the administration page.
#[derive(Debug, Clone)]
pub struct EngineerLine {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Handle.
    pub handle: String,
    /// Group's name.
    pub group: String,
    /// Tier code.
    pub tier: String,
    /// On duty.
    pub on_duty: bool,
    /// Linked chats, e.g. `telegram, web`.
    pub chats: String,
}

/// A dead or unroutable message on the administration page.
#[derive(Debug, Clone)]
pub struct DeadLine {
    /// Id.
    pub id: i64,
    /// `dead` or `unroutable`.
    pub status: String,
    /// Ticket number, if any.
    pub ticket: String,
    /// Recipient, e.g. `engineer 3`.
    pub to: String,
    /// Event.
    pub event: String,
    /// Attempts.
    pub attempts: i32,
    /// The last error.
    pub error: String,
}

/// The managers' administration page (first part: engineers and dead letters).
#[derive(Template)]
#[template(path = "console/admin.html")]
pub struct AdminPage {
    /// Language.
    pub l: L,
    /// Who is signed in.
    pub me: Me,
    /// Engineers.
    pub engineers: Vec<EngineerLine>,
    /// Groups (adding an engineer).
    pub groups: Vec<Opt>,
    /// Dead and unroutable messages.
    pub dead: Vec<DeadLine>,
    /// What was just done, or why the last form was refused.
    pub note: Note,
    /// `link_code` or `password_link` when a one-time secret is shown, else empty.
    pub secret_kind: &'static str,
    /// The secret (shown once).
    pub secret: String,
    /// Whose it is.
    pub secret_for: String,
}

/// One line of a report: the whole period, or one key of the breakdown.
#[derive(Debug, Clone)]
pub struct ReportLine {
    /// The breakdown's key (empty for the total).
    pub key: String,
    /// Tickets reported.
    pub tickets: usize,
    /// SLA compliance over every clock.
    pub sla: String,
    /// Satisfaction rate.
    pub satisfaction: String,
    /// Survey response rate.
    pub response: String,
    /// Complaints.
    pub complaints: usize,
}

/// One clock's compliance as a bar.
#[derive(Debug, Clone)]
pub struct SlaBar {
    /// The clock, translated.
    pub name: String,
    /// Met.
    pub met: usize,
    /// Breached.
    pub breached: usize,
    /// Rate, e.g. `95.0 %`.
    pub rate: String,
    /// The bar's width in pixels (of 200).
    pub width: u32,
}

/// The managers' reports page.
#[derive(Template)]
#[template(path = "console/reports.html")]
pub struct ReportsPage {
    /// Language.
    pub l: L,
    /// Who is signed in.
    pub me: Me,
    /// Preset periods.
    pub periods: Vec<Opt>,
    /// Breakdowns.
    pub breakdowns: Vec<Opt>,
    /// First day asked for.
    pub from: String,
    /// Last day asked for.
    pub to: String,
    /// The report's first day (local).
    pub first_day: String,
    /// The report's last day (local).
    pub last_day: String,
    /// The whole period's figures, if the report was made.
    pub summary: Option<ReportLine>,
    /// SLA compliance per clock.
    pub sla: Vec<SlaBar>,
    /// The breakdown.
    pub lines: Vec<ReportLine>,
    /// Why no report was made, if not.
    pub problem: String,
    /// The CSV download's address.
    pub csv: String,
    /// The .xlsx download's address.
    pub xlsx: String,
    /// The trend's charts.
    pub charts: Vec<ChartBlock>,
    /// The last sign-in audit events.
    pub sign_ins: Vec<SignInLine>,
}

/// A sign-in audit event on the reports page.
#[derive(Debug, Clone)]
pub struct SignInLine {
    /// When (local).
    pub at: String,
    /// The handle.
    pub handle: String,
    /// What happened and how, in words.
    pub what: String,
    /// From where, if known.
    pub address: String,
    /// A failure or lockout.
    pub bad: bool,
}

/// A chart on the reports page.
#[derive(Debug, Clone)]
pub struct ChartBlock {
    /// Its element id.
    pub id: &'static str,
    /// Its heading.
    pub heading: String,
    /// The `<svg>` element (made by `chart`, text escaped there).
    pub svg: String,
}
