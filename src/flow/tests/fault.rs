//! Every path of `fault_report`.

use super::*;

const CATEGORIES: [&str; 6] = [
    "desktop",
    "printer",
    "network",
    "server",
    "database",
    "application",
];

#[test]
fn every_category_reaches_the_summary_and_submits_in_both_languages() {
    for lang in [Lang::ZhCn, Lang::En] {
        for category in CATEGORIES {
            let mut chat = Chat::report(lang, &[("name", "王伟")]);
            let asked = chat.answer_until_summary(category);
            let follow_ups: &[&str] = match category {
                "desktop" => &["desktop_symptom"],
                "printer" => &["printer_model", "printer_symptom"],
                "network" => &["network_scope"],
                _ => &["system_name"],
            };
            let mut expected = vec!["category"];
            expected.extend(follow_ups);
            expected.extend([
                "site",
                "building",
                "room",
                "device",
                "description",
                "started",
                "people",
                "urgency",
                "department",
                "phone",
            ]);
            assert_eq!(asked, expected, "{category} {lang:?}");
            let answers = chat.submit();
            assert_eq!(answers["category"], category);
            let (intake, impact, urgency) = parse_report(&answers);
            assert_eq!(intake.category, category);
            assert_eq!(intake.location.site.as_str(), "上海总部");
            assert_eq!(intake.people_affected, 5);
            assert_eq!(impact, Impact::Some);
            assert_eq!(urgency, Urgency::Medium);
            // The conversation waits at the summary until the caller drops it.
            assert_eq!(chat.step(), "summary");
        }
    }
}

#[test]
fn printer_follow_ups_become_device_model_and_description_details() {
    let mut chat = Chat::report(Lang::ZhCn, &[]);
    chat.answer_until_summary("printer");
    assert!(
        chat.said().contains("• 设备型号：HP LaserJet M404"),
        "{}",
        chat.said()
    );
    assert!(chat.said().contains("• 打印机问题：卡纸"));
    let answers = chat.submit();
    assert_eq!(answers["device_model"], "HP LaserJet M404");
    assert_eq!(answers["printer_symptom"], "paper_jam");
    assert_eq!(answers[DETAILS], "打印机问题：卡纸\n开始时间：一小时内");
    let (intake, ..) = parse_report(&answers);
    assert_eq!(intake.device.model.unwrap().as_str(), "HP LaserJet M404");
    assert_eq!(
        intake.description.as_str(),
        "打印机一直卡纸\n拿不出来\n\n打印机问题：卡纸\n开始时间：一小时内"
    );

    // Each printer symptom, in English.
    for (option, label) in [
        ("paper_jam", "Paper jam"),
        ("toner", "Toner / ink"),
        ("offline", "Offline"),
        ("other", "Other"),
    ] {
        let mut chat = Chat::report(Lang::En, &[]);
        chat.press("printer");
        chat.text("Kyocera M2040");
        chat.press(option);
        assert_eq!(chat.step(), "site");
        chat.answer_until_summary("printer");
        let answers = chat.submit();
        assert!(
            answers[DETAILS].starts_with(&format!("Printer problem: {label}\n")),
            "{answers:?}"
        );
    }
}

#[test]
fn desktop_network_and_system_follow_ups() {
    for (option, label) in [
        ("wont_boot", "开不了机"),
        ("slow", "很慢 / 卡顿"),
        ("blue_screen", "蓝屏"),
        ("other", "其他"),
    ] {
        let mut chat = Chat::report(Lang::ZhCn, &[]);
        chat.press("desktop");
        chat.press(option);
        chat.answer_until_summary("desktop");
        let answers = chat.submit();
        assert_eq!(answers["desktop_symptom"], option);
        assert!(answers[DETAILS].contains(&format!("电脑症状：{label}")));
    }
    for (option, label) in [
        ("whole_floor", "Whole floor / many PCs"),
        ("one_pc", "Just one PC"),
    ] {
        let mut chat = Chat::report(Lang::En, &[]);
        chat.press("network");
        chat.press(option);
        chat.answer_until_summary("network");
        let answers = chat.submit();
        assert!(answers[DETAILS].contains(&format!("Network scope: {label}")));
        assert!(!answers.contains_key("device_model"));
    }
    for category in ["server", "database", "application"] {
        let mut chat = Chat::report(Lang::ZhCn, &[]);
        chat.press(category);
        assert_eq!(chat.step(), "system_name");
        chat.text("财务数据库 10.0.0.5");
        chat.answer_until_summary(category);
        let answers = chat.submit();
        assert!(answers[DETAILS].contains("系统 / 服务器：财务数据库 10.0.0.5"));
    }
}

#[test]
fn optional_questions_can_be_skipped_by_button_or_typed_word() {
    let mut chat = Chat::report(Lang::En, &[]);
    chat.press("printer");
    chat.text("Skip"); // the en button label typed
    assert_eq!(chat.step(), "printer_symptom");
    chat.press("toner");
    chat.text("HQ");
    chat.press("skip"); // building: the button
    chat.text("跳过"); // room: a Chinese skip word in an English conversation
    assert_eq!(chat.step(), "device");
    chat.text(" skip "); // device: typed, with spaces
    assert_eq!(chat.step(), "description");
    chat.answer_until_summary("printer");
    assert!(chat.said().contains("• Building: (skipped)"));
    let answers = chat.submit();
    for key in ["device_model", "building", "room", "device"] {
        assert_eq!(answers[key], "", "{key}");
    }
    let form = report_form(&answers, now());
    assert_eq!(form.building, None);
    assert_eq!(form.room, None);
    assert_eq!(form.asset_tag, None);
    assert_eq!(form.ip, None);
    assert_eq!(form.device_model, None);
    parse_report(&answers);
}

#[test]
fn site_is_not_skippable() {
    let mut chat = Chat::report(Lang::ZhCn, &[]);
    chat.press("network");
    chat.press("one_pc");
    assert_eq!(chat.step(), "site");
    assert!(chat.buttons().is_empty());
    chat.text("跳过"); // a place called "跳过" is odd but not refused: it is text
    assert_eq!(chat.step(), "building");
}

#[test]
fn remembered_department_and_phone_are_not_asked() {
    let mut chat = Chat::report(
        Lang::ZhCn,
        &[("department", "行政部"), ("phone", "+86 21 5555 0100")],
    );
    let asked = chat.answer_until_summary("network");
    assert!(
        !asked.iter().any(|s| s == "department" || s == "phone"),
        "{asked:?}"
    );
    assert!(chat.said().contains("• 部门：行政部"));
    let answers = chat.submit();
    assert_eq!(answers["department"], "行政部");
    assert_eq!(answers["phone"], "+86 21 5555 0100");
    let (intake, ..) = parse_report(&answers);
    assert_eq!(intake.phone.as_str(), "+862155550100");

    // Only the department known: the phone is asked.
    let mut chat = Chat::report(Lang::ZhCn, &[("department", "行政部")]);
    let asked = chat.answer_until_summary("network");
    assert_eq!(asked.last().map(String::as_str), Some("phone"));
    assert!(!asked.iter().any(|s| s == "department"));

    // A remembered phone the step would refuse is asked again.
    let mut chat = Chat::report(
        Lang::ZhCn,
        &[("department", "行政部"), ("phone", "call me")],
    );
    let asked = chat.answer_until_summary("network");
    assert_eq!(asked.last().map(String::as_str), Some("phone"));

    // /back from the summary skips the remembered questions too.
    let mut chat = Chat::report(
        Lang::ZhCn,
        &[("department", "行政部"), ("phone", "13800138000")],
    );
    chat.answer_until_summary("network");
    chat.cmd("back", "");
    assert_eq!(chat.step(), "urgency");
    chat.press("stopped");
    assert_eq!(chat.step(), "summary");
}

#[test]
fn a_remembered_department_can_still_be_changed_for_one_report() {
    let mut chat = Chat::report(
        Lang::ZhCn,
        &[("department", "行政部"), ("phone", "13800138000")],
    );
    chat.answer_until_summary("desktop");
    chat.press("change");
    chat.press("department");
    assert!(chat.said().contains("（当前：行政部）"));
    chat.text("人事部");
    assert_eq!(chat.step(), "summary");
    assert_eq!(chat.submit()["department"], "人事部");
}

#[test]
fn change_an_answer_returns_to_the_summary() {
    let mut chat = Chat::report(Lang::ZhCn, &[]);
    chat.answer_until_summary("printer");
    chat.press("change");
    assert!(chat.conv.picking);
    let picker = chat.buttons();
    assert_eq!(picker.first().map(String::as_str), Some("change:category"));
    assert_eq!(picker.last().map(String::as_str), Some("change:_back"));
    assert!(!picker.iter().any(|id| id.contains("network_scope")));
    chat.press("site");
    assert_eq!(chat.step(), "site");
    assert!(chat.said().contains("（当前：上海总部）"));
    chat.text("苏州分公司");
    // Straight back: building, room … are answered already.
    assert_eq!(chat.step(), "summary");
    assert!(chat.said().contains("• 地点：苏州分公司"));
    assert_eq!(chat.submit()["site"], "苏州分公司");
}

#[test]
fn changing_the_category_asks_the_new_follow_ups_and_forgets_the_old() {
    let mut chat = Chat::report(Lang::En, &[]);
    chat.answer_until_summary("printer");
    chat.press("change");
    chat.press("category");
    chat.press("network");
    assert_eq!(chat.step(), "network_scope");
    chat.press("whole_floor");
    assert_eq!(chat.step(), "summary");
    assert!(!chat.said().contains("Printer problem"));
    let answers = chat.submit();
    assert_eq!(answers["category"], "network");
    assert!(!answers.contains_key("printer_symptom"));
    assert!(!answers.contains_key("device_model"));
    assert_eq!(
        answers[DETAILS],
        "Network scope: Whole floor / many PCs\nStarted: Within the hour"
    );

    // Changing to the same category passes its answered follow-ups.
    let mut chat = Chat::report(Lang::En, &[]);
    chat.answer_until_summary("printer");
    chat.press("change");
    chat.press("category");
    chat.press("printer");
    assert_eq!(chat.step(), "summary");
    assert_eq!(chat.submit()["printer_symptom"], "paper_jam");
}

#[test]
fn change_picker_typed_answers_back_and_refusals() {
    let mut chat = Chat::report(Lang::ZhCn, &[]);
    chat.answer_until_summary("printer");
    chat.text("修改");
    assert!(chat.conv.picking);
    // Typed number: the 4th answer on this path is the site.
    chat.text("4");
    assert_eq!(chat.step(), "site");
    chat.text("北京");
    assert_eq!(chat.step(), "summary");
    // Typed label.
    chat.text("修改");
    chat.text("房间 / 工位");
    assert_eq!(chat.step(), "room");
    chat.cmd("back", ""); // back out of the change: to the summary
    assert_eq!(chat.step(), "summary");
    assert!(!chat.conv.picking);
    // The picker's own back button and /back.
    chat.press("change");
    chat.press("_back");
    assert_eq!(chat.step(), "summary");
    assert!(!chat.conv.picking);
    chat.press("change");
    chat.cmd("back", "");
    assert!(!chat.conv.picking);
    assert_eq!(chat.step(), "summary");
    // Refusals while picking keep picking.
    chat.press("change");
    let before = chat.conv.clone();
    for bad in [
        Incoming::Text("99".into()),
        Incoming::Text("不存在".into()),
        Incoming::Choice("change:network_scope".into()), // not on this path
        Incoming::Choice("summary:submit".into()),       // the summary's own button
        Incoming::Photo("f".into()),
    ] {
        assert_eq!(chat.send(bad.clone()), Outcome::Continue, "{bad:?}");
        assert_eq!(chat.conv, before, "{bad:?}");
        assert!(chat.said().contains("要修改哪一项？"), "{bad:?}");
    }
}

#[test]
fn cancel_by_command_button_or_typed_command() {
    let mut chat = Chat::report(Lang::ZhCn, &[]);
    chat.press("printer");
    assert_eq!(chat.cmd("cancel", ""), Outcome::Cancelled);
    assert!(chat.conv.is_finished());
    assert!(chat.said().contains("已取消"));
    // A finished conversation only says so.
    assert_eq!(chat.text("2"), Outcome::Cancelled);
    assert_eq!(chat.said(), "这次对话已经结束。");

    let mut chat = Chat::report(Lang::En, &[]);
    chat.answer_until_summary("desktop");
    assert_eq!(chat.press("cancel"), Outcome::Cancelled);
    assert!(chat.conv.is_finished());

    let mut chat = Chat::report(Lang::En, &[]);
    assert_eq!(chat.text(" /Cancel@baoxiu_bot "), Outcome::Cancelled);
}

#[test]
fn back_goes_to_the_previous_question_and_keeps_answers() {
    let mut chat = Chat::report(Lang::ZhCn, &[]);
    let before = chat.conv.clone();
    assert_eq!(chat.cmd("back", ""), Outcome::Continue);
    assert!(chat.said().contains("已经是第一步了"));
    assert_eq!(chat.conv, before);

    chat.press("printer");
    chat.text("HP");
    chat.press("offline");
    chat.text("上海总部");
    assert_eq!(chat.step(), "building");
    chat.text("/back");
    assert_eq!(chat.step(), "site");
    assert_eq!(chat.conv.answers()["site"], "上海总部");
    chat.cmd("back", "");
    chat.cmd("back", "");
    chat.cmd("back", "");
    assert_eq!(chat.step(), "category");
    // A different branch this time: the printer answers are dropped at the summary.
    chat.press("desktop");
    assert_eq!(chat.step(), "desktop_symptom");
    chat.answer_until_summary("desktop");
    let answers = chat.submit();
    assert!(!answers.contains_key("printer_symptom"));
    assert!(!answers.contains_key("device_model"));
    assert_eq!(answers["desktop_symptom"], "slow");
}

#[test]
fn back_from_the_summary_and_forward_again() {
    let mut chat = Chat::report(Lang::En, &[]);
    chat.answer_until_summary("network");
    chat.cmd("back", "");
    assert_eq!(chat.step(), "phone");
    chat.text("021-5555-0100");
    assert_eq!(chat.step(), "summary");
    assert_eq!(chat.submit()["phone"], "021-5555-0100");
}

#[test]
fn a_half_done_change_never_shows_an_incomplete_summary() {
    // Change category to network, then back out before answering its follow-up.
    let mut chat = Chat::report(Lang::En, &[]);
    chat.answer_until_summary("printer");
    chat.press("change");
    chat.press("category");
    chat.press("network");
    assert_eq!(chat.step(), "network_scope");
    chat.cmd("back", "");
    assert_eq!(chat.step(), "category");
    chat.cmd("back", "");
    // The summary would lack the network scope: it is asked instead, nothing is lost.
    assert_eq!(chat.step(), "network_scope");
    chat.press("one_pc");
    assert_eq!(chat.step(), "summary");
    let answers = chat.submit();
    assert_eq!(answers["site"], "上海总部");
    assert_eq!(answers["network_scope"], "one_pc");
}

#[test]
fn typed_category_answers_in_chinese_and_english() {
    for typed in [
        "2",
        "２",
        " 2。",
        "打印机",
        "打印",
        "printer",
        "Printer",
        "PRINTER",
        "打印机与外设",
        "Printer & peripherals",
    ] {
        for lang in [Lang::ZhCn, Lang::En] {
            let mut chat = Chat::report(lang, &[]);
            chat.text(typed);
            assert_eq!(
                chat.conv.answers().get("category").map(String::as_str),
                Some("printer"),
                "{typed}"
            );
            assert_eq!(chat.step(), "printer_model");
        }
    }
    for (typed, id) in [
        ("1", "desktop"),
        ("电脑", "desktop"),
        ("Laptop", "desktop"),
        ("3", "network"),
        ("wifi", "network"),
        ("网络", "network"),
        ("服务器", "server"),
        ("DB", "database"),
        ("6", "application"),
        ("OA", "application"),
    ] {
        let mut chat = Chat::report(Lang::ZhCn, &[]);
        chat.text(typed);
        assert_eq!(
            chat.conv.answers().get("category").map(String::as_str),
            Some(id),
            "{typed}"
        );
    }
    for typed in ["0", "7", "-1", "打印机坏了吗", "1 2"] {
        let mut chat = Chat::report(Lang::ZhCn, &[]);
        chat.text(typed);
        assert_eq!(chat.step(), "category", "{typed}");
        assert!(chat.said().contains("没有这个选项"), "{typed}");
    }
}

#[test]
fn people_accepts_numbers_words_and_choices() {
    for (typed, value) in [
        ("1", "1"),
        ("12", "12"),
        ("１２", "12"),
        ("12 人", "12"),
        ("12 people", "12"),
        ("只有我", "one"),
        ("everyone", "everyone"),
        ("几个人", "several"),
    ] {
        let mut chat = Chat::report(Lang::ZhCn, &[]);
        chat.press("desktop");
        while chat.step() != "people" {
            chat.answer("desktop");
        }
        chat.text(typed);
        assert_eq!(chat.step(), "urgency", "{typed}");
        assert_eq!(chat.conv.answers()["people"], value, "{typed}");
    }
    for bad in ["0", "1000001", "9999999999", "two", "3.5"] {
        let mut chat = Chat::report(Lang::En, &[]);
        chat.press("desktop");
        while chat.step() != "people" {
            chat.answer("desktop");
        }
        chat.text(bad);
        assert_eq!(chat.step(), "people", "{bad}");
        assert!(
            chat.said().contains("from 1 to 1000000"),
            "{bad}: {}",
            chat.said()
        );
    }
}

#[test]
fn photos_are_recorded_at_the_description() {
    let mut chat = Chat::report(Lang::ZhCn, &[]);
    chat.press("printer");
    while chat.step() != "description" {
        chat.answer("printer");
    }
    assert_eq!(
        chat.send(Incoming::Photo("tg-file-1".into())),
        Outcome::Continue
    );
    assert!(chat.said().contains("共 1 张"));
    assert_eq!(
        chat.step(),
        "description",
        "a photo alone is not a description"
    );
    chat.send(Incoming::Photo("tg-file-2".into()));
    chat.text("屏幕上显示错误 0x50");
    chat.answer_until_summary("printer");
    assert!(chat.said().contains("• 照片：2 张"));
    let answers = chat.submit();
    assert_eq!(answers[PHOTOS], "tg-file-1\ntg-file-2");
    let (intake, ..) = parse_report(&answers);
    assert_eq!(intake.photos, ["tg-file-1", "tg-file-2"]);

    // At most ten.
    let mut chat = Chat::report(Lang::En, &[]);
    chat.press("printer");
    while chat.step() != "description" {
        chat.answer("printer");
    }
    for k in 0..10 {
        chat.send(Incoming::Photo(format!("f{k}")));
    }
    let before = chat.conv.clone();
    chat.send(Incoming::Photo("f10".into()));
    assert!(chat.said().contains("At most 10 photos"));
    assert_eq!(chat.conv, before);
    // A bad reference is refused.
    for bad in ["", "a\nb", &"x".repeat(600)] {
        chat.send(Incoming::Photo(bad.into()));
        assert_eq!(chat.conv, before);
    }
}

#[test]
fn a_shared_contact_answers_the_phone_question() {
    let mut chat = Chat::report(Lang::ZhCn, &[]);
    while chat.step() != "phone" {
        chat.answer("network");
    }
    chat.send(Incoming::Contact("+86 138 0013 8000".into()));
    assert_eq!(chat.step(), "summary");
    assert_eq!(chat.conv.answers()["phone"], "+86 138 0013 8000");
}

#[test]
fn the_location_is_offered_as_a_form_and_accepted_whole() {
    let mut chat = Chat::report(Lang::En, &[]);
    chat.press("network");
    chat.press("one_pc");
    assert_eq!(chat.step(), "site");
    // The form first, then the first field's question for platforms without forms.
    let Outgoing::Form { title, fields } = &chat.last[0] else {
        panic!("expected a form first: {:#?}", chat.last);
    };
    assert_eq!(title, "Where is the fault?");
    let ids: Vec<(&str, bool)> = fields.iter().map(|f| (f.id.as_str(), f.required)).collect();
    assert_eq!(ids, [("site", true), ("building", false), ("room", false)]);
    assert!(matches!(&chat.last[1], Outgoing::Text(t) if t.starts_with("Which site")));

    let before = chat.conv.clone();
    let bad = map(&[("site", ""), ("building", "A"), ("room", &"x".repeat(101))]);
    chat.send(Incoming::Form(bad));
    assert_eq!(chat.conv, before);
    let said = chat.said();
    assert!(said.contains("• Site: That was empty."), "{said}");
    assert!(
        said.contains("• Room / desk: That is too long: 101 characters; at most 100 here."),
        "{said}"
    );

    chat.send(Incoming::Form(map(&[
        ("site", "HQ"),
        ("building", " "),
        ("room", "3F-302"),
    ])));
    assert_eq!(chat.step(), "device");
    assert_eq!(chat.conv.answers()["site"], "HQ");
    assert_eq!(chat.conv.answers()["building"], "");
    assert_eq!(chat.conv.answers()["room"], "3F-302");
    // /back walks the form's fields one by one.
    chat.cmd("back", "");
    assert_eq!(chat.step(), "room");
    chat.cmd("back", "");
    assert_eq!(chat.step(), "building");

    // A form where none is asked is refused.
    chat.text("B");
    // The room is asked only while missing (a person in the staff directory, or a QR
    // sticker, has it filled in): the one already given is kept.
    assert_eq!(chat.step(), "device");
    assert_eq!(chat.conv.answers()["room"], "3F-302");
    let before = chat.conv.clone();
    chat.send(Incoming::Form(map(&[("site", "HQ")])));
    assert_eq!(chat.conv, before);
    assert!(chat.said().contains("The form could not be accepted"));
}

#[test]
fn commands_inside_the_flow() {
    let mut chat = Chat::report(Lang::ZhCn, &[]);
    chat.press("printer");
    let before = chat.conv.clone();

    assert_eq!(chat.cmd("help", ""), Outcome::Continue);
    assert!(
        chat.said().starts_with("请输入品牌和型号"),
        "{}",
        chat.said()
    );
    assert!(chat.said().contains("/back 返回上一步"));
    assert!(chat.said().contains("/complain"), "every command is listed");
    assert_eq!(chat.buttons(), ["printer_model:skip"]);
    assert_eq!(chat.conv, before);

    let command = |name: &str, args: &str| Outcome::Command(name.into(), args.into());
    assert_eq!(chat.cmd("status", ""), command("status", ""));
    assert!(chat.last.is_empty());
    assert_eq!(chat.text("/status"), command("status", ""));
    assert_eq!(chat.cmd("START", ""), command("start", ""));
    // The service's commands are commands at every step, with their arguments.
    assert_eq!(chat.text("/report"), command("report", ""));
    assert_eq!(
        chat.text("/job BX-2026-000001"),
        command("job", "BX-2026-000001")
    );
    assert_eq!(chat.text("/link  4F2K9Q "), command("link", "4F2K9Q"));
    assert_eq!(chat.conv, before);

    assert_eq!(chat.cmd("frobnicate", ""), Outcome::Continue);
    assert!(chat.said().contains("不认识命令 /frobnicate"));
    assert_eq!(chat.conv, before);

    assert_eq!(chat.cmd("lang", "fr"), Outcome::Continue);
    assert!(chat.said().contains("用法：/lang zh"));
    assert_eq!(chat.conv, before);

    assert_eq!(chat.cmd("lang", "en"), command("lang", "en"));
    assert_eq!(chat.conv.lang(), Lang::En);
    assert!(chat.said().contains("Switched to English."));
    assert!(chat.said().contains("Which printer or device is it?"));
    assert_eq!(chat.step(), "printer_model");
    assert_eq!(chat.text("/lang 中文"), command("lang", "zh-CN"));
    assert_eq!(chat.conv.lang(), Lang::ZhCn);
    assert_eq!(chat.cmd("/help@baoxiu_bot", ""), Outcome::Continue);
    assert!(chat.said().contains("可用命令"));

    // Text that merely starts with a slash is an answer.
    while chat.step() != "description" {
        chat.answer("printer");
    }
    chat.text("/var is full on the file server");
    assert_eq!(chat.step(), "started");
    assert_eq!(
        chat.conv.answers()["description"],
        "/var is full on the file server"
    );
}

#[test]
fn help_and_lang_work_at_the_summary() {
    let mut chat = Chat::report(Lang::ZhCn, &[]);
    chat.answer_until_summary("database");
    chat.cmd("help", "");
    assert!(chat.said().starts_with("信息无误请点“提交”"));
    chat.cmd("lang", "en");
    assert!(chat.said().contains("Please check your report:"));
    assert!(chat.said().contains("• Category: Database"));
    assert_eq!(
        chat.buttons(),
        ["summary:submit", "summary:change", "summary:cancel"]
    );
}

#[test]
fn conversation_round_trips_through_json_and_stays_small() {
    let mut chat = Chat::report(Lang::ZhCn, &[("name", "王伟")]);
    chat.press("printer");
    while chat.step() != "started" {
        chat.answer("printer");
    }
    let json = serde_json::to_string(&chat.conv).unwrap();
    assert!(json.len() < 1024, "{} bytes: {json}", json.len());
    let back: Conversation = serde_json::from_str(&json).unwrap();
    assert_eq!(back, chat.conv);
    // Resumes at the same question after a "restart".
    let mut resumed = Chat {
        conv: back,
        last: Vec::new(),
    };
    assert_eq!(FLOWS.current(&resumed.conv), FLOWS.current(&chat.conv));
    assert!(text_of(&FLOWS.current(&resumed.conv)[0]).contains("什么时候开始"));
    resumed.press_from(&chat, "earlier_today");
    assert_eq!(resumed.step(), "people");
}

impl Chat {
    /// Presses a button shown to `other` (the same conversation, restored elsewhere).
    fn press_from(&mut self, other: &Chat, option: &str) {
        self.last = other.last.clone();
        self.press(option);
    }
}

#[test]
fn a_conversation_stored_before_the_flows_changed() {
    let (conv, _) = FLOWS.start("fault_report", Lang::En, &map(&[])).unwrap();
    let mut json = serde_json::to_value(&conv).unwrap();
    json["step"] = "removed_step".into();
    json["answers"] = serde_json::json!({"category": "printer", "site": "HQ"});
    let mut old: Conversation = serde_json::from_value(json.clone()).unwrap();
    assert!(!FLOWS.is_valid(&old));
    let step = FLOWS.step(&mut old, Incoming::Text("anything".into()));
    assert_eq!(step.outcome, Outcome::Continue);
    assert!(FLOWS.is_valid(&old));
    assert_eq!(old.step(), "category");
    assert!(text_of(&step.replies[0]).contains("start again from the top"));
    assert_eq!(old.answers()["site"], "HQ");

    json["flow"] = "removed_flow".into();
    let mut gone: Conversation = serde_json::from_value(json).unwrap();
    let step = FLOWS.step(&mut gone, Incoming::Text("hi".into()));
    assert_eq!(step.outcome, Outcome::Cancelled);
    assert!(gone.is_finished());
}

#[test]
fn unknown_flow_cannot_start() {
    assert_eq!(
        FLOWS
            .start("no_such_flow", Lang::ZhCn, &map(&[]))
            .unwrap_err(),
        FlowError::UnknownFlow("no_such_flow".into())
    );
}
