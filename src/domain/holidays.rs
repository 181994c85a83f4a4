//! Public holidays and make-up working days (调休) as data. The official mainland China
//! lists ship inside baoxiu (one file per year, from the State Council's yearly notice);
//! a later year's list is imported from an ICS calendar or the same TOML format. Parsing
//! only: reading and writing files is the caller's (config, CLI).

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

/// The lists built into baoxiu: `(file name, contents)`.
pub const SHIPPED: [(&str, &str); 1] = [("cn-2026.toml", include_str!("holidays/cn-2026.toml"))];

/// Why a holiday list cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HolidayError {
    /// Not a valid TOML list.
    #[error("not a holiday list: {0}")]
    Toml(String),
    /// An ICS event without a readable all-day date.
    #[error("ICS event {0}: no all-day DTSTART (DTSTART;VALUE=DATE:YYYYMMDD)")]
    Ics(usize),
    /// A date listed both ways.
    #[error("{0} is listed both as a holiday and as a make-up working day")]
    Conflict(NaiveDate),
    /// Nothing in it.
    #[error("the file lists no holidays and no make-up working days")]
    Empty,
}

/// Holidays and make-up working days, as in a `holidays/*.toml` file:
///
/// ```toml
/// holidays = [2027-01-01, 2027-02-06]
/// workdays = [2027-02-14]   # weekend days worked instead (调休)
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayList {
    /// Local dates without working time.
    #[serde(default, deserialize_with = "dates")]
    pub holidays: BTreeSet<NaiveDate>,
    /// Weekend dates worked as working days.
    #[serde(default, deserialize_with = "dates")]
    pub workdays: BTreeSet<NaiveDate>,
}

fn dates<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeSet<NaiveDate>, D::Error> {
    Ok(super::calendar::deserialize_dates(d)?.into_iter().collect())
}

impl HolidayList {
    /// Every list built into baoxiu, merged.
    pub fn shipped() -> HolidayList {
        let mut all = HolidayList::default();
        for (_, src) in SHIPPED {
            // A test reads every shipped file, so none is skipped in a release.
            all.merge(HolidayList::parse(src).unwrap_or_default());
        }
        all
    }

    /// Reads an ICS calendar (`BEGIN:VCALENDAR`) or the TOML format.
    pub fn parse(src: &str) -> Result<HolidayList, HolidayError> {
        let list = if src.trim_start().starts_with("BEGIN:VCALENDAR") {
            Self::from_ics(src)?
        } else {
            toml::from_str(src).map_err(|e| HolidayError::Toml(e.message().to_owned()))?
        };
        if let Some(d) = list.holidays.intersection(&list.workdays).next() {
            return Err(HolidayError::Conflict(*d));
        }
        if list.holidays.is_empty() && list.workdays.is_empty() {
            return Err(HolidayError::Empty);
        }
        Ok(list)
    }

    /// The all-day events of an ICS calendar: each day from DTSTART up to DTEND (exclusive;
    /// one day without it) is a holiday, or a make-up working day when the SUMMARY says so
    /// (班, 上班, 补班, "work").
    fn from_ics(src: &str) -> Result<HolidayList, HolidayError> {
        let mut list = HolidayList::default();
        // Folded lines (RFC 5545: a line starting with a space continues the previous one).
        let unfolded = src
            .replace("\r\n", "\n")
            .replace("\n ", "")
            .replace("\n\t", "");
        let mut event: Option<(Option<NaiveDate>, Option<NaiveDate>, String)> = None;
        let mut n = 0;
        for line in unfolded.lines() {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let key = name
                .split(';')
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            match (key.as_str(), &mut event) {
                ("BEGIN", None) if value.eq_ignore_ascii_case("VEVENT") => {
                    n += 1;
                    event = Some((None, None, String::new()));
                }
                ("DTSTART", Some(e)) => e.0 = ics_date(value),
                ("DTEND", Some(e)) => e.1 = ics_date(value),
                ("SUMMARY", Some(e)) => e.2 = value.to_owned(),
                ("END", Some(_)) if value.eq_ignore_ascii_case("VEVENT") => {
                    let Some((Some(start), end, summary)) = event.take() else {
                        return Err(HolidayError::Ics(n));
                    };
                    let end = end
                        .filter(|e| *e > start)
                        .unwrap_or(start + Duration::days(1));
                    let work = is_workday_summary(&summary);
                    let mut d = start;
                    while d < end {
                        if work {
                            list.workdays.insert(d);
                        } else {
                            list.holidays.insert(d);
                        }
                        d += Duration::days(1);
                    }
                }
                _ => {}
            }
        }
        Ok(list)
    }

    /// Adds another list (its dates win where the two disagree).
    pub fn merge(&mut self, other: HolidayList) {
        for d in &other.holidays {
            self.workdays.remove(d);
        }
        for d in &other.workdays {
            self.holidays.remove(d);
        }
        self.holidays.extend(other.holidays);
        self.workdays.extend(other.workdays);
    }

    /// The years it has holidays in.
    pub fn years(&self) -> BTreeSet<i32> {
        self.holidays.iter().map(|d| d.year()).collect()
    }

    /// The TOML form (what `baoxiu calendar import` writes).
    pub fn to_toml(&self) -> String {
        let line = |dates: &BTreeSet<NaiveDate>| {
            dates
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "holidays = [{}]\nworkdays = [{}]\n",
            line(&self.holidays),
            line(&self.workdays)
        )
    }
}

/// `20261001` or `20261001T000000…` as a date.
fn ics_date(value: &str) -> Option<NaiveDate> {
    let digits: String = value.trim().chars().take(8).collect();
    NaiveDate::parse_from_str(&digits, "%Y%m%d").ok()
}

/// Whether an event's summary names a make-up working day.
fn is_workday_summary(summary: &str) -> bool {
    let s = summary.to_lowercase();
    s.contains('班') || s.contains("work")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn the_shipped_2026_list_is_the_state_councils() {
        for (name, src) in SHIPPED {
            HolidayList::parse(src).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let l = HolidayList::shipped();
        assert_eq!(l.years(), BTreeSet::from([2026]));
        // 3 + 9 + 3 + 5 + 3 + 3 + 7 days off.
        assert_eq!(l.holidays.len(), 33);
        for day in 1..=7 {
            assert!(l.holidays.contains(&d(2026, 10, day)));
        }
        assert!(l.holidays.contains(&d(2026, 2, 15)) && l.holidays.contains(&d(2026, 2, 23)));
        assert_eq!(
            l.workdays,
            BTreeSet::from([
                d(2026, 1, 4),
                d(2026, 2, 14),
                d(2026, 2, 28),
                d(2026, 5, 9),
                d(2026, 9, 20),
                d(2026, 10, 10)
            ])
        );
        // Make-up working days are weekend days.
        assert!(
            l.workdays
                .iter()
                .all(|d| d.weekday().number_from_monday() >= 6)
        );
    }

    #[test]
    fn ics_all_day_events_are_read_with_exclusive_ends_and_work_days() {
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20271001\r\n\
                   DTEND;VALUE=DATE:20271008\r\nSUMMARY:国庆节 休\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\n\
                   DTSTART;VALUE=DATE:20270926\r\nSUMMARY:国庆节 补\r\n 班\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let l = HolidayList::parse(ics).unwrap();
        assert_eq!(l.holidays.len(), 7);
        assert!(l.holidays.contains(&d(2027, 10, 7)) && !l.holidays.contains(&d(2027, 10, 8)));
        assert_eq!(l.workdays, BTreeSet::from([d(2027, 9, 26)]));
        assert_eq!(l.years(), BTreeSet::from([2027]));
        // What `calendar import` writes reads back the same.
        assert_eq!(HolidayList::parse(&l.to_toml()).unwrap(), l);
    }

    #[test]
    fn bad_lists_are_refused_with_a_reason() {
        let no_start = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:x\nEND:VEVENT\nEND:VCALENDAR\n";
        assert_eq!(HolidayList::parse(no_start), Err(HolidayError::Ics(1)));
        assert_eq!(HolidayList::parse(""), Err(HolidayError::Empty));
        assert_eq!(
            HolidayList::parse("holidays = [2027-01-01]\nworkdays = [\"2027-01-01\"]"),
            Err(HolidayError::Conflict(d(2027, 1, 1)))
        );
        assert!(matches!(
            HolidayList::parse("holidays = [\"soon\"]"),
            Err(HolidayError::Toml(_))
        ));
    }
}
