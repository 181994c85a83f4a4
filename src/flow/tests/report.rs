//! `report_form`: each answer to its field, and the result accepted by `ReportForm::parse`.

use super::*;
use chrono::Duration;

fn full() -> BTreeMap<String, String> {
    map(&[
        ("category", "printer"),
        ("device_model", "HP LaserJet M404"),
        ("printer_symptom", "paper_jam"),
        ("site", "上海总部"),
        ("building", "A 座"),
        ("room", "302"),
        ("device", "prn/3f/02"),
        ("description", "卡纸"),
        ("started", "earlier_today"),
        ("people", "everyone"),
        ("urgency", "stopped"),
        ("department", "财务部"),
        ("phone", "138-0013-8000"),
        ("photos", "p1\np2"),
        ("details", "打印机问题：卡纸\n开始时间：今天早些时候"),
    ])
}

#[test]
fn every_field_is_mapped() {
    let form = report_form(&full(), now());
    assert_eq!(form.kind, None);
    assert_eq!(form.reporter_name, None);
    assert_eq!(form.category, "printer");
    assert_eq!(form.site, "上海总部");
    assert_eq!(form.building.as_deref(), Some("A 座"));
    assert_eq!(form.room.as_deref(), Some("302"));
    assert_eq!(form.asset_tag.as_deref(), Some("PRN/3F/02"));
    assert_eq!(form.ip, None);
    assert_eq!(form.device_model.as_deref(), Some("HP LaserJet M404"));
    assert_eq!(
        form.description,
        "卡纸\n\n打印机问题：卡纸\n开始时间：今天早些时候"
    );
    assert_eq!(form.started_at, Some(now() - Duration::hours(3)));
    assert_eq!(form.people_affected, None);
    assert_eq!(form.impact, Some(Impact::Everyone));
    assert_eq!(form.urgency, Some(Urgency::High));
    assert_eq!(form.department.as_deref(), Some("财务部"));
    assert_eq!(form.phone.as_deref(), Some("138-0013-8000"));
    assert_eq!(form.photos, ["p1", "p2"]);

    let (intake, impact, urgency) = parse_report(&full());
    assert_eq!(intake.department.as_str(), "财务部");
    assert_eq!(intake.phone.as_str(), "13800138000");
    assert_eq!(intake.reporter_name.as_str(), "王伟");
    assert_eq!(intake.device.asset_tag.unwrap().as_str(), "PRN/3F/02");
    assert_eq!(intake.location.building.unwrap().as_str(), "A 座");
    assert_eq!((impact, urgency), (Impact::Everyone, Urgency::High));
}

#[test]
fn started_choices_are_relative_to_now() {
    for (id, ago) in [
        ("just_now", Duration::zero()),
        ("within_hour", Duration::minutes(30)),
        ("earlier_today", Duration::hours(3)),
        ("before_today", Duration::hours(24)),
    ] {
        let mut a = full();
        a.insert("started".into(), id.into());
        assert_eq!(report_form(&a, now()).started_at, Some(now() - ago), "{id}");
        parse_report(&a);
    }
    let mut a = full();
    a.remove("started");
    assert_eq!(report_form(&a, now()).started_at, None);
}

#[test]
fn people_and_urgency() {
    for (people, count, impact, desk_impact) in [
        ("one", Some(1), Some(Impact::One), Impact::One),
        ("several", None, Some(Impact::Some), Impact::Some),
        ("everyone", None, Some(Impact::Everyone), Impact::Everyone),
        ("1", Some(1), None, Impact::One),
        ("40", Some(40), None, Impact::Some),
    ] {
        let mut a = full();
        a.insert("people".into(), people.into());
        let form = report_form(&a, now());
        assert_eq!(
            (form.people_affected, form.impact),
            (count, impact),
            "{people}"
        );
        assert_eq!(parse_report(&a).1, desk_impact, "{people}");
    }
    for (id, urgency) in [
        ("stopped", Urgency::High),
        ("degraded", Urgency::Medium),
        ("can_wait", Urgency::Low),
    ] {
        let mut a = full();
        a.insert("urgency".into(), id.into());
        assert_eq!(report_form(&a, now()).urgency, Some(urgency));
        assert_eq!(parse_report(&a).2, urgency);
    }
}

#[test]
fn device_is_an_ip_an_asset_tag_or_kept_in_the_description() {
    for (device, tag, ip) in [
        ("10.1.2.34", None, Some("10.1.2.34")),
        ("fe80::1", None, Some("fe80::1")),
        ("pc-0231", Some("PC-0231"), None),
        ("10.1.2.256", Some("10.1.2.256"), None),
    ] {
        let mut a = full();
        a.insert("device".into(), device.into());
        let form = report_form(&a, now());
        assert_eq!(
            (form.asset_tag.as_deref(), form.ip.as_deref()),
            (tag, ip),
            "{device}"
        );
        parse_report(&a);
    }
    let mut a = full();
    a.insert("device".into(), "::::::".into());
    let form = report_form(&a, now());
    assert_eq!((form.asset_tag, form.ip), (None, None));
    assert!(
        form.description.ends_with("\n::::::"),
        "{}",
        form.description
    );
    parse_report(&a);
}

#[test]
fn skipped_and_minimal_answers() {
    let a = map(&[
        ("category", "network"),
        ("site", "HQ"),
        ("building", ""),
        ("room", ""),
        ("device", ""),
        ("description", "no network"),
    ]);
    let form = report_form(&a, now());
    assert_eq!(
        (form.building, form.room, form.asset_tag, form.ip),
        (None, None, None, None)
    );
    assert_eq!(form.description, "no network");
    assert_eq!((form.department, form.phone), (None, None));
    assert!(form.photos.is_empty());
    // The desk fills department and phone from what it remembers.
    let (intake, impact, urgency) = parse_report(&a);
    assert_eq!(intake.department.as_str(), "行政部");
    assert_eq!((impact, urgency), (Impact::One, Urgency::Medium));
}

#[test]
fn the_description_is_capped_at_the_desk_limit() {
    let mut a = full();
    a.insert("description".into(), "字".repeat(1000));
    a.insert("details".into(), "细".repeat(5000));
    let form = report_form(&a, now());
    assert_eq!(
        form.description.chars().count(),
        crate::domain::intake::Description::MAX
    );
    assert!(form.description.starts_with(&"字".repeat(1000)));
    parse_report(&a);
}
