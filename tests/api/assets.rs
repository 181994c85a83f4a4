//! The asset register (issue 20): CSV import and export, REST, a report started from a QR
//! sticker (device, model and location filled in, questions skipped — at least four
//! answers fewer than typing them), typed tags and IPs matched to the register, each
//! device's history, repeat faults told to the managers once, the asset report and the
//! sticker sheets.

use baoxiu::flow::Incoming;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, MANAGER, TestApp, spawn_app, token};
use crate::on_both_backends;
use crate::people::{newest, upload, walk, web};

on_both_backends!(
    a_qr_report_fills_in_the_device_and_is_shorter_than_typing_it,
    an_unknown_qr_tag_is_said_plainly_and_the_report_goes_on,
    import_export_round_trip_and_a_bad_row_changes_nothing,
    typed_tags_and_ips_are_matched_to_the_register,
    repeat_faults_tell_the_managers_once_and_show_in_the_history,
    reports_labels_and_roles,
    the_web_sticker_link_opens_the_report_for_the_device,
);

/// Part of plan 000's list: Chinese headers, a full-width tag, a formula in the notes.
const ASSETS: &str = "资产编号,类型,品牌型号,序列号,IP地址,MAC地址,地点,楼宇,房间,使用人,部门,购买日期,保修截止,状态,备注\n\
    PRN-0042,printer,HP M404,CNB1234,10.1.3.20,00-1A-2B-3C-4D-5E,总部,A座,301,,财务部,2019/3/1,2026-12-20,在用,\n\
    ｐｃ－０００１,PC,Lenovo M720,SN0001,10.1.2.3,,苏州分公司,,2F,王芳,人事部,2024-05-01,2027-04-30,在用,=HYPERLINK(\"x\")\n\
    LAP-0007,laptop,ThinkPad X1,SN0007,,,总部,B座,502,李娜,IT部,2023-01-10,2026-01-09,借出,\n";

async fn import(app: &TestApp) {
    let (status, body) = upload(
        app,
        MANAGER,
        "/api/assets/import",
        ASSETS.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], 3);
}

async fn a_qr_report_fills_in_the_device_and_is_shorter_than_typing_it(backend: Backend) {
    let app = spawn_app(backend).await;
    import(&app).await;

    // Typed: every question, the tag typed in full.
    let typed = web("typed-browser", "周强");
    let (typed_steps, _) = walk(
        &app,
        &typed,
        Incoming::Command("start".into(), String::new()),
    )
    .await;
    assert!(typed_steps.contains(&"device".to_owned()));

    // From the sticker: /start asset_PRN-0042 (the Telegram deep link's start parameter).
    let scanned = web("qr-browser", "吴刚");
    let (qr_steps, text) = walk(
        &app,
        &scanned,
        Incoming::Command("start".into(), "asset_PRN-0042".into()),
    )
    .await;
    assert!(
        text.contains("PRN-0042") && text.contains("HP M404"),
        "{text}"
    );
    for skipped in ["device", "printer_model", "site", "building", "room"] {
        assert!(
            !qr_steps.contains(&skipped.to_owned()),
            "asked {skipped}: {qr_steps:?}"
        );
    }
    let t = newest(&app).await;
    let device = &t.intake.device;
    assert_eq!(
        device.asset_tag.as_ref().map(|t| t.as_str()),
        Some("PRN-0042")
    );
    assert_eq!(device.model.as_ref().map(|m| m.as_str()), Some("HP M404"));
    assert_eq!(
        device.ip.map(|ip| ip.to_string()).as_deref(),
        Some("10.1.3.20")
    );
    assert_eq!(t.intake.location.site.as_str(), "总部");
    assert_eq!(
        t.intake.location.room.as_ref().map(|r| r.as_str()),
        Some("301")
    );

    let (typed_n, qr_n) = (typed_steps.len(), qr_steps.len());
    println!("answers: typed {typed_n}, from the QR sticker {qr_n}");
    assert!(
        typed_n >= qr_n + 4,
        "typed {typed_steps:?}\nQR {qr_steps:?}"
    );
}

async fn an_unknown_qr_tag_is_said_plainly_and_the_report_goes_on(backend: Backend) {
    let app = spawn_app(backend).await;
    import(&app).await;
    let who = web("lost-browser", "郑华");
    let (steps, text) = walk(
        &app,
        &who,
        Incoming::Command("start".into(), "asset_NOPE-9".into()),
    )
    .await;
    assert!(
        text.contains("NOPE-9") && text.contains("不在设备登记表中"),
        "{text}"
    );
    assert!(
        steps.contains(&"device".to_owned()),
        "the device is asked after all: {steps:?}"
    );
    // The walker typed PRN-0042 when asked: the report has that, not the unknown tag.
    let t = newest(&app).await;
    assert_eq!(
        t.intake.device.asset_tag.as_ref().map(|t| t.as_str()),
        Some("PRN-0042")
    );
}

async fn import_export_round_trip_and_a_bad_row_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    import(&app).await;

    let r = app.get(MANAGER, "/api/assets?format=csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    let exported = r.bytes().await.expect("body").to_vec();
    assert!(exported.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a BOM");
    let text = String::from_utf8(exported.clone()).expect("utf-8");
    assert!(text.contains("PC-0001"), "tags are normalised: {text}");
    assert!(text.contains("'=HYPERLINK"), "formula-safe: {text}");
    assert!(text.contains("00:1A:2B:3C:4D:5E"));
    assert!(text.contains("2019-03-01"));

    // Exported, it imports again as updates of the same devices.
    let (status, body) = upload(&app, MANAGER, "/api/assets/import", exported).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["new"].clone(), body["updated"].clone()),
        (json!(0), json!(3))
    );

    // GBK with one bad row: refused with its line, nothing changes.
    let bad = "资产编号,类型,IP地址\nPC-0100,pc,10.0.0.1\nPC-0101,pc,10.0.0.300\n";
    let (bytes, _, _) = encoding_rs::GBK.encode(bad);
    let (status, body) = upload(&app, MANAGER, "/api/assets/import", bytes.into_owned()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("line 3: ip `10.0.0.300`"),
        "{body}"
    );
    assert_eq!(
        app.count("assets").await,
        3,
        "PC-0100 was not half-imported"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM register_events WHERE register = 'assets'")
            .await,
        2,
        "two imports, two events"
    );

    // One asset through the API, checked as a row is.
    let r = app
        .post(
            MANAGER,
            "/api/assets",
            &json!({"tag": "sw 01", "kind": "switch", "ip": "１０．９．９．１"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let a: Value = r.json().await.expect("json");
    assert_eq!(
        (a["tag"].clone(), a["ip"].clone()),
        (json!("SW01"), json!("10.9.9.1"))
    );
    let r = app
        .post(
            MANAGER,
            "/api/assets",
            &json!({"tag": "SW01", "kind": "switch", "status": "lost"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            MANAGER,
            "/api/assets",
            &json!({"tag": "SW01", "colour": "red"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            MANAGER,
            "/api/assets",
            &json!({"tag": "SW01", "kind": "switch", "status": "spare"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "an update");
    let detail: Value = app
        .get(MANAGER, "/api/assets/sw01")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(detail["status"], "spare");
    let changes: Vec<&str> = detail["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["action"].as_str())
        .collect();
    assert_eq!(changes, ["update", "create"]);
}

async fn typed_tags_and_ips_are_matched_to_the_register(backend: Backend) {
    let app = spawn_app(backend).await;
    import(&app).await;
    let base = json!({
        "department": "财务部", "phone": "13800138000", "site": "总部",
        "category": "printer", "description": "打印机卡纸"
    });
    let with = |extra: Value| {
        let mut b = base.clone();
        b.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        b
    };
    // A tag typed with full-width characters and spaces.
    let number = app
        .report("li.na", &with(json!({"asset_tag": "ｐｒｎ－００４２ "})))
        .await;
    let t = app.detail(&number).await;
    assert_eq!(t["ticket"]["intake"]["device"]["asset_tag"], "PRN-0042");
    assert_eq!(t["ticket"]["intake"]["device"]["model"], "HP M404");
    assert_eq!(t["ticket"]["intake"]["device"]["ip"], "10.1.3.20");
    // Only the IP: the tag and model are found.
    let number = app.report("li.na", &with(json!({"ip": "10.1.2.3"}))).await;
    let t = app.detail(&number).await;
    assert_eq!(t["ticket"]["intake"]["device"]["asset_tag"], "PC-0001");
    assert_eq!(t["ticket"]["intake"]["device"]["model"], "Lenovo M720");
    // What the reporter said is kept when the register has nothing.
    let number = app
        .report(
            "li.na",
            &with(json!({"asset_tag": "PRN-9999", "device_model": "Canon"})),
        )
        .await;
    let t = app.detail(&number).await;
    assert_eq!(t["ticket"]["intake"]["device"]["asset_tag"], "PRN-9999");
    assert_eq!(t["ticket"]["intake"]["device"]["model"], "Canon");
}

async fn repeat_faults_tell_the_managers_once_and_show_in_the_history(backend: Backend) {
    let app = spawn_app(backend).await;
    import(&app).await;
    let fault = json!({
        "department": "财务部", "phone": "13800138000", "site": "总部",
        "category": "printer", "description": "又卡纸了", "asset_tag": "PRN-0042"
    });
    let told = || app.scalar("SELECT COUNT(*) FROM outbox WHERE event = 'asset_repeat_faults'");
    let mut numbers = Vec::new();
    for _ in 0..2 {
        numbers.push(app.report("wang.fang", &fault).await);
    }
    assert_eq!(told().await, 0, "two faults are not a pattern");
    numbers.push(app.report("wang.fang", &fault).await);
    assert_eq!(
        told().await,
        1,
        "the third in 90 days tells the manager (mia)"
    );
    numbers.push(app.report("wang.fang", &fault).await);
    assert_eq!(told().await, 1, "once");
    let mia = app
        .desk
        .engineer_by_handle("mia")
        .await
        .expect("lookup")
        .expect("mia")
        .id
        .0;
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM outbox WHERE event = 'asset_repeat_faults' AND recipient_id = {mia}"
        ))
        .await,
        1
    );

    // A loaner lent on the last one shows in the history.
    let last = numbers.last().expect("a ticket").clone();
    app.act(&token("alice"), &last, "accept", json!({}), StatusCode::OK)
        .await;
    app.act(
        &token("alice"),
        &last,
        "issue_loaner",
        json!({"note": "备用打印机 PRN-S01"}),
        StatusCode::OK,
    )
    .await;

    let detail: Value = app
        .get(&token("alice"), "/api/assets/prn-0042")
        .await
        .json()
        .await
        .expect("json");
    assert!(detail["replacement_advised_at"].is_string(), "{detail}");
    assert_eq!(detail["faults_90_days"], 4);
    let history = detail["history"].as_array().expect("history");
    assert_eq!(history.len(), 4);
    assert_eq!(history[0]["ticket"], json!(last), "newest first");
    assert_eq!(history[0]["loaner"], "备用打印机 PRN-S01");
    assert_eq!(detail["changes"][0]["action"], "replacement_advised");

    // The job card shows the device's three faults before this one.
    let alice = baoxiu::conversation::Person {
        channel: "console-engineer".into(),
        external_id: "alice".into(),
        name: "alice".into(),
        language: Some("zh-CN".into()),
    };
    let card = crate::people::said(
        &app.chat
            .handle(&alice, Incoming::Command("job".into(), last.clone()))
            .await
            .expect("job card"),
    );
    assert!(card.contains("PRN-0042 最近的报修"), "{card}");
    for earlier in &numbers[..3] {
        assert!(
            card.contains(&format!("· {earlier}")),
            "{earlier} missing: {card}"
        );
    }
    assert!(
        !card.contains(&format!("· {last}")),
        "not the job itself: {card}"
    );

    let report: Vec<Value> = app
        .get(MANAGER, "/api/assets/report")
        .await
        .json()
        .await
        .expect("json");
    let prn = report
        .iter()
        .find(|l| l["tag"] == "PRN-0042")
        .expect("in the report");
    assert_eq!(prn["advice"], "replace");
    assert_eq!(prn["faults_90_days"], 4);
}

async fn reports_labels_and_roles(backend: Backend) {
    let app = spawn_app(backend).await;
    import(&app).await;
    // The test clock is 2026-11-23: PRN-0042's warranty ends in 27 days, LAP-0007's has ended.
    let soon: Vec<Value> = app
        .get(MANAGER, "/api/assets/report?warranty_within=30")
        .await
        .json()
        .await
        .expect("json");
    let tags: Vec<&str> = soon.iter().filter_map(|l| l["tag"].as_str()).collect();
    assert_eq!(
        tags,
        ["LAP-0007", "PRN-0042"],
        "soonest first, ended ones too"
    );
    assert_eq!(soon[1]["warranty_days_left"], 27);
    assert_eq!(soon[0]["advice"], "out_of_warranty");
    assert_eq!(soon[1]["age_years"], 7);

    let r = app.get(MANAGER, "/api/assets/labels?site=总部").await;
    assert_eq!(r.status(), StatusCode::OK);
    let svg = r.text().await.expect("svg");
    assert!(svg.contains("PRN-0042") && svg.contains("LAP-0007") && !svg.contains("PC-0001"));
    assert!(svg.contains("扫码报修"), "the Chinese caption");
    let r = app
        .get(MANAGER, "/api/assets/labels?format=pdf&sheet=a4-5x13")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.expect("pdf").starts_with(b"%PDF-1.4"));
    let r = app.get(MANAGER, "/api/assets/labels?sheet=letter").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let detail: Value = app
        .get(MANAGER, "/api/assets/PRN-0042")
        .await
        .json()
        .await
        .expect("json");
    assert!(
        detail["report_link"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/r/PRN-0042"),
        "{detail}"
    );

    // Engineers read; reporters see nothing; only managers change.
    assert_eq!(
        app.get(&token("dave"), "/api/assets?kind=pc")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&token("li.na"), "/api/assets").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get(&token("li.na"), "/api/assets/PRN-0042")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let (status, _) = upload(
        &app,
        &token("dave"),
        "/api/assets/import",
        ASSETS.as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get(MANAGER, "/api/assets/NOPE-1").await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn the_web_sticker_link_opens_the_report_for_the_device(backend: Backend) {
    let app = spawn_app(backend).await;
    import(&app).await;
    let link: Value = app
        .get(MANAGER, "/api/assets/PRN-0042")
        .await
        .json()
        .await
        .expect("json");
    let path = link["report_link"]
        .as_str()
        .expect("link")
        .rsplit_once("/r/")
        .expect("a /r/ link")
        .1
        .to_owned();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = browser
        .get(format!("{}/r/{path}", app.public))
        .send()
        .await
        .expect("get");
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(r.headers()["location"], "/?asset=PRN-0042");
    let r = browser
        .get(format!("{}/r/%3Cscript%3E", app.public))
        .send()
        .await
        .expect("get");
    assert_eq!(
        r.headers()["location"],
        "/",
        "anything else opens the plain page"
    );

    // The page passes the tag on: the report starts with the device recognised.
    let r = browser
        .post(format!("{}/chat/hello", app.public))
        .json(&json!({"name": "冯晓", "lang": "zh-CN", "asset": "PRN-0042"}))
        .send()
        .await
        .expect("hello");
    assert_eq!(r.status(), StatusCode::OK);
    let said = r.text().await.expect("body");
    assert!(
        said.contains("已识别设备") && said.contains("HP M404"),
        "{said}"
    );
}
