//! The staff directory: the client's staff list (name, department, phone, usual location,
//! chat identities or email), checked row by row, so that a report from a known person
//! asks none of what the directory holds ("never ask twice"). And who may report at all
//! when the caller is a stranger.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::intake::{Department, PersonName, Phone, Place};
use super::sheet::{Column, Row, SheetError};

/// The doors a directory entry may name a chat identity on.
pub const CHANNELS: [&str; 4] = ["telegram", "discord", "web", "wecom"];

/// One person as the directory holds them (checked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Colleague {
    /// Name.
    pub name: String,
    /// Department.
    pub department: Option<String>,
    /// Contact phone, normalised.
    pub phone: Option<String>,
    /// Usual site.
    pub site: Option<String>,
    /// Usual building.
    pub building: Option<String>,
    /// Usual room or desk.
    pub room: Option<String>,
    /// Email, lower-case.
    pub email: Option<String>,
    /// Chat identities: (door, id there).
    pub identities: Vec<(String, String)>,
}

/// The columns of a staff CSV.
pub const COLUMNS: [Column; 8] = [
    Column {
        name: "name",
        aliases: &["姓名", "名字", "员工姓名"],
        required: true,
    },
    Column {
        name: "department",
        aliases: &["dept", "部门", "所属部门"],
        required: false,
    },
    Column {
        name: "phone",
        aliases: &["mobile", "tel", "电话", "手机", "手机号", "联系电话"],
        required: false,
    },
    Column {
        name: "site",
        aliases: &["地点", "分支机构", "园区", "城市", "办公地点"],
        required: false,
    },
    Column {
        name: "building",
        aliases: &["楼宇", "楼", "大楼"],
        required: false,
    },
    Column {
        name: "room",
        aliases: &["房间", "办公室", "工位"],
        required: false,
    },
    Column {
        name: "chat_ids",
        aliases: &["chat", "chat_id", "聊天账号", "账号", "im"],
        required: false,
    },
    Column {
        name: "email",
        aliases: &["mail", "邮箱", "电子邮箱", "邮件"],
        required: false,
    },
];

/// Reads `telegram:12345; discord:678` (separated by `;`, `,`, `、`, `；`, `，` or spaces).
pub fn parse_identities(raw: &str) -> Result<Vec<(String, String)>, String> {
    raw.split([';', ',', '、', '；', '，', ' ', '\u{3000}'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (door, id) = item.split_once([':', '：']).ok_or_else(|| {
                format!("chat id `{item}` must be door:id, e.g. telegram:123456789")
            })?;
            let door = door.trim().to_lowercase();
            let id = id.trim();
            if !CHANNELS.contains(&door.as_str()) {
                return Err(format!(
                    "chat id `{item}`: unknown door `{door}` (one of {})",
                    CHANNELS.join(", ")
                ));
            }
            if id.is_empty()
                || id.len() > 128
                || id.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                return Err(format!(
                    "chat id `{item}`: the id must be 1–128 characters without spaces"
                ));
            }
            Ok((door, id.to_owned()))
        })
        .collect()
}

/// Checks an email address's shape (one `@`, a dot in the domain, no spaces); lower-case.
pub fn parse_email(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    let (user, domain) = e.split_once('@')?;
    let ok = !user.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    ok.then_some(e)
}

impl Colleague {
    /// Checks one CSV row (cells in [`COLUMNS`] order).
    pub fn from_row(row: &Row) -> Result<Colleague, SheetError> {
        let name = PersonName::parse(row.get(0).unwrap_or_default())
            .map_err(|e| row.error(e.to_string()))?;
        let place = |i: usize| {
            row.get(i)
                .map(|v| {
                    Place::parse(v)
                        .map(|p| p.as_str().to_owned())
                        .map_err(|e| row.error(format!("{}: {e}", COLUMNS[i].name)))
                })
                .transpose()
        };
        let department = row
            .get(1)
            .map(|v| {
                Department::parse(v)
                    .map(|d| d.as_str().to_owned())
                    .map_err(|e| row.error(e.to_string()))
            })
            .transpose()?;
        let phone = row
            .get(2)
            .map(|v| {
                Phone::parse(v)
                    .map(|p| p.as_str().to_owned())
                    .map_err(|e| row.error(format!("phone `{v}`: {e}")))
            })
            .transpose()?;
        let identities =
            parse_identities(row.get(6).unwrap_or_default()).map_err(|e| row.error(e))?;
        let email = row
            .get(7)
            .map(|v| {
                parse_email(v).ok_or_else(|| {
                    row.error(format!(
                        "email `{v}` is not an address such as wang.fang@example.com"
                    ))
                })
            })
            .transpose()?;
        Ok(Colleague {
            name: name.as_str().to_owned(),
            department,
            phone,
            site: place(3)?,
            building: place(4)?,
            room: place(5)?,
            email,
            identities,
        })
    }
}

/// Reads a whole staff sheet: every row checked; a chat identity or email given twice is
/// refused at its second line; the first bad row refuses the file.
pub fn parse_sheet(text: &str) -> Result<Vec<Colleague>, SheetError> {
    let rows = super::sheet::read(text, &COLUMNS)?;
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let c = Colleague::from_row(row)?;
        let keys = c
            .identities
            .iter()
            .map(|(d, i)| format!("{d}:{i}"))
            .chain(c.email.iter().map(|e| format!("email {e}")));
        for key in keys {
            if let Some(first) = seen.insert(key.clone(), row.line) {
                return Err(row.error(format!("{key} is already given on line {first}")));
            }
        }
        out.push(c);
    }
    Ok(out)
}

/// What happens when someone the directory does not know writes (`[intake] strangers`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrangerPolicy {
    /// Anyone may report (the default: the directory only saves questions).
    #[default]
    Allow,
    /// Unknown callers are asked for the service contract's number first (plan 003).
    AskContractNumber,
    /// Only people in the directory (or already known) may report.
    Refuse,
}

/// Whether `typed` is one of the contract numbers (case, spaces, dashes and full-width
/// forms do not matter).
pub fn is_contract_number(typed: &str, numbers: &[String]) -> bool {
    let key = |s: &str| -> String {
        super::asset::normalise_tag(s)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect()
    };
    let typed = key(typed);
    !typed.is_empty() && numbers.iter().any(|n| key(n) == typed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_in_the_ways_people_write_them() {
        assert_eq!(
            parse_identities("telegram:123; Discord：456，web:abc").unwrap(),
            vec![
                ("telegram".to_owned(), "123".to_owned()),
                ("discord".to_owned(), "456".to_owned()),
                ("web".to_owned(), "abc".to_owned())
            ]
        );
        assert!(parse_identities("").unwrap().is_empty());
        assert!(parse_identities("123456").is_err());
        assert!(
            parse_identities("icq:1")
                .unwrap_err()
                .contains("unknown door `icq`")
        );
    }

    #[test]
    fn emails() {
        assert_eq!(
            parse_email(" Wang.Fang@Example.com ").as_deref(),
            Some("wang.fang@example.com")
        );
        for bad in ["wang", "wang@", "@x.com", "a@b", "a b@c.com", "a@@b.com"] {
            assert_eq!(parse_email(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_staff_sheet_is_read_whole_or_refused_at_its_bad_line() {
        let sheet = "姓名,部门,手机,地点,楼宇,房间,聊天账号,邮箱\n\
                     张伟,财务部,138 0013 8000,总部,A座,301,telegram:1001,zhang.wei@example.com\n\
                     李娜,人事部,,苏州分公司,,,,\n";
        let people = parse_sheet(sheet).unwrap();
        assert_eq!(people.len(), 2);
        assert_eq!(people[0].phone.as_deref(), Some("13800138000"));
        assert_eq!(
            people[0].identities,
            vec![("telegram".into(), "1001".into())]
        );
        assert_eq!(people[1].site.as_deref(), Some("苏州分公司"));
        let bad_phone = "name,phone\n张伟,13800138000\n李娜,call me\n";
        assert!(
            parse_sheet(bad_phone)
                .unwrap_err()
                .to_string()
                .starts_with("line 3: phone `call me`")
        );
        let twice = "name,chat_ids\n张伟,telegram:1\n李娜,telegram:1\n";
        assert_eq!(
            parse_sheet(twice).unwrap_err().to_string(),
            "line 3: telegram:1 is already given on line 2; nothing was imported"
        );
        let no_name = "name,phone\n,13800138000\n";
        assert!(
            parse_sheet(no_name)
                .unwrap_err()
                .to_string()
                .starts_with("line 2: name is required")
        );
    }

    #[test]
    fn contract_numbers_forgive_typing() {
        let numbers = vec!["HT-2026-001".to_owned()];
        assert!(is_contract_number("ht 2026 001", &numbers));
        assert!(is_contract_number("ＨＴ－２０２６－００１", &numbers));
        assert!(!is_contract_number("HT-2026-002", &numbers));
        assert!(!is_contract_number("", &numbers));
        assert!(!is_contract_number("--", &["--".to_owned()]));
    }
}
