//! The console's administration pages over plain HTTP (issue 21): engineers, reporters,
//! assets, articles, complaints, inspections and the setup in effect — managers only,
//! every form with its token, every change the same desk call the REST API makes, and
//! bad input answered with a sentence that changes nothing.

use baoxiu::desk::Recipient;
use baoxiu::domain::ReporterId;
use baoxiu::domain::ticket::Caller;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::console::{Visitor, passwords};
use crate::helpers::{Backend, MANAGER, TestApp, printer_fault, spawn_app, token};
use crate::on_both_backends;

on_both_backends!(
    admin_pages_are_for_managers_only,
    admin_forms_without_their_token_change_nothing,
    managers_edit_an_engineer,
    managers_deactivate_an_engineer_who_left,
    managers_find_reporters_and_set_vip,
    managers_invite_reporters_and_erase_them_after_a_confirmation,
    the_setup_page_shows_groups_calendar_and_rota,
    managers_answer_complaints,
    managers_edit_publish_and_retire_articles,
    article_editors_write_new_articles_in_the_console,
    managers_add_edit_and_change_the_status_of_assets,
    the_asset_list_filters_and_prints_its_stickers,
    managers_create_and_change_inspection_plans_and_read_runs,
);

/// Every administration page.
const PAGES: [&str; 8] = [
    "/desk/admin",
    "/desk/admin/reporters",
    "/desk/admin/assets",
    "/desk/admin/articles",
    "/desk/admin/complaints",
    "/desk/admin/inspections",
    "/desk/admin/setup",
    "/desk/admin/engineers/1",
];

fn desk() -> Caller {
    Caller::Desk {
        name: "test".into(),
    }
}

async fn json_of(r: reqwest::Response, status: StatusCode) -> Value {
    let got = r.status();
    let body = r.text().await.unwrap_or_default();
    assert_eq!(got, status, "{body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// A reporter known by phone (as the desk registers one), returning their id.
async fn phone_reporter(app: &TestApp, name: &str, phone: &str) -> i64 {
    let r = app
        .post(
            MANAGER,
            "/api/reporters",
            &json!({ "name": name, "phone": phone }),
        )
        .await;
    json_of(r, StatusCode::OK).await["id"].as_i64().expect("id")
}

/// An article as the REST API shows it.
async fn article_json(app: &TestApp, id: i64) -> Value {
    json_of(
        app.get(MANAGER, &format!("/api/articles/{id}")).await,
        StatusCode::OK,
    )
    .await
}

async fn admin_pages_are_for_managers_only(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let mut mia = Visitor::sign_in(&app, "mia").await;
    for path in PAGES {
        let page = mia.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert!(
            page.body.contains("/desk/admin/setup"),
            "{path} has the admin navigation"
        );
    }
    let mut alice = Visitor::sign_in(&app, "alice").await;
    for path in PAGES {
        assert_eq!(
            alice.get(path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let id = phone_reporter(&app, "王芳", "13900000001").await;
    let csrf = alice.token().await;
    let r = alice
        .post(
            &format!("/desk/admin/reporters/{id}/vip"),
            &[("csrf", &csrf), ("on", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let reporter = app
        .desk
        .reporter(&desk(), ReporterId(id))
        .await
        .expect("reporter");
    assert!(!reporter.vip, "an engineer's post changed nothing");
    // Signed out: the sign-in pointer, not a page.
    let mut nobody = Visitor::new(&app);
    assert_eq!(
        nobody.get("/desk/admin/setup").await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn admin_forms_without_their_token_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let id = phone_reporter(&app, "王芳", "13900000001").await;
    let dave = app
        .desk
        .engineer_by_handle("dave")
        .await
        .expect("load")
        .expect("dave");
    let mut mia = Visitor::sign_in(&app, "mia").await;
    for (path, form) in [
        (
            format!("/desk/admin/reporters/{id}/vip"),
            vec![("on", "true")],
        ),
        (
            format!("/desk/admin/reporters/{id}/erase"),
            vec![("confirm", "yes")],
        ),
        (
            format!("/desk/admin/engineers/{}/edit", dave.id.0),
            vec![("group", "printer"), ("tier", "expert")],
        ),
    ] {
        let r = mia.post(&path, &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        let mut wrong = form.clone();
        wrong.push(("csrf", "not-the-token"));
        assert_eq!(
            mia.post(&path, &wrong).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let reporter = app
        .desk
        .reporter(&desk(), ReporterId(id))
        .await
        .expect("still there");
    assert!(!reporter.vip);
    let after = app
        .desk
        .engineer(dave.id)
        .await
        .expect("load")
        .expect("dave");
    assert_eq!(after, dave);
}

async fn managers_edit_an_engineer(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let dave = app
        .desk
        .engineer_by_handle("dave")
        .await
        .expect("load")
        .expect("dave");
    let mut mia = Visitor::sign_in(&app, "mia").await;
    let path = format!("/desk/admin/engineers/{}", dave.id.0);
    let page = mia.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"wecom\""), "{}", page.body);
    let csrf = page.csrf();
    let edit = format!("{path}/edit");

    // Bad input: nothing changes, and the page says why.
    for (name, group, tier, wecom, says) in [
        ("王大伟", "nowhere", "expert", "DaveW", "nowhere"),
        ("王大伟", "printer", "boss", "DaveW", "boss"),
        ("王大伟", "printer", "expert", &"x".repeat(65)[..], "WeCom"),
        (" ", "printer", "expert", "DaveW", "name"),
    ] {
        let r = mia
            .post(
                &edit,
                &[
                    ("csrf", &csrf),
                    ("name", name),
                    ("group", group),
                    ("tier", tier),
                    ("wecom", wecom),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{group} {tier}");
        assert!(
            r.body.contains("id=\"problem\"") && r.body.contains(says),
            "{}",
            r.body
        );
        let same = app
            .desk
            .engineer(dave.id)
            .await
            .expect("load")
            .expect("dave");
        assert_eq!(same, dave);
        let contact = app
            .desk
            .contact(Recipient::Engineer(dave.id))
            .await
            .expect("contact")
            .expect("dave");
        assert!(!contact.identities.iter().any(|(ch, _)| ch == "wecom"));
    }
    let trail = || app.store.register_events("engineers", "dave", 10);
    assert!(
        trail().await.expect("trail").is_empty(),
        "a refusal records nothing"
    );

    let r = mia
        .post(
            &edit,
            &[
                ("csrf", &csrf),
                ("name", "王大伟"),
                ("group", "printer"),
                ("tier", "expert"),
                ("wecom", "DaveWang"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let back = r.location.clone().unwrap_or_else(|| path.clone());
    // The REST API sees the change.
    let list = json_of(app.get(MANAGER, "/api/engineers").await, StatusCode::OK).await;
    let d = list
        .as_array()
        .expect("list")
        .iter()
        .find(|e| e["handle"] == "dave")
        .expect("dave")
        .clone();
    assert_eq!(
        (d["name"].as_str(), d["group"].as_str(), d["tier"].as_str()),
        (Some("王大伟"), Some("printer"), Some("expert"))
    );
    let contact = app
        .desk
        .contact(Recipient::Engineer(dave.id))
        .await
        .expect("contact")
        .expect("dave");
    assert!(
        contact
            .identities
            .contains(&("wecom".to_owned(), "DaveWang".to_owned()))
    );
    let page = mia.get(&back).await;
    assert!(page.body.contains("value=\"DaveWang\""), "{}", page.body);
    assert!(page.body.contains("id=\"done\""));
    // The change is in the registers' trail, with who made it and what it was.
    let events = trail().await.expect("trail");
    assert_eq!(events.len(), 1, "{events:?}");
    let (e, note) = (&events[0], events[0].note.clone().unwrap_or_default());
    assert_eq!(
        (e.action.as_str(), e.actor_kind.as_str()),
        ("changed", "engineer")
    );
    assert!(
        note.contains("→ 王大伟")
            && note.contains("→ printer")
            && note.contains("→ expert")
            && note.contains("wecom_id: - → DaveWang"),
        "{note}"
    );
}

async fn managers_find_reporters_and_set_vip(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let wang = phone_reporter(&app, "王芳", "13900000001").await;
    let zhao = phone_reporter(&app, "赵磊", "13900000002").await;
    let mut mia = Visitor::sign_in(&app, "mia").await;
    let page = mia.get("/desk/admin/reporters?q=0002").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&format!("data-reporter=\"{zhao}\"")));
    assert!(!page.body.contains(&format!("data-reporter=\"{wang}\"")));
    let page = mia.get("/desk/admin/reporters?q=%E7%8E%8B").await;
    assert!(page.body.contains(&format!("data-reporter=\"{wang}\"")));
    assert!(!page.body.contains(&format!("data-reporter=\"{zhao}\"")));

    let csrf = page.csrf();
    let r = mia
        .post(
            &format!("/desk/admin/reporters/{zhao}/vip"),
            &[("csrf", &csrf), ("on", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = app
        .desk
        .reporter(&desk(), ReporterId(zhao))
        .await
        .expect("zhao");
    assert!(r.vip);
    // The REST API unsets it; the console shows it unset.
    let r = app
        .patch(
            MANAGER,
            &format!("/api/reporters/{zhao}"),
            &json!({ "vip": false }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = mia.get("/desk/admin/reporters?q=0002").await;
    assert!(page.body.contains("Set VIP") || page.body.contains("设为 VIP"));

    // An unknown reporter: a polite page, nothing else.
    let r = mia
        .post(
            "/desk/admin/reporters/999999/vip",
            &[("csrf", &csrf), ("on", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("id=\"problem\""), "{}", r.body);
}

async fn managers_invite_reporters_and_erase_them_after_a_confirmation(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let id = phone_reporter(&app, "王芳", "13900000001").await;
    let mut mia = Visitor::sign_in(&app, "mia").await;
    let csrf = mia.token().await;
    let r = mia
        .post(
            &format!("/desk/admin/reporters/{id}/invite"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("id=\"secret\""), "{}", r.body);
    assert!(
        r.body.contains("/chat/invite/"),
        "the link is shown: {}",
        r.body
    );

    let confirm = mia.get(&format!("/desk/admin/reporters?erase={id}")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("id=\"confirm\""));
    // Without the box ticked: refused, still there.
    let r = mia
        .post(
            &format!("/desk/admin/reporters/{id}/erase"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("id=\"problem\""));
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM reporter_erasures WHERE reporter_id = {id}"
        ))
        .await,
        0
    );
    let r = mia
        .post(
            &format!("/desk/admin/reporters/{id}/erase"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM reporter_erasures WHERE reporter_id = {id} AND actor_kind = 'engineer'"
        ))
        .await,
        1
    );
    let page = mia.get("/desk/admin/reporters").await;
    assert!(!page.body.contains(&format!("data-reporter=\"{id}\"")));
}

async fn the_setup_page_shows_groups_calendar_and_rota(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let mut mia = Visitor::sign_in(&app, "mia").await;
    let page = mia.get("/desk/admin/setup").await;
    assert_eq!(page.status, StatusCode::OK);
    let b = &page.body;
    assert!(b.contains("data-group=\"printer\""), "{b}");
    let printer = &b[b.find("data-group=\"printer\"").expect("printer")..];
    let printer = &printer[..printer.find("</tr>").expect("row")];
    assert!(
        printer.contains("alice") && printer.contains("carol"),
        "{printer}"
    );
    assert!(!printer.contains("dave"), "{printer}");
    assert!(b.contains("baoxiu calendar import"));
    assert!(b.contains("id=\"on-call-now\""));
    let year = app.desk.now().format("%Y").to_string();
    assert!(b.contains(&format!("data-year=\"{year}\"")), "{b}");
    // Fourteen days ahead, today first.
    let today = app
        .desk
        .now()
        .with_timezone(&app.desk.policy().calendar.time_zone())
        .format("%Y-%m-%d")
        .to_string();
    assert!(b.contains(&today));
}

async fn managers_answer_complaints(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let r = app
        .post(
            &token("li.na"),
            "/api/complaints",
            &json!({ "text": "服务台电话总是占线" }),
        )
        .await;
    let id = json_of(r, StatusCode::CREATED).await["id"]
        .as_i64()
        .expect("id");
    let mut mia = Visitor::sign_in(&app, "mia").await;
    let list = mia.get("/desk/admin/complaints").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains(&format!("data-complaint=\"{id}\"")));
    let page = mia.get(&format!("/desk/admin/complaints/{id}")).await;
    assert!(page.body.contains("服务台电话总是占线"));
    let csrf = page.csrf();
    let answer = format!("/desk/admin/complaints/{id}/answer");
    let r = mia
        .post(&answer, &[("csrf", &csrf), ("outcome", "  ")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("id=\"problem\""));
    let c = json_of(
        app.get(MANAGER, &format!("/api/complaints/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(c["complaint"]["status"], "open", "{c}");

    let r = mia
        .post(&answer, &[("csrf", &csrf), ("outcome", "已增加一条热线")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let c = json_of(
        app.get(MANAGER, &format!("/api/complaints/{id}")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(c["complaint"]["status"], "answered", "{c}");
    assert_eq!(c["complaint"]["outcome"], "已增加一条热线");
    let answered = mia.get("/desk/admin/complaints?status=answered").await;
    assert!(answered.body.contains(&format!("data-complaint=\"{id}\"")));
}

async fn managers_edit_publish_and_retire_articles(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let r = app
        .post(
            MANAGER,
            "/api/articles",
            &json!({"category": "printer", "title": "打印纸用完", "symptom": "缺纸", "solution": "加纸"}),
        )
        .await;
    let id = json_of(r, StatusCode::CREATED).await["article"]["id"]
        .as_i64()
        .expect("id");
    let version = article_json(&app, id).await["article"]["version"]
        .as_i64()
        .expect("version");
    let mut mia = Visitor::sign_in(&app, "mia").await;
    let drafts = mia.get("/desk/admin/articles?status=draft").await;
    assert!(drafts.body.contains(&format!("data-article=\"{id}\"")));
    let page = mia.get(&format!("/desk/admin/articles/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page.csrf();
    let edit = format!("/desk/admin/articles/{id}/edit");
    let v = version.to_string();
    let form = |title: &'static str, v: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("version", v.to_owned()),
            ("category", "printer".to_owned()),
            ("title", title.to_owned()),
            ("symptom", "缺纸".to_owned()),
            ("solution", "加纸".to_owned()),
            ("keywords", "缺纸\n加纸".to_owned()),
        ]
    };
    let send = |f: Vec<(&'static str, String)>| f;
    // An empty title is refused; an edit on an old version too.
    for f in [
        send(form("", &v)),
        send(form("打印机缺纸", &(version - 1).to_string())),
    ] {
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = mia.post(&edit, &pairs).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("id=\"problem\""));
        assert_eq!(
            article_json(&app, id).await["article"]["title"],
            "打印纸用完"
        );
    }
    let f = form("打印机缺纸", &v);
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = mia.post(&edit, &pairs).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        article_json(&app, id).await["article"]["title"],
        "打印机缺纸"
    );

    let r = mia
        .post(
            &format!("/desk/admin/articles/{id}/publish"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        article_json(&app, id).await["article"]["status"],
        "published"
    );
    let r = mia
        .post(
            &format!("/desk/admin/articles/{id}/retire"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(article_json(&app, id).await["article"]["status"], "retired");
    // A retired article cannot be retired again: said politely.
    let r = mia
        .post(
            &format!("/desk/admin/articles/{id}/retire"),
            &[("csrf", &csrf)],
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert!(r.body.contains("id=\"problem\""), "{}", r.body);
    let retired = mia.get("/desk/admin/articles?status=retired").await;
    assert!(retired.body.contains(&format!("data-article=\"{id}\"")));
}

/// The handles of the active engineers, as the REST API lists them.
async fn handles(app: &TestApp) -> Vec<String> {
    json_of(app.get(MANAGER, "/api/engineers").await, StatusCode::OK)
        .await
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["handle"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The inspection plans as the REST API shows them.
async fn plans_json(app: &TestApp) -> Value {
    json_of(
        app.get(MANAGER, "/api/inspection-plans").await,
        StatusCode::OK,
    )
    .await
}

/// An asset as the REST API shows it.
async fn asset_json(app: &TestApp, tag: &str) -> reqwest::Response {
    app.get(MANAGER, &format!("/api/assets/{tag}")).await
}

/// The asset form's fields with `changes` applied.
fn asset_form<'a>(csrf: &'a str, changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("csrf", csrf),
        ("tag", "PC-001"),
        ("kind", "pc"),
        ("model", "ThinkCentre M70"),
        ("site", "总部"),
        ("building", "A座"),
        ("room", "301"),
        ("warranty_until", "2026-12-31"),
        ("status", ""),
    ];
    for (k, v) in changes {
        if let Some(f) = form.iter_mut().find(|(name, _)| name == k) {
            f.1 = v;
        } else {
            form.push((k, v));
        }
    }
    form
}

async fn managers_add_edit_and_change_the_status_of_assets(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let mut mia = Visitor::sign_in(&app, "mia").await;
    let csrf = mia.token().await;
    // Bad input: no kind, a date that is not one — nothing is saved.
    for bad in [[("kind", "")], [("warranty_until", "next year")]] {
        let r = mia
            .post("/desk/admin/assets", &asset_form(&csrf, &bad))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("id=\"problem\""));
        assert_eq!(
            asset_json(&app, "PC-001").await.status(),
            StatusCode::NOT_FOUND
        );
    }
    let r = mia
        .post("/desk/admin/assets", &asset_form(&csrf, &[]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let a = json_of(asset_json(&app, "PC-001").await, StatusCode::OK).await;
    assert_eq!(a["model"], "ThinkCentre M70", "{a}");
    assert_eq!(a["status"], "in_use", "{a}");

    // Edit: the same form on the device's page, prefilled.
    let page = mia.get("/desk/admin/assets/PC-001").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("value=\"ThinkCentre M70\""),
        "{}",
        page.body
    );
    let r = mia
        .post("/desk/admin/assets", &asset_form(&csrf, &[("room", "302")]))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let a = json_of(asset_json(&app, "PC-001").await, StatusCode::OK).await;
    assert_eq!(a["room"], "302", "{a}");

    // A status change keeps the rest; an unknown status is refused.
    let r = mia
        .post(
            "/desk/admin/assets/PC-001/status",
            &[("csrf", &csrf), ("status", "melted")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = mia
        .post(
            "/desk/admin/assets/PC-001/status",
            &[("csrf", &csrf), ("status", "under_repair")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let a = json_of(asset_json(&app, "PC-001").await, StatusCode::OK).await;
    assert_eq!(
        (a["status"].as_str(), a["room"].as_str()),
        (Some("under_repair"), Some("302"))
    );
    // The device's page: its record's changes and history.
    let page = mia.get("/desk/admin/assets/PC-001").await;
    assert!(page.body.contains("id=\"asset\""));
    assert!(page.body.contains("update"), "{}", page.body);
}

async fn the_asset_list_filters_and_prints_its_stickers(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let mut mia = Visitor::sign_in(&app, "mia").await;
    let csrf = mia.token().await;
    for changes in [
        vec![],
        vec![
            ("tag", "PC-002"),
            ("site", "分部"),
            ("warranty_until", "2030-01-01"),
            ("status", "spare"),
        ],
    ] {
        let r = mia
            .post("/desk/admin/assets", &asset_form(&csrf, &changes))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    let page = mia.get("/desk/admin/assets?status=spare").await;
    assert!(
        page.body.contains("data-asset=\"PC-002\"") && !page.body.contains("data-asset=\"PC-001\"")
    );
    let page = mia
        .get("/desk/admin/assets?warranty_before=2027-01-01")
        .await;
    assert!(
        page.body.contains("data-asset=\"PC-001\"") && !page.body.contains("data-asset=\"PC-002\"")
    );
    let page = mia.get("/desk/admin/assets?site=%E5%88%86%E9%83%A8").await;
    assert!(
        page.body.contains("data-asset=\"PC-002\"") && !page.body.contains("data-asset=\"PC-001\"")
    );
    let page = mia.get("/desk/admin/assets?warranty_before=soon").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("id=\"problem\""));
    assert!(page.body.contains("/desk/admin/assets/labels.pdf?"));

    let r = app
        .client
        .get(format!(
            "{}/desk/admin/assets/labels.pdf?status=spare",
            app.public
        ))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "signed in only");
    let pdf = mia.get("/desk/admin/assets/labels.pdf?status=spare").await;
    assert_eq!(pdf.status, StatusCode::OK);
    assert!(pdf.body.starts_with("%PDF"), "a PDF");
}

async fn managers_create_and_change_inspection_plans_and_read_runs(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let mut mia = Visitor::sign_in(&app, "mia").await;
    let csrf = mia.token().await;
    let plan = |units: &'static str, checklist: &'static str| {
        vec![
            ("name", "总部打印机月检"),
            ("site", "总部"),
            ("buildings", "A座, B座"),
            ("group", "printer"),
            ("department", "行政部"),
            ("phone", "021-5555 0100"),
            ("frequency", "monthly"),
            ("units", units),
            ("target_pct", "90"),
            ("checklist", checklist),
        ]
    };
    for (units, checklist) in [("many", "外观与清洁"), ("5", "")] {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend(plan(units, checklist));
        let r = mia.post("/desk/admin/inspections/plans", &form).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("id=\"problem\""));
        assert!(
            r.body.contains("value=\"总部打印机月检\""),
            "what was typed stays"
        );
        assert_eq!(plans_json(&app).await.as_array().map(Vec::len), Some(0));
    }
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend(plan(
        "5",
        "外观与清洁 | Outside and cleanliness\n打印测试页",
    ));
    let r = mia.post("/desk/admin/inspections/plans", &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let list = plans_json(&app).await;
    let id = list[0]["id"].as_i64().expect("id");
    assert_eq!(
        list[0]["checklist"][0]["en"], "Outside and cleanliness",
        "{list}"
    );
    assert_eq!(list[0]["status"], "active");

    app.desk.open_due_inspections().await.expect("opened");
    let page = mia.get("/desk/admin/inspections").await;
    assert!(page.body.contains(&format!("data-plan=\"{id}\"")));
    let run = app
        .desk
        .inspections(&desk(), Some(id), None)
        .await
        .expect("runs");
    assert_eq!(run.len(), 1, "the first month's run is open");
    assert!(page.body.contains(&format!("data-run=\"{}\"", run[0].id)));
    let open = mia
        .get(&format!("/desk/admin/inspections/{}", run[0].id))
        .await;
    assert_eq!(open.status, StatusCode::OK);
    assert!(open.body.contains("打印测试页"), "{}", open.body);

    let status = format!("/desk/admin/inspections/plans/{id}/status");
    let r = mia
        .post(&status, &[("csrf", &csrf), ("status", "asleep")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = mia
        .post(&status, &[("csrf", &csrf), ("status", "paused")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(plans_json(&app).await[0]["status"], "paused");
}

async fn managers_deactivate_an_engineer_who_left(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let id_of = |handle: &'static str| {
        let desk = app.desk.clone();
        async move {
            desk.engineer_by_handle(handle)
                .await
                .expect("load")
                .expect("engineer")
                .id
                .0
        }
    };
    let (alice, bob, mia_id) = (id_of("alice").await, id_of("bob").await, id_of("mia").await);
    let number = app.report("li.na", &printer_fault()).await;
    app.act(
        &token("alice"),
        &number,
        "accept",
        json!({}),
        StatusCode::OK,
    )
    .await;
    let mut bob_browser = Visitor::sign_in(&app, "bob").await;
    assert_eq!(
        bob_browser.get("/desk/admin/setup").await.status,
        StatusCode::NOT_FOUND
    );
    let mut mia = Visitor::sign_in(&app, "mia").await;
    let csrf = mia.token().await;
    // Refused: an open job held, no confirmation, oneself.
    for (id, form) in [
        (alice, vec![("csrf", csrf.as_str()), ("confirm", "yes")]),
        (bob, vec![("csrf", csrf.as_str())]),
        (mia_id, vec![("csrf", csrf.as_str()), ("confirm", "yes")]),
    ] {
        let r = mia
            .post(&format!("/desk/admin/engineers/{id}/deactivate"), &form)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("id=\"problem\""));
    }
    assert_eq!(handles(&app).await.len(), 5, "nobody was deactivated");

    let r = mia
        .post(
            &format!("/desk/admin/engineers/{bob}/deactivate"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(!handles(&app).await.contains(&"bob".to_owned()));
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM register_events WHERE register = 'engineers' AND subject = 'bob' AND action = 'deactivate'")
            .await,
        1
    );
    // Bob's session ended and he cannot sign in again.
    assert_eq!(
        bob_browser.get("/desk/admin/setup").await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = Visitor::new(&app)
        .try_sign_in("bob", crate::console::PASSWORD)
        .await;
    assert_ne!(again.status, StatusCode::SEE_OTHER);

    // The REST API deactivates through the same desk call: engineers may not.
    let dave = id_of("dave").await;
    let r = app
        .client
        .delete(format!("{}/api/engineers/{dave}", app.base))
        .bearer_auth(token("alice"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .delete(format!("{}/api/engineers/{dave}", app.base))
        .bearer_auth(MANAGER)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(!handles(&app).await.contains(&"dave".to_owned()));
    let r = app
        .client
        .delete(format!("{}/api/engineers/{dave}", app.base))
        .bearer_auth(MANAGER)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn article_editors_write_new_articles_in_the_console(backend: Backend) {
    let app = spawn_app(backend).await;
    passwords(&app).await;
    let before = app.count("articles").await;
    // Carol is an expert: she writes articles (as `POST /api/articles` lets her), so the
    // articles page is hers too, without the managers' navigation.
    let mut carol = Visitor::sign_in(&app, "carol").await;
    let queue = carol.get("/desk").await;
    assert!(queue.has("id=\"articles\""), "{}", queue.body);
    let page = carol.get("/desk/admin/articles").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.has("id=\"new-article\""), "{}", page.body);
    assert!(!page.has("/desk/admin/setup"), "an expert is not a manager");
    let csrf = page.csrf();

    // Refused politely: said in the page's words, what was typed kept, nothing made.
    let typed = [
        ("csrf", csrf.as_str()),
        ("category", "network"),
        ("title", "   "),
        ("symptom", "打印机卡纸 <红灯>"),
        ("cause", ""),
        ("solution", "打开后盖，取出卡住的纸"),
        ("keywords", "卡纸\n后盖"),
    ];
    let r = carol.post("/desk/admin/articles", &typed).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.has("id=\"problem\" data-field=\"title\""), "{}", r.body);
    assert!(r.has("请填写标题"), "{}", r.body);
    assert!(r.has("<details open>"));
    assert!(r.has("打印机卡纸 &#60;红灯&#62;"), "{}", r.body);
    assert!(r.has("打开后盖，取出卡住的纸"));
    assert!(r.has("卡纸\n后盖"));
    assert!(r.has("<option value=\"network\" selected>"), "{}", r.body);
    assert_eq!(app.count("articles").await, before);
    // Too long, in the same words.
    let long = "长".repeat(121);
    let mut too_long = typed;
    too_long[2] = ("title", long.as_str());
    let r = carol.post("/desk/admin/articles", &too_long).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.has("标题有 121 个字符，最多 120 个"), "{}", r.body);
    assert_eq!(app.count("articles").await, before);

    // Without the form's token: 403, nothing made.
    let mut forged = typed;
    forged[0] = ("csrf", "not-the-token");
    forged[2] = ("title", "打印机卡纸");
    let r = carol.post("/desk/admin/articles", &forged).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = carol.post("/desk/admin/articles", &forged[1..]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(app.count("articles").await, before);

    // A first-line engineer may not write articles: "not found", as every page not hers.
    let mut alice = Visitor::sign_in(&app, "alice").await;
    let queue = alice.get("/desk").await;
    assert!(!queue.has("id=\"articles\""));
    let alice_csrf = queue.csrf();
    let mut hers = forged;
    hers[0] = ("csrf", alice_csrf.as_str());
    let r = alice.post("/desk/admin/articles", &hers).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(app.count("articles").await, before);

    // Created: a draft, with its `drafted` event by carol, opened on the page.
    let mut good = forged;
    good[0] = ("csrf", csrf.as_str());
    let r = carol.post("/desk/admin/articles", &good).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let location = r.location.expect("redirect");
    let id: i64 = location
        .trim_start_matches("/desk/admin/articles/")
        .split('?')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("the new article's page");
    assert_eq!(app.count("articles").await, before + 1);
    let a = article_json(&app, id).await;
    assert_eq!(a["article"]["status"], "draft", "{a}");
    assert_eq!(a["article"]["title"], "打印机卡纸");
    assert_eq!(a["article"]["category"], "network");
    assert_eq!(a["article"]["symptom"], "打印机卡纸 <红灯>");
    let events = a["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{a}");
    assert_eq!(events[0]["action"], "drafted");
    assert_eq!(events[0]["to_status"], "draft");
    assert_eq!(events[0]["actor_name"], "carol");
    let page = carol.get(&location).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.has(&format!("data-article=\"{id}\"")), "{}", page.body);
    assert!(page.has("id=\"done\""));
}
