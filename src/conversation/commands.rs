//! What the service's commands do (see [`crate::flow::SERVICE_COMMANDS`]): they work at
//! every step, and anything a person sends while no conversation runs is one of them
//! (text starts a report for a reporter, lists the jobs for an engineer).

use std::collections::BTreeMap;

use super::{Chat, ChatError, DRAFT_KEPT, Person, Role};
use crate::desk::TicketFilter;
use crate::desk::link::Linking;
use crate::desk::notice_payload;
use crate::domain::intake::Note;
use crate::domain::ticket::{Action, Caller};
use crate::flow::{Conversation, Incoming, Lang, Outgoing};

/// A command's replies, and the conversation it started (for the caller to save).
pub(super) type Commanded = (Vec<Outgoing>, Option<Conversation>);

impl Chat {
    /// Input while no conversation runs: commands, or anything else starts a report
    /// (reporters) / lists jobs (engineers).
    pub(super) async fn idle_input(
        &self,
        person: &Person,
        role: &Role,
        lang: Lang,
        input: Incoming,
    ) -> Result<Commanded, ChatError> {
        let (cmd, args) = match input {
            Incoming::Command(c, a) => (c, a),
            Incoming::Text(t) => match crate::flow::parse_command(&t) {
                Some(command) => command,
                None => {
                    // The receipt says "reply to add details": a reporter's plain reply
                    // goes onto their latest open ticket; only without one does it start
                    // a report.
                    if let Role::Reporter(r) = role
                        && let Some(replies) = self.add_to_open_ticket(r, &t, lang).await?
                    {
                        return Ok((replies, None));
                    }
                    ("start".into(), String::new())
                }
            },
            _ => ("start".into(), String::new()),
        };
        let cmd = cmd
            .trim_start_matches('/')
            .split('@')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        self.command(person, role, lang, &cmd, &args).await
    }

    /// Runs a command (`lang CODE` switches the language).
    pub(super) async fn command(
        &self,
        person: &Person,
        role: &Role,
        lang: Lang,
        cmd: &str,
        args: &str,
    ) -> Result<Commanded, ChatError> {
        let text = |key: &str, lang| Outgoing::Text(self.text(key, lang));
        let replies = match (cmd, role) {
            ("start" | "report", Role::Reporter(r)) => {
                return self.start_report(person, r, lang, args).await;
            }
            ("complain", Role::Reporter(r)) => {
                return self.start_complaint(person, r, lang, args).await;
            }
            ("status" | "mytickets" | "jobs", _) => self.status(role, lang).await?,
            ("kb", _) => self.kb_search(role, lang, args).await?,
            ("lang", _) => match parse_lang(args) {
                Some(new) => {
                    if let Role::Reporter(r) = role {
                        self.desk.set_language(r, new.as_code()).await?;
                    }
                    vec![text("lang_switched", new)]
                }
                None => vec![text("lang_usage", lang)],
            },
            ("help" | "cancel" | "back", _) => vec![text("help", lang)],
            ("job", Role::Engineer(e)) => self.open_job(person, e, args.trim(), lang).await?,
            ("inspections", Role::Engineer(e)) => self.list_inspections(e, lang).await?,
            ("inspect", Role::Engineer(e)) => return self.open_inspection(e, args, lang).await,
            // Anything else from an engineer (text, start): their jobs.
            (_, Role::Engineer(_)) => self.status(role, lang).await?,
            _ => {
                let shown: String = cmd.chars().take(32).collect();
                let vars = serde_json::json!({ "command": shown });
                vec![Outgoing::Text(self.flows.text(
                    "unknown_command",
                    lang,
                    &vars,
                ))]
            }
        };
        Ok((replies, None))
    }

    /// `/start`, `/report`: a new report (or the draft kept from an idle one), returned to
    /// be saved by the caller.
    async fn start_report(
        &self,
        person: &Person,
        r: &crate::desk::Reporter,
        lang: Lang,
        args: &str,
    ) -> Result<Commanded, ChatError> {
        // What the desk knows already (remembered answers, the staff directory, and from a
        // QR sticker's deep link `/start asset_PRN-3F-02` the device and where it is): the
        // flow skips those questions.
        // An unfinished report discarded for idleness comes back for a day. The two reads
        // are independent: side by side, the step waits for one round trip, not two.
        let since = self.conversations.now() - DRAFT_KEPT;
        let (start, draft) = tokio::join!(
            self.desk.report_start(
                r,
                &person.channel,
                &person.external_id,
                args.trim().strip_prefix("asset_"),
            ),
            self.conversations
                .kept_draft(&person.channel, &person.external_id, since)
        );
        let (start, draft) = (start?, draft?);
        let known: BTreeMap<String, String> = start.known;
        let device_note =
            super::registers::device_note(&self.flows, &start.asset, &start.unknown_tag, lang);
        if let Some(conv) = draft.and_then(|d| serde_json::from_str::<Conversation>(&d).ok())
            && self.flows.is_valid(&conv)
        {
            // Saving the conversation takes the draft, in the same transaction.
            self.seen
                .set(&super::person_key(person), crate::desk::Expect::Restoring);
            let mut replies = vec![Outgoing::Text(self.text("draft_restored", conv.lang()))];
            replies.extend(self.flows.current(&conv));
            return Ok((replies, Some(conv)));
        }
        let (conv, mut replies) = self
            .flows
            .start("fault_report", lang, &known)
            .map_err(|e| ChatError::State(e.to_string()))?;
        if let Some(note) = device_note {
            replies.insert(0, note);
        }
        Ok((replies, Some(conv)))
    }

    /// A reporter's plain message added as a comment to their most recent open ticket
    /// (the desk records it and tells whoever holds the job); the reply saying so, or
    /// `None` when they have no open ticket.
    async fn add_to_open_ticket(
        &self,
        r: &crate::desk::Reporter,
        text: &str,
        lang: Lang,
    ) -> Result<Option<Vec<Outgoing>>, ChatError> {
        let caller = Caller::Reporter(r.id);
        let filter = TicketFilter {
            open_only: true,
            ..TicketFilter::default()
        };
        // Newest first.
        let page = self.desk.list(&caller, &filter, 1, 1).await?;
        let Some(ticket) = page.items.first() else {
            return Ok(None);
        };
        let number = ticket.number.as_str();
        let reply = match Note::parse(text) {
            Ok(note) => match self.desk.act(&caller, number, Action::Comment(note)).await {
                Ok(_) => {
                    let vars = serde_json::json!({ "ticket": number });
                    self.flows.text("comment_added", lang, &vars)
                }
                Err(e) => self.refusal(&e, number, lang),
            },
            // Not a usable note (empty, too long): say why, nothing is added.
            Err(e) => e.to_string(),
        };
        Ok(Some(vec![Outgoing::Text(reply)]))
    }

    /// `/status`: the person's open tickets (an engineer's: their group's).
    async fn status(&self, role: &Role, lang: Lang) -> Result<Vec<Outgoing>, ChatError> {
        let filter = TicketFilter {
            open_only: true,
            ..TicketFilter::default()
        };
        let page = self.desk.list(&role.caller(), &filter, 1, 20).await?;
        if page.items.is_empty() {
            return Ok(vec![Outgoing::Text(self.text("no_open_tickets", lang))]);
        }
        let vars = serde_json::json!({ "count": page.total });
        let mut text = self.flows.text("status_header", lang, &vars);
        for t in &page.items {
            text.push('\n');
            let line = self
                .flows
                .text("status_line", lang, &notice_payload(t, None, None));
            text.push_str(&line);
        }
        Ok(vec![Outgoing::Text(text)])
    }

    /// `/link CODE`: links this chat identity to the engineer the desk issued the code
    /// for (on the doors engineers work from).
    pub(super) async fn link(&self, person: &Person, code: &str) -> Vec<Outgoing> {
        let lang = self.lang_of(person).await;
        let text = if code.is_empty() {
            self.text("link_usage", lang)
        } else {
            match self
                .desk
                .redeem_link_code(code, &person.channel, &person.external_id)
                .await
            {
                Ok(Linking::Linked(e)) => {
                    let vars = serde_json::json!({ "engineer": e.name });
                    self.flows.text("link_done", lang, &vars)
                }
                Ok(Linking::Refused) => self.text("link_refused", lang),
                Ok(Linking::Locked { until }) => {
                    let vars = serde_json::json!({ "due_at": until });
                    self.flows.text("link_locked", lang, &vars)
                }
                Err(e) => {
                    tracing::error!(error = %e, door = %person.channel, "linking failed");
                    self.text("try_again", lang)
                }
            }
        };
        vec![Outgoing::Text(text)]
    }
}

/// `/lang` arguments: English or Chinese.
fn parse_lang(args: &str) -> Option<Lang> {
    match args.trim() {
        "en" | "english" | "English" => Some(Lang::En),
        "zh" | "zh-cn" | "zh-CN" | "中文" => Some(Lang::ZhCn),
        _ => None,
    }
}
