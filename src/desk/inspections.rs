//! Preventive inspections (巡检): managers keep the plans; the scheduler opens one job per
//! plan per period and offers it to the plan's group; an engineer of the group accepts it
//! and records the checks in order — a fault found files a fault ticket by the normal
//! intake rules, linked to the check, in the same transaction — then closes the job with
//! the units inspected and the name of whoever signed the check report on site (plan
//! 000). Reporters never see inspections; an engineer sees their group's.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::{Desk, DeskError, MAX_ATTEMPTS, managers};
use crate::domain::channel::Channel;
use crate::domain::inspection::{
    CheckItem, CheckResult, Completion, Frequency, InspectionError, InspectionPeriod,
    InspectionRow, InspectionSection, JobState, JobStatus, PlanForm, PlanStatus,
};
use crate::domain::intake::{Department, Note, Phone};
use crate::domain::report_form::{FieldError, ReportForm};
use crate::domain::routing::{Engineer, Tier, offer_order};
use crate::domain::ticket::{Caller, Ticket};
use crate::store::{
    InspectionEvent, JobClose, JobRecord, NewCheck, NewInspectionEvent, NewJob, NewOutboxMessage,
    NewPlan, PlanRecord, Recipient, StoreError,
};

/// Due plans handled per query.
const BATCH: i64 = 100;

/// An inspection plan as managers see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InspectionPlan {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Site.
    pub site: String,
    /// Buildings or rooms covered.
    pub buildings: Vec<String>,
    /// What is covered, in words.
    pub scope: Option<String>,
    /// Asset group (for the asset register, later).
    pub asset_group: Option<String>,
    /// The engineer group that inspects.
    pub group: String,
    /// Category of the faults found.
    pub category: String,
    /// Department of the faults found.
    pub department: String,
    /// Contact phone of the faults found.
    pub phone: String,
    /// How often.
    pub frequency: Frequency,
    /// Completion target, percent.
    pub target_pct: u32,
    /// Units to inspect each period.
    pub units: u32,
    /// The checks, in order.
    pub checklist: Vec<CheckItem>,
    /// Active, paused or retired.
    pub status: PlanStatus,
    /// When the next job opens (active plans).
    pub next_due_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A plan with its own trail (created, paused, resumed, retired).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InspectionPlanDetail {
    /// The plan.
    pub plan: InspectionPlan,
    /// Its trail, oldest first.
    pub events: Vec<InspectionEvent>,
}

/// An inspection job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InspectionJob {
    /// Id.
    pub id: i64,
    /// How people name it: `INS-12`.
    pub reference: String,
    /// Plan.
    pub plan_id: i64,
    /// Plan name.
    pub plan: String,
    /// Site.
    pub site: String,
    /// Period label (`2026-H2`).
    pub period: String,
    /// Period start.
    pub period_start: DateTime<Utc>,
    /// Due: the period's end.
    pub due_at: DateTime<Utc>,
    /// Group.
    pub group: String,
    /// Offered, in progress, done.
    pub status: JobStatus,
    /// The engineer working it.
    pub assignee: Option<i64>,
    /// Checks on the list.
    pub checks: u32,
    /// Checks recorded.
    pub checked: u32,
    /// Faults found.
    pub faults: u32,
    /// Units against the target (units inspected are 0 until done).
    pub completion: Completion,
    /// Who signed the check report on site.
    pub signed_by: Option<String>,
    /// Opened.
    pub created_at: DateTime<Utc>,
    /// Accepted.
    pub accepted_at: Option<DateTime<Utc>>,
    /// Finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Finished by the due time.
    pub on_time: bool,
    #[serde(skip)]
    version: i64,
    #[serde(skip)]
    checklist: Vec<CheckItem>,
}

impl InspectionJob {
    fn state(&self) -> JobState {
        JobState {
            status: self.status,
            assignee: self.assignee,
            checked: self.checked,
            checks: self.checks,
            units_planned: self.completion.units_planned,
        }
    }

    /// The check due next (from 1) and its text, or `None` when every check is recorded.
    pub fn next_check(&self) -> Option<(u32, &CheckItem)> {
        let n = self.checked + 1;
        self.checklist
            .get(usize::try_from(self.checked).ok()?)
            .map(|c| (n, c))
    }
}

/// One check of a job with its result, if recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckLine {
    /// Number, from 1.
    pub n: u32,
    /// The check.
    pub item: CheckItem,
    /// Pass or fault, once recorded.
    pub result: Option<CheckResult>,
    /// What was found.
    pub note: Option<String>,
    /// The fault ticket filed.
    pub ticket: Option<String>,
    /// When recorded.
    pub at: Option<DateTime<Utc>>,
}

/// A job with its checklist results and trail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InspectionDetail {
    /// The job.
    pub job: InspectionJob,
    /// Its checks, in order, with results.
    pub checklist: Vec<CheckLine>,
    /// Its trail, oldest first.
    pub events: Vec<InspectionEvent>,
}

/// A check's outcome as the engineer gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Nothing wrong.
    Pass,
    /// A fault, in a few words: a fault ticket is filed for it.
    Fault(String),
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> DeskError {
    DeskError::Store(StoreError::Corrupt(format!("{what}: {e}")))
}

/// A list as the plan's JSON column keeps it.
fn to_json<T: Serialize>(v: &T) -> Result<String, DeskError> {
    serde_json::to_string(v).map_err(|e| corrupt("inspection plan", e))
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

impl TryFrom<PlanRecord> for InspectionPlan {
    type Error = DeskError;

    fn try_from(p: PlanRecord) -> Result<Self, DeskError> {
        let what = format!("inspection plan {}", p.id);
        Ok(InspectionPlan {
            id: p.id,
            buildings: serde_json::from_str(&p.buildings).map_err(|e| corrupt(&what, e))?,
            checklist: serde_json::from_str(&p.checklist).map_err(|e| corrupt(&what, e))?,
            frequency: p.frequency.parse().map_err(|e: String| corrupt(&what, e))?,
            status: p.status.parse().map_err(|e: String| corrupt(&what, e))?,
            name: p.name,
            site: p.site,
            scope: p.scope,
            asset_group: p.asset_group,
            group: p.group_id,
            category: p.category,
            department: p.department,
            phone: p.phone,
            target_pct: count(p.target_pct),
            units: count(p.units),
            next_due_at: p.next_due_at,
            created_at: p.created_at,
            updated_at: p.updated_at,
        })
    }
}

impl TryFrom<JobRecord> for InspectionJob {
    type Error = DeskError;

    fn try_from(j: JobRecord) -> Result<Self, DeskError> {
        let what = format!("inspection job {}", j.id);
        let checklist: Vec<CheckItem> =
            serde_json::from_str(&j.checklist).map_err(|e| corrupt(&what, e))?;
        let status: JobStatus = j.status.parse().map_err(|e: String| corrupt(&what, e))?;
        let inspected = j.units_inspected.map_or(0, count);
        Ok(InspectionJob {
            reference: reference(j.id),
            id: j.id,
            plan_id: j.plan_id,
            plan: j.plan,
            site: j.site,
            period: j.period,
            period_start: j.period_start,
            due_at: j.due_at,
            group: j.group_id,
            status,
            assignee: j.assignee_id,
            checks: u32::try_from(checklist.len()).unwrap_or(u32::MAX),
            checked: count(j.checked),
            faults: count(j.faults),
            completion: Completion::of(inspected, count(j.units_planned), count(j.target_pct)),
            signed_by: j.signed_by,
            created_at: j.created_at,
            accepted_at: j.accepted_at,
            on_time: status == JobStatus::Done && j.finished_at.is_some_and(|f| f <= j.due_at),
            finished_at: j.finished_at,
            version: j.version,
            checklist,
        })
    }
}

/// How people name a job: `INS-12`.
pub fn reference(id: i64) -> String {
    format!("INS-{id}")
}

/// The job id a reference (`INS-12`, `ins-12` or `12`) names.
pub fn parse_reference(s: &str) -> Option<i64> {
    let s = s.trim();
    let digits = s
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("INS-"))
        .map_or(s, |_| &s[4..]);
    digits.parse().ok().filter(|id| *id > 0)
}

fn managers_only(caller: &Caller) -> Result<(), DeskError> {
    if caller.is_manager() {
        Ok(())
    } else {
        Err(DeskError::Forbidden(
            "only managers can manage inspection plans".into(),
        ))
    }
}

/// The engineer working inspections (managers and the desk only read and plan them).
fn engineer(caller: &Caller) -> Result<&Engineer, DeskError> {
    match caller {
        Caller::Engineer(e) => Ok(e),
        _ => Err(DeskError::Forbidden(
            "inspections are worked by the engineers of the plan's group".into(),
        )),
    }
}

impl Desk {
    /// Records a plan (managers only); its first job opens at the scheduler's next round,
    /// for the period under way.
    pub async fn create_inspection_plan(
        &self,
        caller: &Caller,
        form: PlanForm,
    ) -> Result<InspectionPlan, DeskError> {
        managers_only(caller)?;
        let mut errors = Vec::new();
        let bad = |field, message: String| FieldError { field, message };
        let group = self.policy.routing.group(form.group.trim());
        if group.is_none() && !form.group.trim().is_empty() {
            let ids: Vec<&str> = self.groups().iter().map(|g| g.id.as_str()).collect();
            errors.push(bad(
                "group",
                format!(
                    "unknown group `{}`; choose one of: {}",
                    form.group.trim(),
                    ids.join(", ")
                ),
            ));
        }
        // Faults found go to the plan's own group: its category, by default its first.
        let category = match (&form.category, group) {
            (Some(c), Some(g)) if !c.trim().is_empty() => {
                if !g.categories.iter().any(|k| k == c.trim()) {
                    errors.push(bad(
                        "category",
                        format!(
                            "category `{}` is not one of group `{}`'s: {}",
                            c.trim(),
                            g.id,
                            g.categories.join(", ")
                        ),
                    ));
                }
                c.trim().to_owned()
            }
            (_, Some(g)) => g.categories.first().cloned().unwrap_or_default(),
            _ => String::new(),
        };
        if !form.department.trim().is_empty()
            && let Err(e) = Department::parse(&form.department)
        {
            errors.push(bad("department", e.to_string()));
        }
        if !form.phone.trim().is_empty()
            && let Err(e) = Phone::parse(&form.phone)
        {
            errors.push(bad("phone", e.to_string()));
        }
        let spec = match form.parse() {
            Ok(spec) if errors.is_empty() => spec,
            Ok(_) => return Err(DeskError::Invalid(errors)),
            Err(mut more) => {
                more.extend(errors);
                return Err(DeskError::Invalid(more));
            }
        };
        let now = self.now();
        let tz = self.policy.calendar.time_zone();
        let (start, _) = InspectionPeriod::at(spec.frequency, now, &tz).bounds(&tz);
        let new = NewPlan {
            name: spec.name,
            site: spec.site,
            buildings: to_json(&spec.buildings)?,
            scope: spec.scope,
            asset_group: spec.asset_group,
            group: spec.group,
            category,
            department: spec.department,
            phone: spec.phone,
            frequency: spec.frequency.as_str(),
            target_pct: i64::from(spec.target_pct),
            units: i64::from(spec.units),
            checklist: to_json(&spec.checklist)?,
            next_due_at: start,
            created_at: now,
        };
        let event = NewInspectionEvent {
            plan_id: 0,
            job_id: None,
            actor: super::actor_named(caller, |id| format!("reporter {id}")),
            at: now,
            action: "plan_created",
            from: None,
            to: PlanStatus::Active.as_str(),
            note: None,
        };
        let id = self.store.insert_plan(&new, &event).await?;
        tracing::info!(plan = id, "inspection plan created");
        self.inspection_plan(caller, id).await
    }

    /// Every plan, oldest first (managers only).
    pub async fn inspection_plans(
        &self,
        caller: &Caller,
    ) -> Result<Vec<InspectionPlan>, DeskError> {
        managers_only(caller)?;
        self.store
            .inspection_plans()
            .await?
            .into_iter()
            .map(InspectionPlan::try_from)
            .collect()
    }

    /// One plan (managers only).
    pub async fn inspection_plan(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<InspectionPlan, DeskError> {
        managers_only(caller)?;
        self.store
            .inspection_plan(id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("inspection plan {id}")))?
            .try_into()
    }

    /// One plan with its trail (managers only).
    pub async fn inspection_plan_detail(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<InspectionPlanDetail, DeskError> {
        let plan = self.inspection_plan(caller, id).await?;
        let events = self.store.inspection_plan_events(id).await?;
        Ok(InspectionPlanDetail { plan, events })
    }

    /// Pauses, resumes or retires a plan (managers only). A resumed plan's job for the
    /// period under way opens at the scheduler's next round, unless it has one already.
    pub async fn set_inspection_plan_status(
        &self,
        caller: &Caller,
        id: i64,
        to: PlanStatus,
    ) -> Result<InspectionPlan, DeskError> {
        let plan = self.inspection_plan(caller, id).await?;
        let to = plan.status.change(to).map_err(DeskError::Inspection)?;
        let now = self.now();
        let tz = self.policy.calendar.time_zone();
        let next_due_at = (to == PlanStatus::Active)
            .then(|| InspectionPeriod::at(plan.frequency, now, &tz).bounds(&tz).0);
        let event = NewInspectionEvent {
            plan_id: id,
            job_id: None,
            actor: super::actor_named(caller, |id| format!("reporter {id}")),
            at: now,
            action: match to {
                PlanStatus::Active => "resumed",
                PlanStatus::Paused => "paused",
                PlanStatus::Retired => "retired",
            },
            from: Some(plan.status.as_str()),
            to: to.as_str(),
            note: None,
        };
        match self.store.set_plan_status(id, next_due_at, &event).await {
            Ok(()) => self.inspection_plan(caller, id).await,
            Err(StoreError::Conflict) => Err(DeskError::Busy),
            Err(e) => Err(e.into()),
        }
    }

    /// Opens the job of every active plan whose period has begun and has none yet, and
    /// offers it to the plan's group (first-line engineers on duty; with nobody on duty,
    /// whoever is on call hears so). Each job opens once, however many instances run
    /// this; how many this call opened.
    pub async fn open_due_inspections(&self) -> Result<u32, DeskError> {
        let now = self.now();
        let tz = self.policy.calendar.time_zone();
        let mut opened = 0;
        loop {
            let due = self.store.due_inspection_plans(now, BATCH).await?;
            if due.is_empty() {
                return Ok(opened);
            }
            let roster = self.store.roster().await?;
            for record in &due {
                let plan = InspectionPlan::try_from(record.clone())?;
                // A plan due for several periods (the service was down) opens the period
                // under way only: the ones gone by cannot be inspected any more.
                let period = InspectionPeriod::at(plan.frequency, now, &tz);
                let (start, end) = period.bounds(&tz);
                let job = NewJob {
                    plan_id: plan.id,
                    period: period.label(),
                    period_start: start,
                    due_at: end,
                    group: plan.group.clone(),
                    checklist: record.checklist.clone(),
                    units_planned: record.units,
                    target_pct: record.target_pct,
                    created_at: now,
                };
                let payload = json!({
                    "inspection": "",
                    "plan": plan.name,
                    "site": plan.site,
                    "period": job.period,
                    "due_at": end,
                    "units_planned": plan.units,
                });
                let load = |id| roster.load.get(&id).copied().unwrap_or(0);
                let offer = offer_order(&roster.engineers, &plan.group, Tier::FirstLine, load);
                let (to, event) = if offer.is_empty() {
                    (self.on_call(&roster.engineers, now), "inspection_unstaffed")
                } else {
                    (
                        offer.iter().map(|e| Recipient::Engineer(e.id)).collect(),
                        "inspection_offered",
                    )
                };
                // An offer goes out at once; telling the managers nobody is on duty can
                // wait for their hours: the job is due at the period's end.
                let not_before = match event {
                    "inspection_unstaffed" => self.managers_time(now),
                    _ => None,
                };
                let outbox: Vec<NewOutboxMessage> = to
                    .into_iter()
                    .map(|to| NewOutboxMessage {
                        to,
                        event: event.into(),
                        payload: payload.clone(),
                        not_before,
                    })
                    .collect();
                let trail = NewInspectionEvent {
                    plan_id: plan.id,
                    job_id: None,
                    actor: super::actor_named(&Caller::System, |_| String::new()),
                    at: now,
                    action: "opened",
                    from: None,
                    to: JobStatus::Offered.as_str(),
                    note: Some(job.period.clone()),
                };
                let next = period.next().bounds(&tz).0;
                if let Some(id) = self
                    .store
                    .open_inspection(&job, next, &trail, &outbox)
                    .await?
                {
                    opened += 1;
                    if !outbox.is_empty() {
                        self.signal.notify_one();
                    }
                    tracing::info!(job = id, plan = plan.id, period = %job.period, "inspection opened");
                }
            }
            if (due.len() as i64) < BATCH {
                return Ok(opened);
            }
        }
    }

    /// Jobs the caller may see, newest first: managers all, an engineer their group's;
    /// of one plan and one period (`2026-H2`, `2026-Q4`, `2026-12`) when given.
    pub async fn inspections(
        &self,
        caller: &Caller,
        plan: Option<i64>,
        period: Option<&str>,
    ) -> Result<Vec<InspectionJob>, DeskError> {
        let group = match caller {
            _ if caller.is_manager() => None,
            Caller::Engineer(e) => Some(e.group.as_str()),
            _ => {
                return Err(DeskError::Forbidden(
                    "inspections are for the service desk's engineers".into(),
                ));
            }
        };
        let period = period.map(str::trim).filter(|p| !p.is_empty());
        if let Some(p) = period
            && InspectionPeriod::parse(p).is_none()
        {
            return Err(DeskError::BadValue(format!(
                "unknown period `{p}`; use e.g. 2026-H2, 2026-Q4 or 2026-12"
            )));
        }
        self.store
            .inspection_jobs(plan, period, group)
            .await?
            .into_iter()
            .map(InspectionJob::try_from)
            .collect()
    }

    /// A job the caller may see; not found otherwise (another group's looks missing).
    async fn visible_job(&self, caller: &Caller, id: i64) -> Result<InspectionJob, DeskError> {
        if matches!(caller, Caller::Reporter(_) | Caller::System) {
            return Err(DeskError::Forbidden(
                "inspections are for the service desk's engineers".into(),
            ));
        }
        let not_found = || DeskError::NotFound(format!("inspection {}", reference(id)));
        let job: InspectionJob = self
            .store
            .inspection_job(id)
            .await?
            .ok_or_else(not_found)?
            .try_into()?;
        match caller {
            Caller::Engineer(e) if !caller.is_manager() && e.group != job.group => Err(not_found()),
            _ => Ok(job),
        }
    }

    /// A job with its checklist results and trail.
    pub async fn inspection(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<InspectionDetail, DeskError> {
        let job = self.visible_job(caller, id).await?;
        let (checks, events) = tokio::join!(
            self.store.inspection_checks(id),
            self.store.inspection_events(id)
        );
        let mut checks = checks?.into_iter().peekable();
        let mut lines = Vec::with_capacity(job.checklist.len());
        for (n, item) in (1..).zip(&job.checklist) {
            let done = checks.next_if(|c| c.n == i64::from(n));
            lines.push(CheckLine {
                n,
                item: item.clone(),
                result: done
                    .as_ref()
                    .map(|c| c.result.parse())
                    .transpose()
                    .map_err(|e: String| corrupt("inspection check", e))?,
                note: done.as_ref().and_then(|c| c.note.clone()),
                ticket: done.as_ref().and_then(|c| c.ticket.clone()),
                at: done.map(|c| c.at),
            });
        }
        Ok(InspectionDetail {
            job,
            checklist: lines,
            events: events?,
        })
    }

    /// Takes an offered job (an engineer of its group; first to accept wins). Accepting
    /// one's own job again changes nothing.
    pub async fn accept_inspection(
        &self,
        caller: &Caller,
        id: i64,
    ) -> Result<InspectionJob, DeskError> {
        let e = engineer(caller)?;
        let job = self.visible_job(caller, id).await?;
        match (job.status, job.assignee) {
            (JobStatus::Done, _) => return Err(DeskError::Inspection(InspectionError::Finished)),
            (JobStatus::InProgress, Some(a)) if a == e.id.0 => return Ok(job),
            (JobStatus::InProgress, by) => {
                return Err(DeskError::AlreadyTaken {
                    by: self
                        .engineer_name(by.map(crate::domain::EngineerId))
                        .await?,
                });
            }
            (JobStatus::Offered, _) => {}
        }
        let event = NewInspectionEvent {
            plan_id: job.plan_id,
            job_id: Some(id),
            actor: super::actor_named(caller, |_| String::new()),
            at: self.now(),
            action: "accepted",
            from: Some(JobStatus::Offered.as_str()),
            to: JobStatus::InProgress.as_str(),
            note: None,
        };
        if !self.store.accept_inspection(id, e.id, &event, &[]).await? {
            let now = self.visible_job(caller, id).await?;
            if now.assignee == Some(e.id.0) {
                return Ok(now);
            }
            return Err(DeskError::AlreadyTaken {
                by: self
                    .engineer_name(now.assignee.map(crate::domain::EngineerId))
                    .await?,
            });
        }
        tracing::info!(job = id, engineer = %e.handle, "inspection accepted");
        self.visible_job(caller, id).await
    }

    /// Records check `n` (the next one) of a job the caller holds: a pass, or a fault,
    /// which files a fault ticket for the plan's site by the normal intake rules (its
    /// category, priority, group), linked to the check, in the same transaction. The job
    /// after it, and the ticket filed.
    pub async fn check_inspection(
        &self,
        caller: &Caller,
        id: i64,
        n: u32,
        outcome: CheckOutcome,
    ) -> Result<(InspectionJob, Option<Ticket>), DeskError> {
        let e = engineer(caller)?;
        let note = match &outcome {
            CheckOutcome::Pass => None,
            CheckOutcome::Fault(text) if text.trim().is_empty() => {
                return Err(DeskError::Inspection(InspectionError::NoteNeeded));
            }
            CheckOutcome::Fault(text) => Some(
                Note::parse(text.trim())
                    .map_err(|e| DeskError::BadValue(e.to_string()))?
                    .to_string(),
            ),
        };
        let result = match outcome {
            CheckOutcome::Pass => CheckResult::Pass,
            CheckOutcome::Fault(_) => CheckResult::Fault,
        };
        for _ in 0..MAX_ATTEMPTS {
            let job = self.visible_job(caller, id).await?;
            job.state()
                .check(e.id.0, n, result, note.as_deref())
                .map_err(DeskError::Inspection)?;
            let now = self.now();
            let check = NewCheck {
                job_id: id,
                version: job.version,
                n: i64::from(n),
                result: result.as_str(),
                note: note.clone(),
                engineer: e.id,
                at: now,
            };
            let event = NewInspectionEvent {
                plan_id: job.plan_id,
                job_id: Some(id),
                actor: super::actor_named(caller, |_| String::new()),
                at: now,
                action: if result == CheckResult::Pass {
                    "checked"
                } else {
                    "fault_found"
                },
                from: Some(job.status.as_str()),
                to: job.status.as_str(),
                note: Some(format!("#{n}")),
            };
            let written = match &note {
                None => self
                    .store
                    .record_inspection_check(&check, &event, &[])
                    .await
                    .map(|()| None),
                Some(note) => {
                    let (write, year) = self.fault_found(e, &job, n, note).await?;
                    self.store
                        .record_inspection_fault(
                            &self.policy.ticket_prefix,
                            year,
                            &write,
                            &check,
                            &event,
                        )
                        .await
                        .map(Some)
                }
            };
            match written {
                Ok(ticket) => {
                    if let Some(t) = &ticket {
                        self.signal.notify_one();
                        tracing::info!(job = id, ticket = %t.number, "inspection found a fault");
                    }
                    return Ok((self.visible_job(caller, id).await?, ticket));
                }
                // Changed meanwhile (a second tap): decided again on the fresh job.
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DeskError::Busy)
    }

    /// The fault ticket a check found, decided as any report is (priority, group,
    /// clocks, messages) and filed by the engineer for the plan's site; its year.
    async fn fault_found(
        &self,
        e: &Engineer,
        job: &InspectionJob,
        n: u32,
        note: &str,
    ) -> Result<(crate::store::TicketWrite, i32), DeskError> {
        let plan: InspectionPlan = self
            .store
            .inspection_plan(job.plan_id)
            .await?
            .ok_or_else(|| DeskError::NotFound(format!("inspection plan {}", job.plan_id)))?
            .try_into()?;
        // The engineer files it as a reporter of their own, reached on no door: what the
        // receipt would tell them they already know.
        let reporter = self
            .reporter_for_identity("inspection", &e.handle, &e.name)
            .await?;
        let item = usize::try_from(n - 1)
            .ok()
            .and_then(|i| job.checklist.get(i))
            .map_or("", |c| c.zh.as_str());
        let form = ReportForm {
            reporter_name: Some(e.name.clone()),
            department: Some(plan.department.clone()),
            phone: Some(plan.phone.clone()),
            site: plan.site.clone(),
            category: plan.category.clone(),
            description: format!("{} #{n} {item}: {note}", job.reference),
            channel: Some(Channel::Inspection),
            ..ReportForm::default()
        };
        let draft = self
            .prepare_report(
                &Caller::Desk {
                    name: e.name.clone(),
                },
                reporter.id,
                form,
            )
            .await?;
        let mut write = draft.write;
        write.audit.actor = super::actor_named(&Caller::Engineer(e.clone()), |_| String::new());
        write.audit.note = Some(format!("{} #{n}", job.reference));
        write
            .outbox
            .retain(|m| m.to != Recipient::Reporter(reporter.id));
        Ok((write, draft.year))
    }

    /// Closes a job the caller holds once every check is recorded, with the units
    /// inspected (at most the plan's) and the name of who signed the check report on
    /// site (plan 000); the managers hear the outcome.
    pub async fn finish_inspection(
        &self,
        caller: &Caller,
        id: i64,
        units: u32,
        signed_by: &str,
    ) -> Result<InspectionJob, DeskError> {
        let e = engineer(caller)?;
        for _ in 0..MAX_ATTEMPTS {
            let job = self.visible_job(caller, id).await?;
            let signer = job
                .state()
                .finish(e.id.0, units, signed_by)
                .map_err(DeskError::Inspection)?;
            let now = self.now();
            let done = Completion::of(
                units,
                job.completion.units_planned,
                job.completion.target_pct,
            );
            let payload = json!({
                "inspection": job.reference,
                "plan": job.plan,
                "site": job.site,
                "period": job.period,
                "units": units,
                "units_planned": job.completion.units_planned,
                "faults": job.faults,
                "signed_by": signer,
                "engineer": e.name,
                "note": format!("{}%", done.rate_pct),
            });
            let engineers = self.store.engineers().await?;
            let outbox: Vec<NewOutboxMessage> = managers(&engineers)
                .filter(|m| m.id != e.id)
                .map(|m| NewOutboxMessage {
                    to: Recipient::Engineer(m.id),
                    event: "inspection_done".into(),
                    payload: payload.clone(),
                    // News, not a call to act: in the managers' hours (quiet hours).
                    not_before: self.managers_time(now),
                })
                .collect();
            let event = NewInspectionEvent {
                plan_id: job.plan_id,
                job_id: Some(id),
                actor: super::actor_named(caller, |_| String::new()),
                at: now,
                action: "finished",
                from: Some(JobStatus::InProgress.as_str()),
                to: JobStatus::Done.as_str(),
                note: Some(format!(
                    "{units}/{}; {signer}",
                    job.completion.units_planned
                )),
            };
            match self
                .store
                .finish_inspection(
                    &JobClose {
                        job: id,
                        version: job.version,
                        engineer: e.id,
                        units: i64::from(units),
                        signed_by: signer.clone(),
                    },
                    &event,
                    &outbox,
                )
                .await
            {
                Ok(()) => {
                    if !outbox.is_empty() {
                        self.signal.notify_one();
                    }
                    tracing::info!(job = id, units, "inspection finished");
                    return self.visible_job(caller, id).await;
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DeskError::Busy)
    }

    /// When a message that can wait may reach the managers: now in their hours, else
    /// when their hours begin.
    fn managers_time(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let at = self.policy.manager_hours.next_working_time(now);
        (at > now).then_some(at)
    }

    /// The report's `inspections` section: the jobs of periods starting in `[from, to)`.
    pub(super) async fn inspection_section(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<InspectionSection, DeskError> {
        let rows = self
            .store
            .inspection_report_jobs(from, to)
            .await?
            .into_iter()
            .map(|j| {
                let job = InspectionJob::try_from(j)?;
                Ok(InspectionRow {
                    job: job.id,
                    plan_id: job.plan_id,
                    plan: job.plan,
                    site: job.site,
                    group: job.group,
                    period: job.period,
                    status: job.status,
                    due_at: job.due_at,
                    finished_at: job.finished_at,
                    on_time: job.on_time,
                    passed: job.checked - job.faults,
                    faults: job.faults,
                    completion: job.completion,
                })
            })
            .collect::<Result<Vec<_>, DeskError>>()?;
        Ok(InspectionSection::of(rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_name_jobs() {
        assert_eq!(reference(12), "INS-12");
        assert_eq!(parse_reference("INS-12"), Some(12));
        assert_eq!(parse_reference(" ins-7 "), Some(7));
        assert_eq!(parse_reference("7"), Some(7));
        assert_eq!(parse_reference("INS-0"), None);
        assert_eq!(parse_reference("BX-2026-000001"), None);
        assert_eq!(parse_reference("INS-"), None);
        assert_eq!(parse_reference("巡检-1"), None);
    }
}
