//! The asset register's rules: what a device record holds, how typed tags and IP addresses
//! are normalised to match it (case, full-width characters, spaces), how a CSV row becomes
//! a record, and the repeat-fault rule (≥ 3 faults in 90 days: advise replacement).

use std::collections::HashSet;
use std::net::IpAddr;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::intake::{AssetTag, Department, Device, PersonName, Place};
use super::sheet::{Column, Row, SheetError};

text_enum!(
    /// Where a device stands in its life.
    AssetStatus {
        /// With a user.
        InUse = "in_use",
        /// In stock, ready to hand out.
        Spare = "spare",
        /// Lent to a user while theirs is repaired.
        OnLoan = "on_loan",
        /// At the engineers' or the vendor's.
        UnderRepair = "under_repair",
        /// Out of service.
        Retired = "retired",
    }
);

impl AssetStatus {
    /// Reads a status as people write it: the stored word, English words, or Chinese.
    pub fn parse(raw: &str) -> Option<AssetStatus> {
        let key: String = raw
            .trim()
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .map(|c| if c == '-' { '_' } else { c })
            .collect();
        Some(match key.as_str() {
            "" | "in_use" | "inuse" | "在用" | "使用中" | "正常" => AssetStatus::InUse,
            "spare" | "备用" | "备机" | "库存" => AssetStatus::Spare,
            "on_loan" | "onloan" | "loan" | "借出" | "借用" => AssetStatus::OnLoan,
            "under_repair" | "underrepair" | "repair" | "维修" | "维修中" | "送修" => {
                AssetStatus::UnderRepair
            }
            "retired" | "报废" | "停用" | "退役" => AssetStatus::Retired,
            _ => return None,
        })
    }
}

/// Full-width forms (`ＰＣ－００１`, the ideographic space) as their ASCII letters.
fn half_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        // Dashes an input method offers in place of '-'.
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{30FC}' => '-',
        '。' => '.',
        _ => c,
    }
}

/// A typed or printed tag as the register keys it: full-width characters made ASCII,
/// spaces removed, upper-case (`ｐｒｎ－００４２ ` and `PRN 0042`… become `PRN-0042`,
/// `PRN0042`). Whether the result is a valid tag is [`AssetTag::parse`]'s to say.
pub fn normalise_tag(raw: &str) -> String {
    raw.chars()
        .map(half_width)
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// A typed IP address, full-width digits and spaces forgiven; `None` if it is not one.
pub fn normalise_ip(raw: &str) -> Option<IpAddr> {
    let ascii: String = raw
        .chars()
        .map(half_width)
        .filter(|c| !c.is_whitespace())
        .collect();
    ascii.parse().ok()
}

/// A MAC address as `AA:BB:CC:DD:EE:FF`, from any of the usual spellings.
pub fn normalise_mac(raw: &str) -> Option<String> {
    let hex: String = raw
        .chars()
        .map(half_width)
        .filter(|c| c.is_ascii_hexdigit())
        .flat_map(char::to_uppercase)
        .collect();
    let separators_ok = raw
        .chars()
        .map(half_width)
        .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '-' | '.' | ' '));
    (hex.len() == 12 && separators_ok).then(|| {
        hex.as_bytes()
            .chunks(2)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect::<Vec<_>>()
            .join(":")
    })
}

/// A device as the register holds it (checked: every field valid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetRecord {
    /// Tag from the sticker, normalised (the key).
    pub tag: String,
    /// Kind of device (`pc`, `laptop`, `printer`, `mfp`, `copier`, … as the client names them).
    pub kind: String,
    /// Make and model.
    pub model: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// IP address.
    pub ip: Option<String>,
    /// MAC address (`AA:BB:…`).
    pub mac: Option<String>,
    /// Site or branch office.
    pub site: Option<String>,
    /// Building.
    pub building: Option<String>,
    /// Room or desk.
    pub room: Option<String>,
    /// Who uses it.
    pub owner: Option<String>,
    /// Their department.
    pub department: Option<String>,
    /// Bought on.
    pub purchased_on: Option<NaiveDate>,
    /// Warranty ends on (inclusive).
    pub warranty_until: Option<NaiveDate>,
    /// Where it stands.
    pub status: AssetStatus,
    /// Free notes.
    pub notes: Option<String>,
}

/// The columns of an asset CSV (import and export), with the Chinese names plan 000's
/// lists use.
pub const COLUMNS: [Column; 15] = [
    Column {
        name: "tag",
        aliases: &[
            "asset_tag",
            "资产编号",
            "资产标签",
            "资产号",
            "编号",
            "标签",
        ],
        required: true,
    },
    Column {
        name: "kind",
        aliases: &["type", "类型", "设备类型", "资产类型"],
        required: true,
    },
    Column {
        name: "model",
        aliases: &["make_model", "make/model", "品牌型号", "型号", "品牌"],
        required: false,
    },
    Column {
        name: "serial",
        aliases: &["serial_number", "sn", "序列号"],
        required: false,
    },
    Column {
        name: "ip",
        aliases: &["ip_address", "IP地址", "地址"],
        required: false,
    },
    Column {
        name: "mac",
        aliases: &["mac_address", "MAC地址"],
        required: false,
    },
    Column {
        name: "site",
        aliases: &["地点", "分支机构", "园区", "城市"],
        required: false,
    },
    Column {
        name: "building",
        aliases: &["楼宇", "楼", "大楼"],
        required: false,
    },
    Column {
        name: "room",
        aliases: &["房间", "办公室", "工位", "位置"],
        required: false,
    },
    Column {
        name: "owner",
        aliases: &["user", "使用人", "责任人", "保管人"],
        required: false,
    },
    Column {
        name: "department",
        aliases: &["dept", "部门", "使用部门"],
        required: false,
    },
    Column {
        name: "purchased_on",
        aliases: &["purchase_date", "购买日期", "购置日期"],
        required: false,
    },
    Column {
        name: "warranty_until",
        aliases: &["warranty_end", "保修截止", "保修到期", "保修期至"],
        required: false,
    },
    Column {
        name: "status",
        aliases: &["状态", "使用状态"],
        required: false,
    },
    Column {
        name: "notes",
        aliases: &["备注", "说明"],
        required: false,
    },
];

/// A date as spreadsheets write it: `2024-03-01`, `2024/3/1`, `2024.3.1`, `2024年3月1日`.
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    let cleaned: String = raw
        .trim()
        .chars()
        .map(|c| match half_width(c) {
            '/' | '.' | '年' | '月' => '-',
            '日' => ' ',
            c => c,
        })
        .collect();
    let cleaned = cleaned.trim().trim_end_matches('-');
    let cleaned = cleaned.split(' ').next().unwrap_or_default();
    NaiveDate::parse_from_str(cleaned, "%Y-%m-%d").ok()
}

fn text(
    row: &Row,
    i: usize,
    parse: fn(&str) -> Result<Place, super::intake::InputError>,
) -> Result<Option<String>, SheetError> {
    row.get(i)
        .map(|v| {
            parse(v)
                .map(|p| p.as_str().to_owned())
                .map_err(|e| row.error(format!("{}: {e}", COLUMNS[i].name)))
        })
        .transpose()
}

impl AssetRecord {
    /// Fills in what a report left out of its device from this record of it: a typed tag
    /// gets the device's model and address, a typed IP its tag and model. What the
    /// reporter gave is kept.
    pub fn fill_in(&self, device: &mut Device) {
        if device.asset_tag.is_none() {
            device.asset_tag = AssetTag::parse(&self.tag).ok();
        }
        if device.model.is_none() {
            device.model = self.model.as_deref().and_then(|m| Place::parse(m).ok());
        }
        if device.ip.is_none() {
            device.ip = self.ip.as_deref().and_then(normalise_ip);
        }
    }

    /// Checks one CSV row (cells in [`COLUMNS`] order).
    pub fn from_row(row: &Row) -> Result<AssetRecord, SheetError> {
        let raw_tag = row.get(0).unwrap_or_default();
        let tag = AssetTag::parse(&normalise_tag(raw_tag))
            .map_err(|e| row.error(format!("tag `{raw_tag}`: {e}")))?
            .as_str()
            .to_owned();
        let kind = match row.get(1) {
            Some(k) if k.chars().count() <= 32 && !k.chars().any(char::is_control) => {
                k.to_lowercase()
            }
            Some(k) => return Err(row.error(format!("kind `{k}` must be at most 32 characters"))),
            None => return Err(row.error("kind is required (pc, laptop, printer, …)")),
        };
        let ip = row
            .get(4)
            .map(|v| {
                normalise_ip(v).map(|ip| ip.to_string()).ok_or_else(|| {
                    row.error(format!("ip `{v}` is not an IP address such as 10.1.2.34"))
                })
            })
            .transpose()?;
        let mac = row
            .get(5)
            .map(|v| {
                normalise_mac(v).ok_or_else(|| {
                    row.error(format!(
                        "mac `{v}` is not a MAC address such as 00:1A:2B:3C:4D:5E"
                    ))
                })
            })
            .transpose()?;
        let date = |i: usize| {
            row.get(i)
                .map(|v| {
                    parse_date(v).ok_or_else(|| {
                        row.error(format!(
                            "{} `{v}` is not a date such as 2024-03-01",
                            COLUMNS[i].name
                        ))
                    })
                })
                .transpose()
        };
        let status = match row.get(13) {
            None => AssetStatus::InUse,
            Some(s) => AssetStatus::parse(s).ok_or_else(|| {
                row.error(format!(
                    "status `{s}` is not one of in_use, spare, on_loan, under_repair, retired (在用, 备用, 借出, 维修, 报废)"
                ))
            })?,
        };
        let owner = row
            .get(9)
            .map(|v| {
                PersonName::parse(v)
                    .map(|n| n.as_str().to_owned())
                    .map_err(|e| row.error(format!("owner: {e}")))
            })
            .transpose()?;
        let department = row
            .get(10)
            .map(|v| {
                Department::parse(v)
                    .map(|d| d.as_str().to_owned())
                    .map_err(|e| row.error(format!("department: {e}")))
            })
            .transpose()?;
        let notes = match row.get(14) {
            Some(n) if n.chars().count() > 1000 => {
                return Err(row.error("notes are longer than 1000 characters"));
            }
            n => n.map(str::to_owned),
        };
        let record = AssetRecord {
            tag,
            kind,
            model: text(row, 2, Place::parse)?,
            serial: text(row, 3, Place::parse)?,
            ip,
            mac,
            site: text(row, 6, Place::parse)?,
            building: text(row, 7, Place::parse)?,
            room: text(row, 8, Place::parse)?,
            owner,
            department,
            purchased_on: date(11)?,
            warranty_until: date(12)?,
            status,
            notes,
        };
        if let (Some(p), Some(w)) = (record.purchased_on, record.warranty_until)
            && w < p
        {
            return Err(row.error("warranty_until is before purchased_on"));
        }
        Ok(record)
    }

    /// The record as a CSV row, in [`COLUMNS`] order.
    pub fn to_row(&self) -> Vec<String> {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        let d = |v: &Option<NaiveDate>| v.map(|d| d.to_string()).unwrap_or_default();
        vec![
            self.tag.clone(),
            self.kind.clone(),
            s(&self.model),
            s(&self.serial),
            s(&self.ip),
            s(&self.mac),
            s(&self.site),
            s(&self.building),
            s(&self.room),
            s(&self.owner),
            s(&self.department),
            d(&self.purchased_on),
            d(&self.warranty_until),
            self.status.as_str().to_owned(),
            s(&self.notes),
        ]
    }

    /// Where it is, as one line (`总部 A座 301`).
    pub fn location(&self) -> String {
        [&self.site, &self.building, &self.room]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Reads a whole asset sheet: every row checked, a tag twice is refused at its second
/// line; the first bad row refuses the file.
pub fn parse_sheet(text: &str) -> Result<Vec<AssetRecord>, SheetError> {
    let rows = super::sheet::read(text, &COLUMNS)?;
    let mut seen = HashSet::with_capacity(rows.len());
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let record = AssetRecord::from_row(row)?;
        if !seen.insert(record.tag.clone()) {
            return Err(row.error(format!("tag {} appears twice in the file", record.tag)));
        }
        out.push(record);
    }
    Ok(out)
}

/// Where a sticker's QR code leads (`[assets] qr`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QrTarget {
    /// The web chat's `/r/TAG`: works on any phone with a browser.
    #[default]
    Web,
    /// A Telegram deep link: `https://t.me/<bot>?start=asset_TAG`.
    Telegram,
}

/// The link a sticker's QR code carries for `tag`: the web chat under `web_base`, or the
/// Telegram bot `bot`'s deep link (whose start parameter allows only A–Z, a–z, 0–9, `_`
/// and `-`: a tag with `/` or `.` is spelt with `_2F`/`_2E` there, see
/// [`tag_from_start`]).
pub fn qr_link(target: QrTarget, web_base: &str, bot: Option<&str>, tag: &str) -> String {
    match (target, bot) {
        (QrTarget::Telegram, Some(bot)) => {
            format!("https://t.me/{bot}?start=asset_{}", start_safe(tag))
        }
        _ => format!("{}/r/{}", web_base.trim_end_matches('/'), start_safe(tag)),
    }
}

/// A tag in the characters a Telegram start parameter and a URL path allow.
fn start_safe(tag: &str) -> String {
    tag.chars()
        .map(|c| match c {
            '/' => "_2F".to_owned(),
            '.' => "_2E".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// The tag a deep link's start parameter (after `asset_`) or a `/r/` path names.
pub fn tag_from_start(param: &str) -> String {
    normalise_tag(
        &param
            .replace("_2F", "/")
            .replace("_2E", ".")
            .replace("_2f", "/")
            .replace("_2e", "."),
    )
}

/// Faults on one device within this window …
pub const REPEAT_WINDOW: Duration = Duration::days(90);
/// … at least this many times make it a repeat-fault device (plan 000's asset reports:
/// replacement advice).
pub const REPEAT_FAULTS: i64 = 3;

/// Whether a device with `faults` reports since [`REPEAT_WINDOW`] ago, and replacement
/// advised at `advised` (if ever), must now be flagged: once, the first time it reaches
/// [`REPEAT_FAULTS`] (advice given before the window started is old news: flag again).
pub fn needs_replacement_advice(
    faults: i64,
    advised: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    faults >= REPEAT_FAULTS && advised.is_none_or(|at| at < now - REPEAT_WINDOW)
}

/// Whole years from `purchased` to `today` (0 in the first year).
pub fn age_years(purchased: NaiveDate, today: NaiveDate) -> u32 {
    use chrono::Datelike;
    let mut years = today.year() - purchased.year();
    if (today.month(), today.day()) < (purchased.month(), purchased.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

/// The advice plan 000's asset report gives for a device: replace it after repeat faults
/// or past `replace_after_years`; watch it when its warranty has ended; otherwise keep.
pub fn advice(
    age: Option<u32>,
    warranty_until: Option<NaiveDate>,
    repeat_faults: bool,
    today: NaiveDate,
    replace_after_years: u32,
) -> &'static str {
    if repeat_faults || age.is_some_and(|a| a >= replace_after_years) {
        "replace"
    } else if warranty_until.is_some_and(|w| w < today) {
        "out_of_warranty"
    } else {
        "keep"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sheet::read;

    #[test]
    fn typed_tags_match_however_they_are_typed() {
        for typed in [
            "PRN-0042",
            "prn-0042",
            " prn - 0042 ",
            "ＰＲＮ－００４２",
            "ｐｒｎ\u{3000}-0042",
            "PRN—0042",
        ] {
            assert_eq!(normalise_tag(typed), "PRN-0042", "{typed}");
        }
        assert_eq!(normalise_ip("１０．１．２．３４"), "10.1.2.34".parse().ok());
        assert_eq!(normalise_ip(" 10.1.2.34 "), "10.1.2.34".parse().ok());
        assert_eq!(normalise_ip("PRN-0042"), None);
        assert_eq!(
            normalise_mac("00-1a-2b-3c-4d-5e").as_deref(),
            Some("00:1A:2B:3C:4D:5E")
        );
        assert_eq!(
            normalise_mac("001a.2b3c.4d5e").as_deref(),
            Some("00:1A:2B:3C:4D:5E")
        );
        assert_eq!(normalise_mac("00:1a:2b"), None);
    }

    #[test]
    fn statuses_and_dates_as_people_write_them() {
        assert_eq!(AssetStatus::parse("在用"), Some(AssetStatus::InUse));
        assert_eq!(
            AssetStatus::parse("Under Repair"),
            Some(AssetStatus::UnderRepair)
        );
        assert_eq!(AssetStatus::parse("on-loan"), Some(AssetStatus::OnLoan));
        assert_eq!(AssetStatus::parse("报废"), Some(AssetStatus::Retired));
        assert_eq!(AssetStatus::parse("lost"), None);
        let d = NaiveDate::from_ymd_opt(2024, 3, 1);
        for typed in ["2024-03-01", "2024/3/1", "2024.3.1", "2024年3月1日"] {
            assert_eq!(parse_date(typed), d, "{typed}");
        }
        assert_eq!(parse_date("March"), None);
    }

    #[test]
    fn a_sheet_is_read_whole_or_refused_at_its_bad_line() {
        let good = "资产编号,类型,品牌型号,IP地址,地点,楼宇,房间,保修截止,状态\n\
                    pc-0001,PC,Lenovo M720,10.1.2.3,总部,A座,301,2027-01-31,在用\n\
                    PRN-0042,printer,HP M404,,总部,A座,3F,,\n";
        let assets = parse_sheet(good).unwrap();
        assert_eq!(assets.len(), 2);
        assert_eq!(assets[0].tag, "PC-0001");
        assert_eq!(assets[0].kind, "pc");
        assert_eq!(assets[0].ip.as_deref(), Some("10.1.2.3"));
        assert_eq!(assets[1].status, AssetStatus::InUse);
        assert_eq!(assets[0].location(), "总部 A座 301");
        let bad_ip = "tag,kind,ip\nPC-1,pc,10.1.2.3\nPC-2,pc,10.1.2.999\n";
        assert_eq!(
            parse_sheet(bad_ip).unwrap_err().to_string(),
            "line 3: ip `10.1.2.999` is not an IP address such as 10.1.2.34; nothing was imported"
        );
        let twice = "tag,kind\nPC-1,pc\npc-1,pc\n";
        assert!(
            parse_sheet(twice)
                .unwrap_err()
                .to_string()
                .starts_with("line 3: tag PC-1 appears twice")
        );
        let no_kind = "tag\nPC-1\n";
        assert!(matches!(
            parse_sheet(no_kind),
            Err(SheetError::MissingColumn { column: "kind", .. })
        ));
    }

    #[test]
    fn a_record_round_trips_through_its_row() {
        let sheet = "tag,kind,model,serial,ip,mac,site,building,room,owner,department,purchased_on,warranty_until,status,notes\n\
                     PC-7,laptop,ThinkPad X1,SN1,10.0.0.7,00:1A:2B:3C:4D:5E,苏州,B,201,王芳,财务部,2022-05-01,2025-04-30,spare,note\n";
        let a = parse_sheet(sheet).unwrap().remove(0);
        let row = Row {
            line: 2,
            cells: a.to_row(),
        };
        assert_eq!(AssetRecord::from_row(&row).unwrap(), a);
        let cols = read(sheet, &COLUMNS).unwrap();
        assert_eq!(cols[0].cells, a.to_row());
    }

    #[test]
    fn a_record_fills_in_what_the_report_left_out_and_keeps_what_it_gave() {
        let sheet = "tag,kind,model,ip\nPRN-0042,printer,HP M404,10.0.0.42\n";
        let a = parse_sheet(sheet).unwrap().remove(0);
        let tag = |t: &str| AssetTag::parse(t).ok();
        let ip = |i: &str| i.parse().ok();

        let mut by_tag = Device {
            asset_tag: tag("PRN-0042"),
            ..Device::default()
        };
        a.fill_in(&mut by_tag);
        assert_eq!(by_tag.model, Place::parse("HP M404").ok());
        assert_eq!(by_tag.ip, ip("10.0.0.42"));

        let mut by_ip = Device {
            ip: ip("10.0.0.42"),
            ..Device::default()
        };
        a.fill_in(&mut by_ip);
        assert_eq!(by_ip.asset_tag, tag("PRN-0042"));

        let given = Device {
            asset_tag: tag("PRN-0042"),
            model: Place::parse("Canon").ok(),
            ip: ip("10.9.9.9"),
        };
        let mut kept = given.clone();
        a.fill_in(&mut kept);
        assert_eq!(kept, given);
    }

    #[test]
    fn repeat_faults_advise_replacement_once_per_window() {
        let now = Utc::now();
        assert!(!needs_replacement_advice(2, None, now));
        assert!(needs_replacement_advice(3, None, now));
        assert!(!needs_replacement_advice(
            5,
            Some(now - Duration::days(10)),
            now
        ));
        assert!(needs_replacement_advice(
            3,
            Some(now - Duration::days(91)),
            now
        ));
    }

    #[test]
    fn qr_links_carry_the_tag_both_ways() {
        let web = qr_link(QrTarget::Web, "https://it.example.com/", None, "PRN/3F.02");
        assert_eq!(web, "https://it.example.com/r/PRN_2F3F_2E02");
        let tg = qr_link(QrTarget::Telegram, "x", Some("baoxiu_bot"), "PRN-0042");
        assert_eq!(tg, "https://t.me/baoxiu_bot?start=asset_PRN-0042");
        assert_eq!(tag_from_start("PRN_2F3F_2E02"), "PRN/3F.02");
        assert_eq!(tag_from_start("prn-0042"), "PRN-0042");
    }

    #[test]
    fn age_and_advice() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(age_years(d(2020, 6, 1), d(2026, 5, 31)), 5);
        assert_eq!(age_years(d(2020, 6, 1), d(2026, 6, 1)), 6);
        assert_eq!(age_years(d(2027, 1, 1), d(2026, 6, 1)), 0);
        let today = d(2026, 12, 6);
        assert_eq!(advice(Some(2), None, true, today, 6), "replace");
        assert_eq!(advice(Some(6), None, false, today, 6), "replace");
        assert_eq!(
            advice(Some(3), Some(d(2026, 1, 1)), false, today, 6),
            "out_of_warranty"
        );
        assert_eq!(
            advice(Some(1), Some(d(2027, 1, 1)), false, today, 6),
            "keep"
        );
    }
}
