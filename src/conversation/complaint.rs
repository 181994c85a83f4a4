//! `/complain`, at any time in any door: a reporter's complaint about one of their
//! tickets or the service in general, filed with the desk (which gives it to the manager
//! on call). What the command did not say is asked by the `complaint` flow.

use std::collections::BTreeMap;

use super::{Chat, ChatError, Person};
use crate::desk::Reporter;
use crate::domain::complaint::ComplainArgs;
use crate::domain::ticket::Caller;
use crate::flow::{Lang, Outgoing};

impl Chat {
    /// `/complain [NUMBER] [text…]`: filed at once when the text is given (with no number,
    /// about the service in general); else the flow asks what is missing (the
    /// conversation is returned for the caller to save).
    pub(super) async fn start_complaint(
        &self,
        person: &Person,
        r: &Reporter,
        lang: Lang,
        args: &str,
    ) -> Result<super::commands::Commanded, ChatError> {
        let given = ComplainArgs::parse(args);
        // Someone who already said what happened is not asked more: without a number
        // first, it is a complaint about the service in general.
        if let Some(text) = &given.text {
            let ticket = given.ticket.as_ref().map(|t| t.as_str());
            let reply = self.file_complaint(person, r, ticket, text, lang).await;
            return Ok((vec![reply], None));
        }
        let mut known = BTreeMap::new();
        if let Some(t) = given.ticket {
            known.insert("ticket".to_owned(), t.as_str().to_owned());
        }
        let (conv, replies) = self
            .flows
            .start("complaint", lang, &known)
            .map_err(|e| ChatError::State(e.to_string()))?;
        Ok((replies, Some(conv)))
    }

    /// Files the complaint the `complaint` flow gathered.
    pub(super) async fn complaint_answered(
        &self,
        person: &Person,
        r: &Reporter,
        lang: Lang,
        answers: &BTreeMap<String, String>,
    ) -> Outgoing {
        let ticket = answers.get("ticket").map(String::as_str);
        let text = answers.get("text").map(String::as_str).unwrap_or_default();
        self.file_complaint(person, r, ticket, text, lang).await
    }

    /// Files a complaint with the desk; the reply that says so, or why not.
    async fn file_complaint(
        &self,
        person: &Person,
        r: &Reporter,
        ticket: Option<&str>,
        text: &str,
        lang: Lang,
    ) -> Outgoing {
        let caller = Caller::Reporter(r.id);
        let filed = self
            .desk
            .complain(&caller, ticket, text, &person.channel)
            .await;
        Outgoing::Text(match filed {
            Ok(c) => {
                let vars = serde_json::json!({ "complaint": c.id, "due_at": c.due_at });
                self.flows.text("complaint_recorded", lang, &vars)
            }
            Err(e) => self.refusal(&e, ticket.unwrap_or_default(), lang),
        })
    }
}
