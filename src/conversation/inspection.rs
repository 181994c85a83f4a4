//! Preventive inspections in chat, the same on every door: `/inspections` lists the
//! group's open jobs, `/inspect INS-12` (or a button of the offer) opens the `inspection`
//! flow for one, and each submission of it is one desk call — accept, a check (a fault
//! found files a fault ticket), or closing with the units and who signed on site — after
//! which the flow starts again where the job now stands.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Chat, ChatError};
use crate::desk::DeskError;
use crate::desk::inspections::{CheckOutcome, InspectionJob, parse_reference, reference};
use crate::domain::inspection::{InspectionError, JobStatus};
use crate::domain::routing::Engineer;
use crate::domain::ticket::Caller;
use crate::flow::{Conversation, Lang, Outgoing};

/// The flow for a job with its first replies, or what to say instead.
pub(super) type Opened = Result<(Conversation, Vec<Outgoing>), Vec<Outgoing>>;

impl Chat {
    /// `/inspections`: the engineer's group's open jobs.
    pub(super) async fn list_inspections(
        &self,
        e: &Engineer,
        lang: Lang,
    ) -> Result<Vec<Outgoing>, ChatError> {
        let jobs = self
            .desk
            .inspections(&Caller::Engineer(e.clone()), None, None)
            .await?;
        let open: Vec<&InspectionJob> = jobs
            .iter()
            .filter(|j| j.status != JobStatus::Done)
            .collect();
        if open.is_empty() {
            return Ok(vec![Outgoing::Text(
                self.text("inspection_list_empty", lang),
            )]);
        }
        let mut text = self.text("inspection_list_header", lang);
        for j in open {
            let vars = json!({
                "inspection": j.reference,
                "plan": j.plan,
                "site": j.site,
                "period": j.period,
                "inspection_status": j.status.as_str(),
                "due_at": j.due_at,
            });
            text.push('\n');
            text.push_str(&self.flows.text("inspection_list_line", lang, &vars));
        }
        Ok(vec![Outgoing::Text(text)])
    }

    /// `/inspect REFERENCE`: the job's flow (returned for the caller to save), or why not.
    pub(super) async fn open_inspection(
        &self,
        e: &Engineer,
        args: &str,
        lang: Lang,
    ) -> Result<super::commands::Commanded, ChatError> {
        let Some(id) = parse_reference(args) else {
            return Ok((
                vec![Outgoing::Text(self.text("inspection_usage", lang))],
                None,
            ));
        };
        Ok(match self.inspection_card(e, id, lang).await? {
            Ok((conv, replies)) => (replies, Some(conv)),
            Err(refusal) => (refusal, None),
        })
    }

    /// The `inspection` flow for job `id` where it stands for `e`: the card to accept an
    /// offered job, the next check of one they hold, or the closing questions once every
    /// check is recorded.
    pub(super) async fn inspection_card(
        &self,
        e: &Engineer,
        id: i64,
        lang: Lang,
    ) -> Result<Opened, ChatError> {
        let caller = Caller::Engineer(e.clone());
        let job = match self.desk.inspection(&caller, id).await {
            Ok(detail) => detail.job,
            Err(err) => {
                return Ok(Err(vec![Outgoing::Text(
                    self.inspection_refusal(&err, id, lang),
                )]));
            }
        };
        let mut known = self.inspection_vars(&job, lang);
        match (job.status, job.assignee) {
            (JobStatus::Done, _) => {
                let err = DeskError::Inspection(InspectionError::Finished);
                return Ok(Err(vec![Outgoing::Text(
                    self.inspection_refusal(&err, id, lang),
                )]));
            }
            (JobStatus::InProgress, Some(a)) if a == e.id.0 => {
                let stage = if job.next_check().is_some() {
                    "check"
                } else {
                    "finish"
                };
                known.insert("stage".into(), stage.into());
            }
            (JobStatus::InProgress, _) => {
                let err = DeskError::Inspection(InspectionError::NotYours);
                return Ok(Err(vec![Outgoing::Text(
                    self.inspection_refusal(&err, id, lang),
                )]));
            }
            (JobStatus::Offered, _) => {}
        }
        self.flows
            .start("inspection", lang, &known)
            .map(Ok)
            .map_err(|e| ChatError::State(e.to_string()))
    }

    /// The flow's values for a job: its reference (the flow's scope), plan, where, when,
    /// and the next check.
    fn inspection_vars(&self, job: &InspectionJob, lang: Lang) -> BTreeMap<String, String> {
        let tz = self.desk.policy().calendar.time_zone();
        let mut vars = BTreeMap::from([
            ("ticket".to_owned(), job.reference.clone()),
            ("plan".to_owned(), job.plan.clone()),
            ("site".to_owned(), job.site.clone()),
            ("period".to_owned(), job.period.clone()),
            (
                "due".to_owned(),
                job.due_at
                    .with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M")
                    .to_string(),
            ),
            ("items".to_owned(), job.checks.to_string()),
            (
                "units_planned".to_owned(),
                job.completion.units_planned.to_string(),
            ),
        ]);
        if let Some((n, item)) = job.next_check() {
            vars.insert("item_no".into(), n.to_string());
            vars.insert("item".into(), item.text(lang == Lang::En).to_owned());
        }
        vars
    }

    /// The `inspection` flow's answers as a desk call: the replies, and the flow where the
    /// job now stands (none once it is closed, or when it is not the engineer's to work).
    pub(super) async fn inspection_submitted(
        &self,
        e: &Engineer,
        conv: &Conversation,
        answers: &BTreeMap<String, String>,
    ) -> Result<(Vec<Outgoing>, Option<Conversation>), ChatError> {
        let lang = conv.lang();
        let Some(id) = conv.var("ticket").and_then(parse_reference) else {
            return Ok((vec![], None));
        };
        let caller = Caller::Engineer(e.clone());
        let answer = |k: &str| answers.get(k).map(String::as_str).unwrap_or_default();
        let vars = json!({ "inspection": reference(id) });
        let done: Result<Option<Outgoing>, DeskError> = match answer("stage") {
            "accept" => self.desk.accept_inspection(&caller, id).await.map(|_| {
                Some(Outgoing::Text(self.flows.text(
                    "inspection_accepted",
                    lang,
                    &vars,
                )))
            }),
            "check" => {
                let n = conv
                    .var("item_no")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let outcome = match answer("result") {
                    "fault" => CheckOutcome::Fault(answer("note").to_owned()),
                    _ => CheckOutcome::Pass,
                };
                self.desk
                    .check_inspection(&caller, id, n, outcome)
                    .await
                    .map(|(_, ticket)| {
                        ticket.map(|t| {
                            let vars = json!({ "ticket": t.number.as_str() });
                            Outgoing::Text(self.flows.text("inspection_fault_filed", lang, &vars))
                        })
                    })
            }
            "finish" => {
                let units = answer("units").parse().unwrap_or(u32::MAX);
                match self
                    .desk
                    .finish_inspection(&caller, id, units, answer("signed_by"))
                    .await
                {
                    Ok(job) => {
                        let vars = json!({
                            "inspection": job.reference,
                            "units": job.completion.units_inspected,
                            "units_planned": job.completion.units_planned,
                            "note": format!("{}%", job.completion.rate_pct),
                            "faults": job.faults,
                            "signed_by": job.signed_by,
                        });
                        let closed = self.flows.text("inspection_closed", lang, &vars);
                        return Ok((vec![Outgoing::Text(closed)], None));
                    }
                    Err(err) => Err(err),
                }
            }
            _ => Ok(None),
        };
        let mut replies = Vec::new();
        let refused = done.is_err();
        match done {
            Ok(reply) => replies.extend(reply),
            Err(err) => replies.push(Outgoing::Text(self.inspection_refusal(&err, id, lang))),
        }
        // What comes next, as the job now stands (after a refusal: the same question
        // again, unless the job is not the engineer's to work).
        match self.inspection_card(e, id, lang).await? {
            Ok((next, more)) => {
                replies.extend(more);
                Ok((replies, Some(next)))
            }
            Err(more) => {
                if !refused {
                    replies.extend(more);
                }
                Ok((replies, None))
            }
        }
    }

    /// A desk refusal about inspection `id` as a sentence from bot-flows.
    fn inspection_refusal(&self, err: &DeskError, id: i64, lang: Lang) -> String {
        match err {
            DeskError::Inspection(e) => {
                let planned = match e {
                    InspectionError::TooManyUnits { planned, .. } => Some(*planned),
                    _ => None,
                };
                let vars = json!({ "inspection": reference(id), "units_planned": planned });
                self.flows.text(e.message_key(), lang, &vars)
            }
            DeskError::NotFound(_) => {
                let vars = json!({ "inspection": reference(id) });
                self.flows.text("inspection_not_found", lang, &vars)
            }
            other => self.refusal(other, &reference(id), lang),
        }
    }
}
