//! Preventive inspections (巡检), pure rules: plans and their checks, the periods a plan
//! is inspected in (half-yearly for plan 000, quarterly for plan 003, or monthly) in the
//! customer's time zone, an inspection job's states, and the completion rate measured
//! against the plan's target (plan 000: ≥ 90 % of the devices, twice a year).

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::report_form::FieldError;

text_enum!(
    /// How often a plan's devices are inspected.
    Frequency {
        /// Twice a year: January–June and July–December (plan 000).
        HalfYearly = "half_yearly",
        /// Every quarter (plan 003).
        Quarterly = "quarterly",
        /// Every month.
        Monthly = "monthly",
    }
);

impl Frequency {
    /// The period's length in months.
    pub fn months(self) -> u32 {
        match self {
            Frequency::HalfYearly => 6,
            Frequency::Quarterly => 3,
            Frequency::Monthly => 1,
        }
    }
}

text_enum!(
    /// Whether a plan generates jobs.
    PlanStatus {
        /// Generates one job per period.
        Active = "active",
        /// Generates nothing until resumed.
        Paused = "paused",
        /// Ended for good (its jobs and figures stay).
        Retired = "retired",
    }
);

impl PlanStatus {
    /// Whether a manager may move a plan from this status to `to`: pause and resume
    /// freely, retire from either, never come back from retirement.
    pub fn change(self, to: PlanStatus) -> Result<PlanStatus, InspectionError> {
        match (self, to) {
            (PlanStatus::Retired, _) => Err(InspectionError::Retired),
            (from, to) if from == to => Err(InspectionError::SameStatus(to)),
            (_, to) => Ok(to),
        }
    }
}

text_enum!(
    /// Where an inspection job is.
    JobStatus {
        /// Offered to the plan's group; nobody has taken it yet.
        Offered = "offered",
        /// Taken by one engineer, who works the checklist.
        InProgress = "in_progress",
        /// Every check recorded, units counted and signed for.
        Done = "done",
    }
);

text_enum!(
    /// The outcome of one check.
    CheckResult {
        /// Nothing wrong.
        Pass = "pass",
        /// A fault was found: a fault ticket is filed for it.
        Fault = "fault",
    }
);

/// One check of a plan's checklist, in Chinese and optionally English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckItem {
    /// The check in Chinese (required).
    #[serde(rename = "zh-CN")]
    pub zh: String,
    /// The check in English, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
}

impl CheckItem {
    /// The text in English when asked for and given, else the Chinese.
    pub fn text(&self, english: bool) -> &str {
        match (&self.en, english) {
            (Some(en), true) => en,
            _ => &self.zh,
        }
    }
}

/// Most checks a checklist may have.
pub const MAX_CHECKS: usize = 50;
/// Most units (devices) a plan may count.
pub const MAX_UNITS: u32 = 1_000_000;

/// A plan as a manager asks for it, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanForm {
    /// Name, e.g. "总部 PC 半年巡检".
    #[serde(default)]
    pub name: String,
    /// The site inspected.
    #[serde(default)]
    pub site: String,
    /// Buildings or rooms covered (optional).
    #[serde(default)]
    pub buildings: Vec<String>,
    /// Free text saying what is covered (optional).
    #[serde(default)]
    pub scope: Option<String>,
    /// An asset group of the asset register (optional, for later).
    #[serde(default)]
    pub asset_group: Option<String>,
    /// The engineer group that inspects.
    #[serde(default)]
    pub group: String,
    /// A fault category of that group for the faults found (default: its first).
    #[serde(default)]
    pub category: Option<String>,
    /// The department at the site that faults found are filed for.
    #[serde(default)]
    pub department: String,
    /// The site's contact phone for faults found.
    #[serde(default)]
    pub phone: String,
    /// `half_yearly`, `quarterly` or `monthly`.
    pub frequency: Option<Frequency>,
    /// Completion target in percent (default 90).
    #[serde(default)]
    pub target_pct: Option<u32>,
    /// Units (devices) to inspect each period: the completion rate's denominator.
    #[serde(default)]
    pub units: Option<u32>,
    /// The checks, in order.
    #[serde(default)]
    pub checklist: Vec<CheckItem>,
}

/// A validated plan's fields (the desk checks the group and category against routing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSpec {
    /// Name.
    pub name: String,
    /// Site.
    pub site: String,
    /// Buildings or rooms.
    pub buildings: Vec<String>,
    /// What is covered.
    pub scope: Option<String>,
    /// Asset group, for later.
    pub asset_group: Option<String>,
    /// Engineer group.
    pub group: String,
    /// Category of faults found (None: the group's first, chosen by the desk).
    pub category: Option<String>,
    /// Department of faults found.
    pub department: String,
    /// Contact phone of faults found.
    pub phone: String,
    /// Frequency.
    pub frequency: Frequency,
    /// Target, percent.
    pub target_pct: u32,
    /// Units per period.
    pub units: u32,
    /// Checks.
    pub checklist: Vec<CheckItem>,
}

/// A required text of 1..=`max` characters with no control characters, trimmed.
fn text(field: &'static str, raw: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let t = raw.trim();
    let n = t.chars().count();
    if n == 0 || n > max || t.chars().any(char::is_control) {
        errors.push(FieldError {
            field,
            message: format!("{field} must be 1–{max} characters of plain text"),
        });
    }
    t.to_owned()
}

/// An optional text: blank is none.
fn optional(
    field: &'static str,
    raw: Option<&str>,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    raw.filter(|s| !s.trim().is_empty())
        .map(|s| text(field, s, max, errors))
}

impl PlanForm {
    /// Checks every field, collecting every problem.
    pub fn parse(self) -> Result<PlanSpec, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = text("name", &self.name, 100, &mut errors);
        let site = text("site", &self.site, 100, &mut errors);
        if self.buildings.len() > 50 {
            errors.push(FieldError {
                field: "buildings",
                message: "at most 50 buildings or rooms".into(),
            });
        }
        let buildings = self
            .buildings
            .iter()
            .map(|b| text("buildings", b, 100, &mut errors))
            .collect();
        let scope = optional("scope", self.scope.as_deref(), 500, &mut errors);
        let asset_group = optional("asset_group", self.asset_group.as_deref(), 100, &mut errors);
        let group = text("group", &self.group, 64, &mut errors);
        let category = optional("category", self.category.as_deref(), 64, &mut errors);
        let department = text("department", &self.department, 100, &mut errors);
        let phone = text("phone", &self.phone, 32, &mut errors);
        let frequency = self.frequency.unwrap_or_else(|| {
            errors.push(FieldError {
                field: "frequency",
                message: "frequency is required: half_yearly, quarterly or monthly".into(),
            });
            Frequency::HalfYearly
        });
        let target_pct = self.target_pct.unwrap_or(90);
        if !(1..=100).contains(&target_pct) {
            errors.push(FieldError {
                field: "target_pct",
                message: "the completion target must be 1–100 percent".into(),
            });
        }
        let units = self.units.unwrap_or(0);
        if !(1..=MAX_UNITS).contains(&units) {
            errors.push(FieldError {
                field: "units",
                message: format!("units (the devices to inspect) must be 1–{MAX_UNITS}"),
            });
        }
        if !(1..=MAX_CHECKS).contains(&self.checklist.len()) {
            errors.push(FieldError {
                field: "checklist",
                message: format!("the checklist needs 1–{MAX_CHECKS} checks"),
            });
        }
        let checklist = self
            .checklist
            .iter()
            .map(|c| CheckItem {
                zh: text("checklist", &c.zh, 200, &mut errors),
                en: optional("checklist", c.en.as_deref(), 200, &mut errors),
            })
            .collect();
        if errors.is_empty() {
            Ok(PlanSpec {
                name,
                site,
                buildings,
                scope,
                asset_group,
                group,
                category,
                department,
                phone,
                frequency,
                target_pct,
                units,
                checklist,
            })
        } else {
            Err(errors)
        }
    }
}

/// One inspection period: local dates `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct InspectionPeriod {
    /// Its frequency.
    pub frequency: Frequency,
    /// First day.
    pub start: NaiveDate,
    /// The day after the last.
    pub end: NaiveDate,
}

impl InspectionPeriod {
    /// The period of `frequency` that local day `day` is in.
    pub fn containing(frequency: Frequency, day: NaiveDate) -> InspectionPeriod {
        let months = frequency.months();
        let first_month = (day.month0() / months) * months + 1;
        // The first of a month of a valid date always exists.
        let start = NaiveDate::from_ymd_opt(day.year(), first_month, 1).unwrap_or(day);
        InspectionPeriod::from_start(frequency, start)
    }

    fn from_start(frequency: Frequency, start: NaiveDate) -> InspectionPeriod {
        let end = start
            .checked_add_months(Months::new(frequency.months()))
            .unwrap_or(NaiveDate::MAX);
        InspectionPeriod {
            frequency,
            start,
            end,
        }
    }

    /// The period at the instant `at` in `tz`.
    pub fn at<Tz: TimeZone>(frequency: Frequency, at: DateTime<Utc>, tz: &Tz) -> InspectionPeriod {
        InspectionPeriod::containing(frequency, at.with_timezone(tz).date_naive())
    }

    /// The period after this one.
    pub fn next(self) -> InspectionPeriod {
        InspectionPeriod::from_start(self.frequency, self.end)
    }

    /// Its name: `2026-H2`, `2026-Q4` or `2026-12`.
    pub fn label(&self) -> String {
        let (y, m) = (self.start.year(), self.start.month());
        match self.frequency {
            Frequency::HalfYearly => format!("{y}-H{}", (m - 1) / 6 + 1),
            Frequency::Quarterly => format!("{y}-Q{}", (m - 1) / 3 + 1),
            Frequency::Monthly => format!("{y}-{m:02}"),
        }
    }

    /// The period a [label](InspectionPeriod::label) names, if it is one.
    pub fn parse(label: &str) -> Option<InspectionPeriod> {
        let (year, rest) = label.trim().split_once('-')?;
        if year.len() != 4 {
            return None;
        }
        let year: i32 = year.parse().ok()?;
        let (frequency, month) = if let Some(h) = rest.strip_prefix('H') {
            let h: u32 = h.parse().ok().filter(|h| (1..=2).contains(h))?;
            (Frequency::HalfYearly, (h - 1) * 6 + 1)
        } else if let Some(q) = rest.strip_prefix('Q') {
            let q: u32 = q.parse().ok().filter(|q| (1..=4).contains(q))?;
            (Frequency::Quarterly, (q - 1) * 3 + 1)
        } else if rest.len() == 2 {
            let m: u32 = rest.parse().ok().filter(|m| (1..=12).contains(m))?;
            (Frequency::Monthly, m)
        } else {
            return None;
        };
        let start = NaiveDate::from_ymd_opt(year, month, 1)?;
        Some(InspectionPeriod::from_start(frequency, start))
    }

    /// Its first and end instants: local midnights in `tz`.
    pub fn bounds<Tz: TimeZone>(&self, tz: &Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        (midnight(self.start, tz), midnight(self.end, tz))
    }
}

/// The instant local day `day` begins in `tz` (the earliest, should a clock change make
/// midnight ambiguous; the UTC midnight should it not exist).
fn midnight<Tz: TimeZone>(day: NaiveDate, tz: &Tz) -> DateTime<Utc> {
    let naive = day.and_time(chrono::NaiveTime::MIN);
    tz.from_local_datetime(&naive)
        .earliest()
        .map_or_else(|| Utc.from_utc_datetime(&naive), |t| t.with_timezone(&Utc))
}

/// Units inspected against units planned, and the target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// Units the plan counts.
    pub units_planned: u32,
    /// Units recorded as inspected (0 until the job is done).
    pub units_inspected: u32,
    /// Inspected / planned, in percent to one decimal.
    pub rate_pct: f64,
    /// The plan's target, percent.
    pub target_pct: u32,
    /// Whether the rate reaches the target (compared exactly, in whole units).
    pub met: bool,
}

impl Completion {
    /// The completion of `inspected` of `planned` units against `target_pct`.
    pub fn of(inspected: u32, planned: u32, target_pct: u32) -> Completion {
        let rate_pct = if planned == 0 {
            0.0
        } else {
            (f64::from(inspected) * 1000.0 / f64::from(planned)).round() / 10.0
        };
        Completion {
            units_planned: planned,
            units_inspected: inspected,
            rate_pct,
            target_pct,
            met: planned > 0
                && u64::from(inspected) * 100 >= u64::from(target_pct) * u64::from(planned),
        }
    }
}

/// Why an inspection step is refused. `Display` is the sentence for the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectionError {
    /// The job is finished.
    #[error("this inspection is already finished")]
    Finished,
    /// The job has not been accepted yet.
    #[error("accept this inspection before recording checks")]
    NotAccepted,
    /// Someone else holds the job.
    #[error("only the engineer who accepted this inspection can record it")]
    NotYours,
    /// A check answered out of turn (already recorded, or one skipped).
    #[error("check {given} cannot be recorded now: check {next} is next")]
    WrongCheck {
        /// The check sent.
        given: u32,
        /// The one due.
        next: u32,
    },
    /// A fault found without saying what.
    #[error("say in a few words what fault was found")]
    NoteNeeded,
    /// Finishing with checks left.
    #[error("{left} check(s) of the checklist are not recorded yet")]
    ChecksLeft {
        /// How many.
        left: u32,
    },
    /// More units than the plan counts.
    #[error("{given} units is more than the {planned} the plan counts")]
    TooManyUnits {
        /// Sent.
        given: u32,
        /// Planned.
        planned: u32,
    },
    /// The signed check report needs the name of who signed it.
    #[error("give the name of the person on site who signed the check report (1–60 characters)")]
    NoSigner,
    /// A retired plan stays retired.
    #[error("a retired plan cannot be changed")]
    Retired,
    /// Already in that status.
    #[error("the plan is already {0}")]
    SameStatus(PlanStatus),
}

impl InspectionError {
    /// Whether the request itself was bad (rather than the job's state).
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            InspectionError::NoteNeeded
                | InspectionError::TooManyUnits { .. }
                | InspectionError::NoSigner
        )
    }

    /// The bot-flows message key that says this in chat.
    pub fn message_key(&self) -> &'static str {
        match self {
            InspectionError::Finished => "inspection_finished_already",
            InspectionError::NotAccepted => "inspection_not_accepted",
            InspectionError::NotYours => "inspection_not_yours",
            InspectionError::WrongCheck { .. } => "inspection_wrong_check",
            InspectionError::NoteNeeded => "inspection_note_needed",
            InspectionError::ChecksLeft { .. } => "inspection_checks_left",
            InspectionError::TooManyUnits { .. } => "inspection_too_many_units",
            InspectionError::NoSigner => "inspection_no_signer",
            InspectionError::Retired | InspectionError::SameStatus(_) => "not_allowed",
        }
    }
}

/// What decides whether a check may be recorded: the job's status, holder, checks done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobState {
    /// Status.
    pub status: JobStatus,
    /// Holder.
    pub assignee: Option<i64>,
    /// Checks recorded so far (they are recorded in order).
    pub checked: u32,
    /// Checks on the list.
    pub checks: u32,
    /// Units planned.
    pub units_planned: u32,
}

impl JobState {
    /// Whether `engineer` may record on this job now.
    fn holder(&self, engineer: i64) -> Result<(), InspectionError> {
        match self.status {
            JobStatus::Done => Err(InspectionError::Finished),
            JobStatus::Offered => Err(InspectionError::NotAccepted),
            JobStatus::InProgress if self.assignee != Some(engineer) => {
                Err(InspectionError::NotYours)
            }
            JobStatus::InProgress => Ok(()),
        }
    }

    /// Checks that `engineer` may record check `n` (from 1) with `result` and `note`.
    pub fn check(
        &self,
        engineer: i64,
        n: u32,
        result: CheckResult,
        note: Option<&str>,
    ) -> Result<(), InspectionError> {
        self.holder(engineer)?;
        let next = self.checked + 1;
        if n != next || n > self.checks {
            return Err(InspectionError::WrongCheck { given: n, next });
        }
        let described = note.is_some_and(|n| !n.trim().is_empty());
        if result == CheckResult::Fault && !described {
            return Err(InspectionError::NoteNeeded);
        }
        Ok(())
    }

    /// Checks that `engineer` may close the job with `units` inspected, signed by
    /// `signed_by`; the signer's name, trimmed.
    pub fn finish(
        &self,
        engineer: i64,
        units: u32,
        signed_by: &str,
    ) -> Result<String, InspectionError> {
        self.holder(engineer)?;
        if self.checked < self.checks {
            return Err(InspectionError::ChecksLeft {
                left: self.checks - self.checked,
            });
        }
        if units > self.units_planned {
            return Err(InspectionError::TooManyUnits {
                given: units,
                planned: self.units_planned,
            });
        }
        let name = signed_by.trim();
        let n = name.chars().count();
        if n == 0 || n > 60 || name.chars().any(char::is_control) {
            return Err(InspectionError::NoSigner);
        }
        Ok(name.to_owned())
    }
}

/// One job as a report counts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionRow {
    /// Job id.
    pub job: i64,
    /// Plan id.
    pub plan_id: i64,
    /// Plan name.
    pub plan: String,
    /// Site.
    pub site: String,
    /// Group.
    pub group: String,
    /// Period label.
    pub period: String,
    /// Job status.
    pub status: JobStatus,
    /// When it was due (the period's end).
    pub due_at: DateTime<Utc>,
    /// When it was finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Finished by its due time.
    pub on_time: bool,
    /// Checks recorded as passed.
    pub passed: u32,
    /// Checks that found a fault (each filed a ticket).
    pub faults: u32,
    /// Units against the plan's target.
    pub completion: Completion,
}

/// The report's `inspections` section: each job of a period that starts in the report's
/// range, and the totals, which reconcile with the rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InspectionSection {
    /// Jobs.
    pub jobs: u32,
    /// Of them, done.
    pub done: u32,
    /// Of them, done by their due time.
    pub done_on_time: u32,
    /// Of them, reaching their plan's completion target.
    pub met_target: u32,
    /// Units planned, summed.
    pub units_planned: u64,
    /// Units inspected, summed.
    pub units_inspected: u64,
    /// Faults found, summed.
    pub faults: u32,
    /// One row per job, by plan then period.
    pub rows: Vec<InspectionRow>,
}

impl InspectionSection {
    /// The totals of `rows`.
    pub fn of(mut rows: Vec<InspectionRow>) -> InspectionSection {
        rows.sort_by(|a, b| (a.plan_id, &a.period).cmp(&(b.plan_id, &b.period)));
        let count = |f: &dyn Fn(&InspectionRow) -> bool| {
            u32::try_from(rows.iter().filter(|r| f(r)).count()).unwrap_or(u32::MAX)
        };
        InspectionSection {
            jobs: count(&|_| true),
            done: count(&|r| r.status == JobStatus::Done),
            done_on_time: count(&|r| r.on_time),
            met_target: count(&|r| r.completion.met),
            units_planned: rows
                .iter()
                .map(|r| u64::from(r.completion.units_planned))
                .sum(),
            units_inspected: rows
                .iter()
                .map(|r| u64::from(r.completion.units_inspected))
                .sum(),
            faults: rows.iter().map(|r| r.faults).sum(),
            rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    #[test]
    fn periods_follow_the_frequency() {
        let p = InspectionPeriod::containing(Frequency::HalfYearly, d(2026, 12, 6));
        assert_eq!((p.start, p.end), (d(2026, 7, 1), d(2027, 1, 1)));
        assert_eq!(p.label(), "2026-H2");
        let p = InspectionPeriod::containing(Frequency::HalfYearly, d(2026, 6, 30));
        assert_eq!(
            (p.start, p.end, p.label().as_str()),
            (d(2026, 1, 1), d(2026, 7, 1), "2026-H1")
        );
        let q = InspectionPeriod::containing(Frequency::Quarterly, d(2026, 11, 23));
        assert_eq!(
            (q.start, q.end, q.label().as_str()),
            (d(2026, 10, 1), d(2027, 1, 1), "2026-Q4")
        );
        let q = InspectionPeriod::containing(Frequency::Quarterly, d(2026, 4, 1));
        assert_eq!(q.label(), "2026-Q2");
        let m = InspectionPeriod::containing(Frequency::Monthly, d(2024, 2, 29));
        assert_eq!(
            (m.start, m.end, m.label().as_str()),
            (d(2024, 2, 1), d(2024, 3, 1), "2024-02")
        );
    }

    #[test]
    fn the_next_period_starts_where_this_one_ends() {
        let h = InspectionPeriod::containing(Frequency::HalfYearly, d(2026, 12, 31)).next();
        assert_eq!((h.start, h.label().as_str()), (d(2027, 1, 1), "2027-H1"));
        let q = InspectionPeriod::containing(Frequency::Quarterly, d(2026, 12, 31)).next();
        assert_eq!((q.start, q.end), (d(2027, 1, 1), d(2027, 4, 1)));
        let m = InspectionPeriod::containing(Frequency::Monthly, d(2026, 1, 31)).next();
        assert_eq!((m.start, m.end), (d(2026, 2, 1), d(2026, 3, 1)));
        // Every day of four years is in exactly the period that contains it, and the
        // periods chain without gap or overlap.
        for f in Frequency::ALL {
            let mut p = InspectionPeriod::containing(*f, d(2025, 1, 1));
            let mut day = d(2025, 1, 1);
            while day < d(2029, 1, 1) {
                if day >= p.end {
                    p = p.next();
                }
                assert!(p.start <= day && day < p.end, "{f} {day}");
                assert_eq!(InspectionPeriod::containing(*f, day), p);
                day = day.succ_opt().expect("next day");
            }
        }
    }

    #[test]
    fn periods_begin_at_midnight_in_shanghai() {
        let tz = chrono_tz::Asia::Shanghai;
        let p = InspectionPeriod::containing(Frequency::HalfYearly, d(2026, 7, 1));
        let (start, end) = p.bounds(&tz);
        assert_eq!(start.to_rfc3339(), "2026-06-30T16:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-12-31T16:00:00+00:00");
        // 23:30 UTC on 31 December is already 1 January in Shanghai: the next half-year.
        let late = Utc
            .with_ymd_and_hms(2026, 12, 31, 16, 0, 0)
            .single()
            .expect("time");
        assert_eq!(
            InspectionPeriod::at(Frequency::HalfYearly, late, &tz).label(),
            "2027-H1"
        );
        let before = late - chrono::Duration::seconds(1);
        assert_eq!(
            InspectionPeriod::at(Frequency::HalfYearly, before, &tz).label(),
            "2026-H2"
        );
    }

    #[test]
    fn labels_parse_back() {
        for f in Frequency::ALL {
            let p = InspectionPeriod::containing(*f, d(2026, 11, 23));
            assert_eq!(InspectionPeriod::parse(&p.label()), Some(p));
        }
        for bad in [
            "2026-H3", "2026-Q0", "2026-13", "26-Q1", "2026", "2026-Q", "x-H1", "",
        ] {
            assert_eq!(InspectionPeriod::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn completion_is_measured_against_the_target_exactly() {
        let c = Completion::of(517, 574, 90);
        assert_eq!(c.rate_pct, 90.1);
        assert!(c.met);
        // 516 / 574 = 89.895…%: shown rounded as 89.9, and not met.
        let c = Completion::of(516, 574, 90);
        assert_eq!(c.rate_pct, 89.9);
        assert!(!c.met);
        // Exactly the target meets it.
        assert!(Completion::of(9, 10, 90).met);
        assert!(!Completion::of(0, 10, 1).met);
        assert!(Completion::of(10, 10, 100).met);
        assert_eq!(Completion::of(0, 0, 90).rate_pct, 0.0);
    }

    fn state(status: JobStatus, checked: u32) -> JobState {
        JobState {
            status,
            assignee: Some(7),
            checked,
            checks: 3,
            units_planned: 100,
        }
    }

    #[test]
    fn checks_are_recorded_in_order_by_the_holder() {
        let s = state(JobStatus::InProgress, 1);
        assert_eq!(s.check(7, 2, CheckResult::Pass, None), Ok(()));
        assert_eq!(
            s.check(7, 1, CheckResult::Pass, None),
            Err(InspectionError::WrongCheck { given: 1, next: 2 })
        );
        assert_eq!(
            s.check(7, 3, CheckResult::Pass, None),
            Err(InspectionError::WrongCheck { given: 3, next: 2 })
        );
        assert_eq!(
            s.check(8, 2, CheckResult::Pass, None),
            Err(InspectionError::NotYours)
        );
        assert_eq!(
            s.check(7, 2, CheckResult::Fault, Some("  ")),
            Err(InspectionError::NoteNeeded)
        );
        assert_eq!(s.check(7, 2, CheckResult::Fault, Some("风扇异响")), Ok(()));
        assert_eq!(
            state(JobStatus::Offered, 0).check(7, 1, CheckResult::Pass, None),
            Err(InspectionError::NotAccepted)
        );
        assert_eq!(
            state(JobStatus::Done, 3).check(7, 1, CheckResult::Pass, None),
            Err(InspectionError::Finished)
        );
        assert_eq!(
            state(JobStatus::InProgress, 3).check(7, 4, CheckResult::Pass, None),
            Err(InspectionError::WrongCheck { given: 4, next: 4 })
        );
    }

    #[test]
    fn finishing_needs_every_check_the_units_and_a_signer() {
        assert_eq!(
            state(JobStatus::InProgress, 2).finish(7, 90, "王主任"),
            Err(InspectionError::ChecksLeft { left: 1 })
        );
        let s = state(JobStatus::InProgress, 3);
        assert_eq!(
            s.finish(7, 101, "王主任"),
            Err(InspectionError::TooManyUnits {
                given: 101,
                planned: 100
            })
        );
        assert_eq!(s.finish(7, 90, "  "), Err(InspectionError::NoSigner));
        assert_eq!(
            s.finish(7, 90, &"名".repeat(61)),
            Err(InspectionError::NoSigner)
        );
        assert_eq!(s.finish(7, 90, " 王主任 "), Ok("王主任".into()));
        assert_eq!(s.finish(7, 0, "王主任"), Ok("王主任".into()));
        assert_eq!(s.finish(8, 90, "王主任"), Err(InspectionError::NotYours));
    }

    #[test]
    fn plan_status_changes() {
        use PlanStatus::*;
        assert_eq!(Active.change(Paused), Ok(Paused));
        assert_eq!(Paused.change(Active), Ok(Active));
        assert_eq!(Paused.change(Retired), Ok(Retired));
        assert_eq!(Retired.change(Active), Err(InspectionError::Retired));
        assert_eq!(
            Active.change(Active),
            Err(InspectionError::SameStatus(Active))
        );
    }

    fn form() -> PlanForm {
        PlanForm {
            name: "总部 PC 半年巡检".into(),
            site: "总部".into(),
            group: "desktop".into(),
            department: "行政部".into(),
            phone: "13800138000".into(),
            frequency: Some(Frequency::HalfYearly),
            units: Some(574),
            checklist: vec![CheckItem {
                zh: "开机自检".into(),
                en: Some("Power-on self test".into()),
            }],
            ..PlanForm::default()
        }
    }

    #[test]
    fn a_plan_defaults_to_a_ninety_percent_target() {
        let spec = form().parse().expect("valid");
        assert_eq!(spec.target_pct, 90);
        assert_eq!(spec.checklist[0].text(true), "Power-on self test");
        assert_eq!(spec.checklist[0].text(false), "开机自检");
    }

    #[test]
    fn a_bad_plan_names_every_problem() {
        let bad = PlanForm {
            name: " ".into(),
            frequency: None,
            units: Some(0),
            target_pct: Some(101),
            checklist: vec![],
            ..form()
        };
        let fields: Vec<&str> = bad
            .parse()
            .expect_err("invalid")
            .iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["name", "frequency", "target_pct", "units", "checklist"]
        );
        let long = PlanForm {
            checklist: (0..=MAX_CHECKS)
                .map(|i| CheckItem {
                    zh: format!("检查 {i}"),
                    en: None,
                })
                .collect(),
            ..form()
        };
        assert!(long.parse().is_err());
    }

    #[test]
    fn the_section_reconciles_with_its_rows() {
        let row = |plan_id, period: &str, status, inspected, faults, on_time| InspectionRow {
            job: plan_id,
            plan_id,
            plan: "p".into(),
            site: "s".into(),
            group: "g".into(),
            period: period.into(),
            status,
            due_at: Utc::now(),
            finished_at: None,
            on_time,
            passed: 0,
            faults,
            completion: Completion::of(inspected, 100, 90),
        };
        let s = InspectionSection::of(vec![
            row(2, "2026-Q4", JobStatus::Offered, 0, 0, false),
            row(1, "2026-H2", JobStatus::Done, 95, 2, true),
            row(3, "2026-12", JobStatus::Done, 80, 1, false),
        ]);
        assert_eq!((s.jobs, s.done, s.done_on_time, s.met_target), (3, 2, 1, 1));
        assert_eq!(
            (s.units_planned, s.units_inspected, s.faults),
            (300, 175, 3)
        );
        assert_eq!(s.rows[0].plan_id, 1);
    }

    #[test]
    fn the_report_table_shows_the_section() {
        let t = Utc
            .with_ymd_and_hms(2026, 7, 1, 0, 0, 0)
            .single()
            .expect("time");
        let mut report = crate::domain::report::Report::build(t, t, None, &[], vec![]);
        report.inspections = InspectionSection::of(vec![InspectionRow {
            job: 1,
            plan_id: 1,
            plan: "总部 PC 半年巡检".into(),
            site: "总部".into(),
            group: "desktop".into(),
            period: "2026-H2".into(),
            status: JobStatus::Done,
            due_at: t,
            finished_at: Some(t),
            on_time: true,
            passed: 2,
            faults: 1,
            completion: Completion::of(517, 574, 90),
        }]);
        let table = report.to_table();
        assert!(
            table.contains(
                "inspections: 1 jobs, 1 done (1 on time), 1 met target, 517/574 units, 1 faults"
            ),
            "{table}"
        );
        assert!(
            table.contains(
                "总部 PC 半年巡检  2026-H2  done  517/574 = 90.1% (target 90%)  1 faults"
            ),
            "{table}"
        );
    }
}
