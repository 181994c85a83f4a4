//! The raw fault report as doors and the API send it to the desk, and its parsing into an
//! [`Intake`]: every field checked, every problem reported at once.

use crate::domain::channel::Channel;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use crate::domain::intake::{
    AssetTag, Department, Description, Device, InputError, Intake, Location, PersonName, Phone,
    Place, TicketKind, parse_ip,
};
use crate::domain::priority::{Impact, Urgency};
use crate::domain::routing::Routing;

/// A fault report before validation. Unknown fields are refused.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportForm {
    /// `fault` (default) or `consultation`.
    #[serde(default)]
    pub kind: Option<TicketKind>,
    /// Reporter's name (defaults to the name we know).
    #[serde(default)]
    pub reporter_name: Option<String>,
    /// Department (defaults to the remembered one).
    #[serde(default)]
    pub department: Option<String>,
    /// Contact phone (defaults to the remembered one).
    #[serde(default)]
    pub phone: Option<String>,
    /// Site or branch office.
    pub site: String,
    /// Building.
    #[serde(default)]
    pub building: Option<String>,
    /// Room or desk.
    #[serde(default)]
    pub room: Option<String>,
    /// Asset tag.
    #[serde(default)]
    pub asset_tag: Option<String>,
    /// Device model.
    #[serde(default)]
    pub device_model: Option<String>,
    /// Device IP address.
    #[serde(default)]
    pub ip: Option<String>,
    /// Fault category id.
    pub category: String,
    /// What is wrong.
    pub description: String,
    /// When it started.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// People affected (default 1).
    #[serde(default)]
    pub people_affected: Option<u32>,
    /// `everyone`, `some` or `one` (default: from people affected).
    #[serde(default)]
    pub impact: Option<Impact>,
    /// `high`, `medium` (default) or `low`.
    #[serde(default)]
    pub urgency: Option<Urgency>,
    /// Photo references.
    #[serde(default)]
    pub photos: Vec<String>,
    /// Where the report came in (default `api`; chat doors set their own; only the desk
    /// records `phone`, `walk_in` and `email`).
    #[serde(default)]
    pub channel: Option<Channel>,
    /// When the call or email came in, for a desk-entered report (default: now). Its
    /// clocks run from then.
    #[serde(default)]
    pub received_at: Option<DateTime<Utc>>,
}

/// One field's problem, for the API's `errors` list and the chat's hint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The form field.
    pub field: &'static str,
    /// What is wrong, as a sentence.
    pub message: String,
}

/// What the reporter's record remembers, used where the form leaves a field out.
#[derive(Debug, Clone, Default)]
pub struct Remembered {
    /// Name.
    pub name: String,
    /// Department.
    pub department: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

const MAX_PHOTOS: usize = 10;

/// How long after a call or email the desk may still record it with its clocks.
const MAX_RECEIVED_AGO: Duration = Duration::days(7);

/// An optional field: blank is absent, anything else must parse.
fn opt<T>(
    raw: Option<String>,
    f: fn(&str) -> Result<T, InputError>,
) -> Result<Option<T>, InputError> {
    raw.filter(|s| !s.trim().is_empty())
        .map(|s| f(&s))
        .transpose()
}

/// The asset tag as typed (full-width letters and spaces as a phone may send them).
fn asset_tag(raw: Option<String>) -> Result<Option<AssetTag>, InputError> {
    opt(
        raw.map(|t| super::asset::normalise_tag(&t)),
        AssetTag::parse,
    )
}

/// The IP address as typed.
fn ip_address(raw: Option<String>) -> Result<Option<std::net::IpAddr>, InputError> {
    let typed = raw.map(|i| super::asset::normalise_ip(&i).map_or(i, |a| a.to_string()));
    opt(typed, parse_ip)
}

impl ReportForm {
    /// The device's tag and IP as [`ReportForm::parse`] will read them (one that does not
    /// parse is left out: `parse` says why), so the asset register can be asked while
    /// the rest of the report is read.
    pub fn device(&self) -> Device {
        Device {
            asset_tag: asset_tag(self.asset_tag.clone()).ok().flatten(),
            model: None,
            ip: ip_address(self.ip.clone()).ok().flatten(),
        }
    }

    /// Validates everything, collecting every problem.
    pub fn parse(
        self,
        known: &Remembered,
        routing: &Routing,
        now: DateTime<Utc>,
    ) -> Result<(Intake, Impact, Urgency), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut check = |field: &'static str, r: Result<(), InputError>| {
            if let Err(e) = r {
                errors.push(FieldError {
                    field,
                    message: e.to_string(),
                });
            }
        };
        fn keep<T>(slot: &mut Option<T>, r: Result<T, InputError>) -> Result<(), InputError> {
            r.map(|v| *slot = Some(v))
        }

        let (mut name, mut dept, mut phone, mut site) = (None, None, None, None);
        let (mut building, mut room, mut tag, mut model, mut ip, mut desc) =
            (None, None, None, None, None, None);
        let or_known = |given: Option<String>, known: &Option<String>| {
            given.or_else(|| known.clone()).unwrap_or_default()
        };
        check(
            "reporter_name",
            keep(
                &mut name,
                PersonName::parse(&self.reporter_name.unwrap_or_else(|| known.name.clone())),
            ),
        );
        check(
            "department",
            keep(
                &mut dept,
                Department::parse(&or_known(self.department, &known.department)),
            ),
        );
        check(
            "phone",
            keep(
                &mut phone,
                Phone::parse(&or_known(self.phone, &known.phone)),
            ),
        );
        check("site", keep(&mut site, Place::parse(&self.site)));
        check(
            "building",
            keep(&mut building, opt(self.building, Place::parse)),
        );
        check("room", keep(&mut room, opt(self.room, Place::parse)));
        check("asset_tag", keep(&mut tag, asset_tag(self.asset_tag)));
        check(
            "device_model",
            keep(&mut model, opt(self.device_model, Place::parse)),
        );
        check("ip", keep(&mut ip, ip_address(self.ip)));
        check(
            "description",
            keep(&mut desc, Description::parse(&self.description)),
        );

        if routing.group_for(&self.category).is_none() {
            let known: Vec<&str> = routing.categories().collect();
            errors.push(FieldError {
                field: "category",
                message: format!(
                    "unknown category `{}`; choose one of: {}",
                    self.category,
                    known.join(", ")
                ),
            });
        }
        let people = self.people_affected.unwrap_or(1);
        if !(1..=1_000_000).contains(&people) {
            errors.push(FieldError {
                field: "people_affected",
                message: "people affected must be between 1 and 1,000,000".into(),
            });
        }
        // A few minutes of slack for phones with a fast clock.
        if self
            .started_at
            .is_some_and(|t| t > now + Duration::minutes(5))
        {
            errors.push(FieldError {
                field: "started_at",
                message: "the fault cannot start in the future".into(),
            });
        }
        let channel = self.channel.unwrap_or(Channel::Api);
        if channel == Channel::Unrecorded {
            errors.push(FieldError {
                field: "channel",
                message: "say which channel the report came by".into(),
            });
        }
        if let Some(at) = self.received_at {
            let problem = if !channel.desk_entered() {
                Some("received_at is only for reports the desk records (phone, walk_in, email)")
            } else if at > now + Duration::minutes(5) {
                Some("the report cannot have come in in the future")
            } else if at < now - MAX_RECEIVED_AGO {
                Some(
                    "a report recorded more than 7 days after it came in cannot keep its clocks; leave received_at out",
                )
            } else {
                None
            };
            if let Some(message) = problem {
                errors.push(FieldError {
                    field: "received_at",
                    message: message.into(),
                });
            }
        }
        if self.photos.len() > MAX_PHOTOS
            || self.photos.iter().any(|p| p.is_empty() || p.len() > 512)
        {
            errors.push(FieldError {
                field: "photos",
                message: format!(
                    "at most {MAX_PHOTOS} photos, each a reference of 1–512 characters"
                ),
            });
        }

        match (name, dept, phone, site, desc) {
            (Some(reporter_name), Some(department), Some(phone), Some(site), Some(description))
                if errors.is_empty() =>
            {
                let impact = self.impact.unwrap_or(match people {
                    1 => Impact::One,
                    _ => Impact::Some,
                });
                let intake = Intake {
                    kind: self.kind.unwrap_or(TicketKind::Fault),
                    reporter_name,
                    department,
                    phone,
                    location: Location {
                        site,
                        building: building.flatten(),
                        room: room.flatten(),
                    },
                    device: Device {
                        asset_tag: tag.flatten(),
                        model: model.flatten(),
                        ip: ip.flatten(),
                    },
                    category: self.category,
                    description,
                    started_at: self.started_at,
                    people_affected: people,
                    photos: self.photos,
                    channel,
                    received_at: self.received_at.filter(|_| channel.desk_entered()),
                };
                Ok((intake, impact, self.urgency.unwrap_or(Urgency::Medium)))
            }
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report whose device is typed as `tag` and `ip`.
    fn form(tag: Option<&str>, ip: Option<&str>) -> ReportForm {
        ReportForm {
            site: "总部园区".into(),
            category: Routing::default().categories().next().unwrap().into(),
            description: "打印到一半卡纸".into(),
            asset_tag: tag.map(Into::into),
            ip: ip.map(Into::into),
            ..ReportForm::default()
        }
    }

    #[test]
    fn the_device_is_read_before_the_report_as_the_report_reads_it() {
        let known = Remembered {
            name: "王芳".into(),
            department: Some("财务部".into()),
            phone: Some("13800138000".into()),
        };
        let now = Utc::now();
        for (tag, ip) in [
            (Some(" ｐｒｎ－００４２ "), None),
            (None, Some("１０．１．２．３４")),
            (Some("PRN-0042"), Some("10.1.2.34")),
            (Some(""), Some("  ")),
            (None, None),
        ] {
            let f = form(tag, ip);
            let early = f.device();
            let (intake, _, _) = f.parse(&known, &Routing::default(), now).unwrap();
            assert_eq!(early, intake.device, "{tag:?} {ip:?}");
        }
        // What does not parse is left out early; the report says why.
        let bad = form(Some("no tag here!"), Some("10.1.2"));
        assert_eq!(bad.device(), Device::default());
        let errors = bad.parse(&known, &Routing::default(), now).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["asset_tag", "ip"]);
    }
}
