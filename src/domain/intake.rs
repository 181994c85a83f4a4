//! What a reporter tells us, parsed into types that can only hold valid values
//! (the "parse, don't validate" newtypes): handlers never see raw input.

use std::fmt;
use std::net::IpAddr;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::channel::Channel;

/// Why a piece of input was refused. `Display` is a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Required and missing or blank.
    #[error("{field} is required")]
    Missing {
        /// The field's name as the user sees it.
        field: &'static str,
    },
    /// Longer than the field allows (we cap instead of truncating silently).
    #[error("{field} is too long: {len} characters, the limit is {max}")]
    TooLong {
        /// The field's name.
        field: &'static str,
        /// Characters given.
        len: usize,
        /// Characters allowed.
        max: usize,
    },
    /// Contains control characters (other than line breaks where text allows them).
    #[error("{field} contains control characters")]
    ControlCharacters {
        /// The field's name.
        field: &'static str,
    },
    /// Not in the expected shape.
    #[error("{field} is not valid: {hint}")]
    Invalid {
        /// The field's name.
        field: &'static str,
        /// What a valid value looks like.
        hint: &'static str,
    },
}

fn clean(
    field: &'static str,
    raw: &str,
    max: usize,
    multiline: bool,
) -> Result<String, InputError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(InputError::Missing { field });
    }
    let len = text.chars().count();
    if len > max {
        return Err(InputError::TooLong { field, len, max });
    }
    let allowed = |c: char| multiline && (c == '\n' || c == '\t' || c == '\r');
    if text.chars().any(|c| c.is_control() && !allowed(c)) {
        return Err(InputError::ControlCharacters { field });
    }
    Ok(text.to_owned())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr, $multiline:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Longest accepted value, in characters.
            pub const MAX: usize = $max;

            /// Trims, then refuses blank, overlong or control-character input.
            pub fn parse(raw: &str) -> Result<Self, InputError> {
                clean($field, raw, $max, $multiline).map(Self)
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A person's name as they give it.
    PersonName, "name", 64, false
);
impl PersonName {
    /// The empty name an erasure of the reporter's data leaves in their tickets (PIPL);
    /// never the result of [`PersonName::parse`].
    pub fn erased() -> Self {
        Self(String::new())
    }
}

text_type!(
    /// A department or branch office.
    Department, "department", 100, false
);
text_type!(
    /// A place: site, building or room, or a device model.
    Place, "location", 100, false
);
text_type!(
    /// What went wrong, in the reporter's words.
    Description, "description", 4000, true
);
text_type!(
    /// An engineer's or reporter's note: progress, cause, solution, reason.
    Note, "note", 4000, true
);

static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\+?[0-9]{3,20}$").expect("phone regex is valid"));
static ASSET_TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9][A-Za-z0-9_./-]{1,31}$").expect("asset tag regex is valid")
});

/// A contact phone number: digits with an optional leading `+`; spaces, dashes and
/// brackets people type are removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Normalises and checks a phone number.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let raw = clean("phone", raw, 32, false)?;
        let digits: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        if PHONE.is_match(&digits) {
            Ok(Self(digits))
        } else {
            Err(InputError::Invalid {
                field: "phone",
                hint: "digits only, e.g. 13800138000 or +86 21 5555 0100",
            })
        }
    }

    /// The empty number an erasure of the reporter's data leaves in their tickets (PIPL);
    /// never the result of [`Phone::parse`].
    pub fn erased() -> Self {
        Self(String::new())
    }

    /// The normalised number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A device's asset tag as printed on its sticker (e.g. `PC-0231`, `PRN/3F/02`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AssetTag(String);

impl AssetTag {
    /// Checks the tag's shape; stored upper-case so `pc-0231` and `PC-0231` are one device.
    pub fn parse(raw: &str) -> Result<Self, InputError> {
        let raw = clean("asset tag", raw, 32, false)?;
        if ASSET_TAG.is_match(&raw) {
            Ok(Self(raw.to_uppercase()))
        } else {
            Err(InputError::Invalid {
                field: "asset tag",
                hint: "2–32 letters, digits or . _ / -, e.g. PC-0231",
            })
        }
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A device's IP address (v4 or v6).
pub fn parse_ip(raw: &str) -> Result<IpAddr, InputError> {
    let raw = clean("IP address", raw, 45, false)?;
    raw.parse().map_err(|_| InputError::Invalid {
        field: "IP address",
        hint: "an address such as 10.1.2.34",
    })
}

/// Report or question: a consultation is answered on the spot and has no SLA clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    /// Something is broken.
    Fault,
    /// "How do I …?"
    Consultation,
}

/// Where the fault is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// Site or branch office.
    pub site: Place,
    /// Building, if the site has several.
    pub building: Option<Place>,
    /// Room or desk.
    pub room: Option<Place>,
}

/// The device concerned, as far as the reporter knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Asset tag from the sticker.
    pub asset_tag: Option<AssetTag>,
    /// Make and model.
    pub model: Option<Place>,
    /// IP address.
    pub ip: Option<IpAddr>,
}

/// Everything recorded at intake (DOMAIN.md "Intake"), already validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intake {
    /// Fault or consultation.
    pub kind: TicketKind,
    /// Reporter's name as recorded on this ticket.
    pub reporter_name: PersonName,
    /// Reporter's department.
    pub department: Department,
    /// Contact phone.
    pub phone: Phone,
    /// Where.
    pub location: Location,
    /// Which device.
    pub device: Device,
    /// Fault category id (checked against the routing table by the desk).
    pub category: String,
    /// What is wrong.
    pub description: Description,
    /// When it started, if the reporter knows.
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How many people it affects (at least one).
    pub people_affected: u32,
    /// References to photos of the error screen (platform file ids or stored paths).
    pub photos: Vec<String>,
    /// The channel it came in by.
    pub channel: Channel,
    /// When a desk-entered report (phone, email …) came in, if not when it was filed.
    pub received_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_capped() {
        assert_eq!(PersonName::parse("  王伟 ").unwrap().as_str(), "王伟");
        assert_eq!(
            PersonName::parse("   "),
            Err(InputError::Missing { field: "name" })
        );
        let long = "界".repeat(65);
        assert_eq!(
            PersonName::parse(&long),
            Err(InputError::TooLong {
                field: "name",
                len: 65,
                max: 64
            })
        );
        assert!(Description::parse(&"x".repeat(4000)).is_ok());
        assert!(Description::parse(&"x".repeat(4001)).is_err());
    }

    #[test]
    fn control_characters_only_where_lines_are_allowed() {
        assert!(Description::parse("line one\nline two").is_ok());
        assert_eq!(
            PersonName::parse("a\nb"),
            Err(InputError::ControlCharacters { field: "name" })
        );
        assert!(Description::parse("bell\u{7}").is_err());
    }

    #[test]
    fn phones_are_normalised() {
        assert_eq!(
            Phone::parse("+86 (21) 5555-0100").unwrap().as_str(),
            "+862155550100"
        );
        assert_eq!(Phone::parse("13800138000").unwrap().as_str(), "13800138000");
        for bad in ["12", "call me", "++86123", "138 0013 8000 ext 5"] {
            assert!(Phone::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn asset_tags_and_ips() {
        assert_eq!(AssetTag::parse("pc-0231").unwrap().as_str(), "PC-0231");
        assert!(AssetTag::parse("PRN/3F/02").is_ok());
        assert!(AssetTag::parse("x").is_err());
        assert!(AssetTag::parse("has space").is_err());
        assert_eq!(parse_ip("10.1.2.34").unwrap().to_string(), "10.1.2.34");
        assert!(parse_ip("fe80::1").is_ok());
        for bad in ["10.1.2.256", "10.1.2", "printer"] {
            assert!(parse_ip(bad).is_err(), "{bad} should be refused");
        }
    }
}
