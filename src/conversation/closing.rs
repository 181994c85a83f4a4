//! The reporter's answers to the desk's questions: "may the engineer work remotely?"
//! (consent), "is it fixed?" (confirm, or reopen with a reason) and the satisfaction
//! survey (a rating, a comment, or a complaint).

use std::collections::BTreeMap;

use super::Chat;
use crate::desk::{DeskError, Reporter, SurveyReply};
use crate::domain::intake::Note;
use crate::domain::ticket::{Action, Caller, Ticket};
use crate::flow::{Conversation, Outgoing};

impl Chat {
    /// The ticket, if the question a notification's flow asks about it is still open to
    /// the caller; if not, why (the ticket is no longer resolved, the survey closed). The
    /// desk decides.
    pub(super) async fn question_open(
        &self,
        caller: &Caller,
        flow: &str,
        number: &str,
    ) -> Result<Ticket, DeskError> {
        match flow {
            "confirm_fix" => self.desk.confirmation_open(caller, number).await,
            "survey" => self.desk.survey_open(caller, number).await,
            "remote_consent" => self.desk.remote_consent_open(caller, number).await,
            _ => self.desk.look_up(caller, number).await,
        }
    }

    /// The reporter's answer to "is it fixed?" or to the survey, as a desk call.
    pub(super) async fn closing(
        &self,
        r: &Reporter,
        conv: &Conversation,
        answers: &BTreeMap<String, String>,
    ) -> Vec<Outgoing> {
        let lang = conv.lang();
        let ticket = conv.var("ticket").unwrap_or_default().to_owned();
        let caller = Caller::Reporter(r.id);
        let answer = |key: &str| answers.get(key).cloned();
        let (result, done) = if conv.flow() == "remote_consent" {
            let allow = answer("consent").as_deref() == Some("allow");
            (
                self.act(&caller, &ticket, Action::AnswerRemoteConsent(allow))
                    .await,
                if allow {
                    "remote_allowed_ack"
                } else {
                    "remote_refused_ack"
                },
            )
        } else if conv.flow() == "confirm_fix" {
            let reason = answer("reason").filter(|_| answer("fixed").as_deref() == Some("no"));
            match reason.map(|reason| Note::parse(&reason)) {
                None => (
                    self.act(&caller, &ticket, Action::Confirm).await,
                    "confirm_thanks",
                ),
                Some(Ok(reason)) => (
                    self.act(&caller, &ticket, Action::Reopen(reason)).await,
                    "reopen_ack",
                ),
                Some(Err(e)) => (Err(DeskError::BadValue(e.to_string())), "reopen_ack"),
            }
        } else {
            let rating = answer("rating");
            let reply = SurveyReply {
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
        let text = match result {
            Ok(()) => {
                let vars = serde_json::json!({ "ticket": ticket });
                self.flows.text(done, lang, &vars)
            }
            Err(e) => self.refusal(&e, &ticket, lang),
        };
        vec![Outgoing::Text(text)]
    }

    async fn act(&self, caller: &Caller, ticket: &str, action: Action) -> Result<(), DeskError> {
        self.desk.act(caller, ticket, action).await.map(drop)
    }
}
