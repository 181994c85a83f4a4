//! Preventive inspections (巡检, issue 19; plan 000: every device twice a year, ≥ 90 %
//! completed, a check report signed on site; plan 003: quarterly): plans kept by
//! managers, one job per plan per period however many instances run the scheduler,
//! the checklist worked through a chat door (a fault found files a linked fault ticket),
//! the completion rate in the report, and who may see and do what.

use baoxiu::domain::ticket::Caller;
use baoxiu::flow::{Incoming, Outgoing};
use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, MANAGER, TestApp, spawn_app, tick, token};
use crate::on_both_backends;

on_both_backends!(
    managers_keep_plans_and_bad_input_changes_nothing,
    each_period_opens_one_job_exactly_once_across_two_instances,
    the_whole_checklist_through_a_chat_door_with_a_linked_fault_ticket,
    the_completion_rate_in_the_report_reconciles,
    engineers_work_their_groups_jobs_only_and_reporters_see_none,
    a_fault_found_and_its_ticket_are_one_transaction,
);

/// A plan for `group`, inspected `frequency`, of `units` devices, with three checks.
fn plan(name: &str, group: &str, frequency: &str, units: u32) -> Value {
    json!({
        "name": name,
        "site": "总部",
        "buildings": ["A座", "B座"],
        "scope": "A座、B座全部打印机",
        "group": group,
        "department": "行政部",
        "phone": "021-5555 0100",
        "frequency": frequency,
        "units": units,
        "checklist": [
            { "zh-CN": "外观与清洁", "en": "Outside and cleanliness" },
            { "zh-CN": "打印测试页", "en": "Print a test page" },
            { "zh-CN": "耗材余量" }
        ]
    })
}

async fn create_plan(app: &TestApp, body: &Value) -> Value {
    let r = app.post(MANAGER, "/api/inspection-plans", body).await;
    let status = r.status();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::CREATED, "{text}");
    serde_json::from_str(&text).expect("json")
}

async fn json_of(r: reqwest::Response, status: StatusCode) -> Value {
    let got = r.status();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The pending messages of one event, oldest first.
async fn messages(app: &TestApp, event: &str) -> Vec<baoxiu::store::OutboxMessage> {
    let mut all = app
        .store
        .outbox_by_status("pending", 1000)
        .await
        .expect("outbox");
    all.retain(|m| m.event == event);
    all.reverse();
    all
}

/// Managers create plans (the target defaults to 90 %), list them, pause, resume and
/// retire them; a bad plan is refused with every problem named and nothing stored;
/// engineers and reporters may not touch plans.
async fn managers_keep_plans_and_bad_input_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let p = create_plan(
        &app,
        &plan("总部打印机半年巡检", "printer", "half_yearly", 173),
    )
    .await;
    assert_eq!(p["status"], "active");
    assert_eq!(p["target_pct"], 90);
    assert_eq!(
        p["category"], "printer",
        "faults found go to the group's category"
    );
    assert_eq!(p["checklist"][0]["en"], "Outside and cleanliness");
    assert!(p["checklist"][2].get("en").is_none());
    // The half-year under way (2026-H2) began at midnight on 1 July in Shanghai.
    assert_eq!(
        p["next_due_at"]
            .as_str()
            .map(|t| t.starts_with("2026-06-30T16:00:00")),
        Some(true),
        "{p}"
    );

    let bad = json!({
        "name": "",
        "site": "总部",
        "group": "plumbing",
        "department": "行政部",
        "phone": "not a phone",
        "frequency": "quarterly",
        "units": 0,
        "target_pct": 120,
        "checklist": []
    });
    let r = app.post(MANAGER, "/api/inspection-plans", &bad).await;
    let problem = json_of(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    for f in ["name", "group", "phone", "units", "target_pct", "checklist"] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    let r = app
        .post(
            MANAGER,
            "/api/inspection-plans",
            &json!({ "colour": "red" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .post(
            MANAGER,
            "/api/inspection-plans",
            &plan("x", "printer", "weekly", 1),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "an unknown frequency");
    // A category of another group is refused: faults found go to the plan's group.
    let mut wrong = plan("x", "printer", "monthly", 1);
    wrong["category"] = json!("network");
    let r = app.post(MANAGER, "/api/inspection-plans", &wrong).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("inspection_plans").await, 1, "nothing stored");

    for who in [token("alice"), token("li.na")] {
        let r = app
            .post(
                &who,
                "/api/inspection-plans",
                &plan("x", "printer", "monthly", 1),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = app.get(&who, "/api/inspection-plans").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = app
            .patch(
                &who,
                "/api/inspection-plans/1",
                &json!({ "status": "paused" }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    // The manager-tier engineer manages plans too.
    let r = app.get(&token("mia"), "/api/inspection-plans").await;
    let list = json_of(r, StatusCode::OK).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    let id = p["id"].as_i64().expect("id");
    let path = format!("/api/inspection-plans/{id}");
    let paused = json_of(
        app.patch(MANAGER, &path, &json!({ "status": "paused" }))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(paused["status"], "paused");
    assert_eq!(paused["next_due_at"], Value::Null);
    let r = app
        .patch(MANAGER, &path, &json!({ "status": "paused" }))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "already paused");
    let resumed = json_of(
        app.patch(MANAGER, &path, &json!({ "status": "active" }))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(resumed["status"], "active");
    let retired = json_of(
        app.patch(MANAGER, &path, &json!({ "status": "retired" }))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(retired["status"], "retired");
    let r = app
        .patch(MANAGER, &path, &json!({ "status": "active" }))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "retired for good");
    let r = app
        .patch(
            MANAGER,
            "/api/inspection-plans/999",
            &json!({ "status": "paused" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Each change has its trail event: who, when, from → to.
    let detail = json_of(app.get(MANAGER, &path).await, StatusCode::OK).await;
    assert_eq!(detail["plan"]["status"], "retired");
    let trail: Vec<(&str, &str, &str)> = detail["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("-");
            (s("action"), s("from_status"), s("to_status"))
        })
        .collect();
    assert_eq!(
        trail,
        [
            ("plan_created", "-", "active"),
            ("paused", "active", "paused"),
            ("resumed", "paused", "active"),
            ("retired", "active", "retired"),
        ]
    );
    assert_eq!(detail["events"][1]["actor_kind"], "desk");
    // A retired plan opens nothing.
    assert_eq!(tick(&app).await.inspections, 0);
    assert_eq!(app.count("inspection_jobs").await, 0);
}

/// Two instances' schedulers tick at once over one database: the period's job opens
/// once, offered once to each first-line engineer of the group on duty; the next period
/// opens its own job at its start (local midnight), and a paused plan opens none.
async fn each_period_opens_one_job_exactly_once_across_two_instances(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = a.restart().await;
    let p = create_plan(&a, &plan("分部打印机季度巡检", "printer", "quarterly", 20)).await;
    let (ta, tb) = tokio::join!(tick(&a), tick(&b));
    assert_eq!(ta.inspections + tb.inspections, 1, "{ta:?} {tb:?}");
    let (ta, tb) = tokio::join!(tick(&a), tick(&b));
    assert_eq!(ta.inspections + tb.inspections, 0, "once per period");
    assert_eq!(a.count("inspection_jobs").await, 1);
    let jobs = json_of(a.get(MANAGER, "/api/inspections").await, StatusCode::OK).await;
    let job = &jobs[0];
    assert_eq!(job["period"], "2026-Q4");
    assert_eq!(job["status"], "offered");
    assert_eq!(job["reference"], "INS-1");
    assert_eq!(
        job["due_at"]
            .as_str()
            .map(|t| t.starts_with("2026-12-31T16:00:00")),
        Some(true)
    );
    // Offered like a fault job: to alice and bob (printer, first line, on duty), once each.
    let offers = messages(&a, "inspection_offered").await;
    let mut to: Vec<String> = offers.iter().map(|m| format!("{:?}", m.to)).collect();
    to.sort();
    assert_eq!(offers.len(), 2, "{to:?}");
    assert_eq!(offers[0].payload["inspection"], "INS-1");
    assert_eq!(offers[0].payload["period"], "2026-Q4");

    // One second before the quarter ends in Shanghai nothing opens; at midnight, Q1 does.
    a.clock
        .set(Utc.with_ymd_and_hms(2026, 12, 31, 15, 59, 59).unwrap());
    b.clock
        .set(Utc.with_ymd_and_hms(2026, 12, 31, 15, 59, 59).unwrap());
    let (ta, tb) = tokio::join!(tick(&a), tick(&b));
    assert_eq!(ta.inspections + tb.inspections, 0);
    a.clock
        .set(Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0).unwrap());
    b.clock
        .set(Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0).unwrap());
    let (ta, tb) = tokio::join!(tick(&a), tick(&b));
    assert_eq!(ta.inspections + tb.inspections, 1);
    let q1 = json_of(
        a.get(MANAGER, "/api/inspections?period=2027-Q1").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(q1.as_array().map(Vec::len), Some(1));
    assert_eq!(q1[0]["plan_id"], p["id"]);

    // Paused over the next quarter's start: no job; resumed, the quarter under way opens.
    let path = format!("/api/inspection-plans/{}", p["id"]);
    a.patch(MANAGER, &path, &json!({ "status": "paused" }))
        .await;
    a.clock
        .set(Utc.with_ymd_and_hms(2027, 4, 2, 1, 0, 0).unwrap());
    assert_eq!(tick(&a).await.inspections, 0);
    a.patch(MANAGER, &path, &json!({ "status": "active" }))
        .await;
    assert_eq!(tick(&a).await.inspections, 1);
    let periods: Vec<String> = json_of(a.get(MANAGER, "/api/inspections").await, StatusCode::OK)
        .await
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|j| j["period"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(periods, ["2027-Q2", "2027-Q1", "2026-Q4"]);
    let r = a.get(MANAGER, "/api/inspections?period=2027-Q5").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// Someone talking to the service through a door.
struct Door<'a> {
    app: &'a TestApp,
    person: baoxiu::conversation::Person,
}

impl Door<'_> {
    async fn say(&self, input: Incoming) -> (String, Vec<Outgoing>) {
        let replies = self
            .app
            .chat
            .handle(&self.person, input)
            .await
            .expect("handled");
        let text = replies
            .iter()
            .map(|r| match r {
                Outgoing::Text(t) => t.clone(),
                Outgoing::Choices { text, .. } => text.clone(),
                Outgoing::Form { title, .. } => title.clone(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        (text, replies)
    }

    async fn text(&self, t: &str) -> String {
        self.say(Incoming::Text(t.into())).await.0
    }
}

/// The id of the button labelled starting with `label`.
fn button(replies: &[Outgoing], label: &str) -> String {
    replies
        .iter()
        .find_map(|r| match r {
            Outgoing::Choices { options, .. } => options
                .iter()
                .find(|(_, l)| l.starts_with(label))
                .map(|(id, _)| id.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no button {label} in {replies:?}"))
}

/// Alice (web chat) gets the offer with its buttons, takes it with one tap, records the
/// three checks — the second a fault, which files a fault ticket for the plan's site in
/// its group's category, linked to the check — then the units inspected (more than
/// planned is refused politely) and who signed on site; the job is done and the managers
/// hear so. Everything is in the job's trail.
async fn the_whole_checklist_through_a_chat_door_with_a_linked_fault_ticket(backend: Backend) {
    let app = spawn_app(backend).await;
    app.link("alice", |e| e.web_id = Some("alice-web".into()))
        .await;
    create_plan(
        &app,
        &plan("总部打印机半年巡检", "printer", "half_yearly", 10),
    )
    .await;
    assert_eq!(tick(&app).await.inspections, 1);
    let alice_id = app
        .desk
        .engineer_by_handle("alice")
        .await
        .unwrap()
        .unwrap()
        .id;
    let offer = messages(&app, "inspection_offered")
        .await
        .into_iter()
        .find(|m| m.to == baoxiu::store::Recipient::Engineer(alice_id))
        .expect("an offer to alice");
    let parcel = app
        .chat
        .parcel(&offer)
        .await
        .expect("rendered")
        .expect("alice is reachable on the web chat");
    let shown = format!("{:?}", parcel.replies);
    assert!(
        shown.contains("INS-1") && shown.contains("总部打印机半年巡检"),
        "{shown}"
    );
    let accept = button(&parcel.replies, "✋");

    let alice = Door {
        app: &app,
        person: baoxiu::conversation::Person {
            channel: "web".into(),
            external_id: "alice-web".into(),
            name: "alice".into(),
            language: Some("zh-CN".into()),
        },
    };
    let listed = alice.text("/inspections").await;
    assert!(
        listed.contains(
            "INS-1 · 总部打印机半年巡检 · 总部 · 2026-H2 · 待接单 · 截止 2027-01-01 00:00"
        ),
        "{listed}"
    );
    let (text, _) = alice.say(Incoming::Choice(accept)).await;
    assert!(text.contains("由您负责"), "{text}");
    assert!(text.contains("第 1/3 项：外观与清洁"), "{text}");
    let text = alice.text("正常").await;
    assert!(text.contains("第 2/3 项：打印测试页"), "{text}");
    let text = alice.text("2").await;
    assert!(text.contains("请简单描述发现的故障"), "{text}");
    let text = alice.text("B座2楼打印机定影器异响，打印有黑线").await;
    assert!(text.contains("已记录故障，并建立故障工单"), "{text}");
    assert!(text.contains("第 3/3 项：耗材余量"), "{text}");
    let number = app.store.inspection_checks(1).await.expect("checks")[1]
        .ticket
        .clone()
        .expect("the fault's ticket");
    assert!(text.contains(&number), "{text}");
    let fault = app.store.ticket_by_number(&number).await.unwrap().unwrap();
    assert_eq!(
        fault.intake.channel,
        baoxiu::domain::channel::Channel::Inspection,
        "reported as found on an inspection"
    );
    let (text, replies) = alice.say(Incoming::Text("/inspect INS-1".into())).await;
    assert!(
        text.contains("第 3/3 项"),
        "reopening resumes at the next check: {text}"
    );
    let pass = button(&replies, "✅");
    let text = alice.say(Incoming::Choice(pass)).await.0;
    assert!(text.contains("实际巡检了多少台设备"), "{text}");
    let text = alice.text("11").await;
    assert!(text.contains("签字确认"), "{text}");
    // More units than planned is refused when the desk gets them: asked again.
    let text = alice.text("王主任").await;
    assert!(text.contains("不能超过计划的 10 台"), "{text}");
    assert!(text.contains("实际巡检了多少台设备"), "asked again: {text}");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM inspection_jobs WHERE status = 'done'")
            .await,
        0
    );
    let text = alice.text("9").await;
    assert!(text.contains("签字确认"), "{text}");
    let text = alice.text("王主任").await;
    assert!(
        text.contains("已完成") && text.contains("9/10") && text.contains("王主任"),
        "{text}"
    );

    let detail = json_of(app.get(MANAGER, "/api/inspections/1").await, StatusCode::OK).await;
    let job = &detail["job"];
    assert_eq!(job["status"], "done");
    assert_eq!(job["signed_by"], "王主任");
    assert_eq!(job["completion"]["units_inspected"], 9);
    assert_eq!(job["completion"]["rate_pct"], 90.0);
    assert_eq!(job["completion"]["met"], true);
    assert_eq!(job["on_time"], true);
    assert_eq!(job["faults"], 1);
    let results: Vec<&str> = detail["checklist"]
        .as_array()
        .expect("checklist")
        .iter()
        .filter_map(|c| c["result"].as_str())
        .collect();
    assert_eq!(results, ["pass", "fault", "pass"]);
    assert_eq!(detail["checklist"][1]["ticket"], number.as_str());
    let trail: Vec<&str> = detail["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        trail,
        [
            "opened",
            "accepted",
            "checked",
            "fault_found",
            "checked",
            "finished"
        ]
    );
    assert!(
        detail["events"][3]["note"]
            .as_str()
            .is_some_and(|n| n.contains(&number))
    );

    // The fault ticket follows the normal intake rules and records where it came from.
    let ticket = app.detail(&number).await;
    assert_eq!(ticket["ticket"]["group"], "printer");
    assert_eq!(ticket["ticket"]["status"], "offered");
    assert_eq!(ticket["ticket"]["intake"]["location"]["site"], "总部");
    let first = &ticket["audit"][0];
    assert_eq!(first["actor"]["kind"], "engineer");
    assert_eq!(first["actor"]["name"], "alice");
    assert!(
        first["note"]
            .as_str()
            .is_some_and(|n| n.contains("INS-1 #2")),
        "{first}"
    );
    let offered: Vec<String> = app
        .outbox_of(&number)
        .await
        .iter()
        .map(|m| m.event.clone())
        .collect();
    assert!(offered.contains(&"job_offered".to_owned()), "{offered:?}");
    assert!(
        !offered.iter().any(|e| e.starts_with("ticket_received")),
        "no receipt to a stand-in: {offered:?}"
    );
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM inspection_results r JOIN tickets t ON t.id = r.ticket_id
             WHERE t.number = '{number}' AND r.job_id = 1 AND r.n = 2"
        ))
        .await,
        1,
        "the check links the ticket"
    );
    // The manager hears the outcome.
    let done = messages(&app, "inspection_done").await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].payload["signed_by"], "王主任");
    // Nothing more to do on it, in chat or otherwise.
    let text = alice.text("/inspect INS-1").await;
    assert!(text.contains("已经完成"), "{text}");
}

/// Two plans (printer half-yearly, network quarterly) done to 9/10 (target met, with a
/// fault) and 3/4 (75 %, short of 90 %): the report's `inspections` section has both
/// rows and totals that add up, figure by figure; a range before them has none.
async fn the_completion_rate_in_the_report_reconciles(backend: Backend) {
    let app = spawn_app(backend).await;
    create_plan(
        &app,
        &plan("总部打印机半年巡检", "printer", "half_yearly", 10),
    )
    .await;
    create_plan(&app, &plan("网络设备季度巡检", "network", "quarterly", 4)).await;
    assert_eq!(tick(&app).await.inspections, 2);
    let jobs = json_of(app.get(MANAGER, "/api/inspections").await, StatusCode::OK).await;
    let id_of = |plan: &str| {
        jobs.as_array()
            .expect("jobs")
            .iter()
            .find(|j| j["plan"] == plan)
            .and_then(|j| j["id"].as_i64())
            .expect("job")
    };
    let (printer, network) = (id_of("总部打印机半年巡检"), id_of("网络设备季度巡检"));
    let work = |who: &'static str, id: i64, results: [&'static str; 3], units: u32| {
        let app = &app;
        async move {
            let base = format!("/api/inspections/{id}");
            json_of(
                app.post(&token(who), &format!("{base}/accept"), &json!({}))
                    .await,
                StatusCode::OK,
            )
            .await;
            for (n, result) in (1..).zip(results) {
                let body = json!({ "n": n, "result": result, "note": "风扇异响" });
                json_of(
                    app.post(&token(who), &format!("{base}/check"), &body).await,
                    StatusCode::OK,
                )
                .await;
            }
            let body = json!({ "units": units, "signed_by": "现场负责人" });
            json_of(
                app.post(&token(who), &format!("{base}/finish"), &body)
                    .await,
                StatusCode::OK,
            )
            .await
        }
    };
    let p = work("bob", printer, ["pass", "fault", "pass"], 9).await;
    assert_eq!(p["completion"]["met"], true);
    // The network job is finished on Saturday night: the managers hear on Monday morning.
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 28, 14, 0, 0).unwrap());
    let n = work("dave", network, ["pass", "pass", "pass"], 3).await;
    let told: Vec<(String, bool)> = messages(&app, "inspection_done")
        .await
        .iter()
        .map(|m| {
            let held = m.next_attempt_at > m.created_at;
            (
                m.payload["plan"].as_str().unwrap_or_default().to_owned(),
                held,
            )
        })
        .collect();
    assert_eq!(
        told,
        [
            ("总部打印机半年巡检".to_owned(), false),
            ("网络设备季度巡检".to_owned(), true)
        ]
    );
    assert_eq!(n["completion"]["rate_pct"], 75.0);
    assert_eq!(n["completion"]["met"], false);

    let report = json_of(
        app.get(MANAGER, "/api/reports?from=2026-07-01&to=2026-12-31")
            .await,
        StatusCode::OK,
    )
    .await;
    let s = &report["inspections"];
    let rows = s["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    let sum = |f: &dyn Fn(&Value) -> i64| rows.iter().map(f).sum::<i64>();
    let flag = |k: &'static str| move |r: &Value| i64::from(r[k].as_bool() == Some(true));
    assert_eq!(s["jobs"], 2);
    assert_eq!(s["done"], sum(&|r| i64::from(r["status"] == "done")));
    assert_eq!(s["done_on_time"], sum(&flag("on_time")));
    assert_eq!(
        s["met_target"],
        sum(&|r| i64::from(r["completion"]["met"] == true))
    );
    assert_eq!(
        s["units_planned"],
        sum(&|r| r["completion"]["units_planned"].as_i64().unwrap_or(-1))
    );
    assert_eq!(
        s["units_inspected"],
        sum(&|r| r["completion"]["units_inspected"].as_i64().unwrap_or(-1))
    );
    assert_eq!(s["faults"], sum(&|r| r["faults"].as_i64().unwrap_or(-1)));
    // And the figures themselves.
    assert_eq!(
        (
            &s["done"],
            &s["done_on_time"],
            &s["met_target"],
            &s["units_planned"],
            &s["units_inspected"],
            &s["faults"]
        ),
        (
            &json!(2),
            &json!(2),
            &json!(1),
            &json!(14),
            &json!(12),
            &json!(1)
        )
    );
    let printer_row = rows
        .iter()
        .find(|r| r["plan"] == "总部打印机半年巡检")
        .expect("row");
    assert_eq!(printer_row["period"], "2026-H2");
    assert_eq!(printer_row["passed"], 2);
    assert_eq!(printer_row["completion"]["rate_pct"], 90.0);
    assert_eq!(printer_row["completion"]["target_pct"], 90);
    // The one fault filed one ticket, and it is in the ticket figures too.
    assert_eq!(report["total"]["tickets"], 1);

    let before = json_of(
        app.get(MANAGER, "/api/reports?from=2026-01-01&to=2026-06-30")
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(before["inspections"]["jobs"], 0);
    let r = app
        .get(
            &token("alice"),
            "/api/reports?from=2026-07-01&to=2026-12-31",
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

/// An engineer of another group sees no job of this one (404, as if missing) and cannot
/// take it; of the group, the first to accept wins; only the holder records, in order,
/// and a fault needs words; reporters are refused everything; nothing refused changes
/// anything.
async fn engineers_work_their_groups_jobs_only_and_reporters_see_none(backend: Backend) {
    let app = spawn_app(backend).await;
    create_plan(
        &app,
        &plan("总部打印机半年巡检", "printer", "half_yearly", 10),
    )
    .await;
    tick(&app).await;
    let dave = token("dave"); // network
    let listed = json_of(app.get(&dave, "/api/inspections").await, StatusCode::OK).await;
    assert_eq!(listed, json!([]));
    assert_eq!(
        app.get(&dave, "/api/inspections/1").await.status(),
        StatusCode::NOT_FOUND
    );
    let r = app
        .post(&dave, "/api/inspections/1/accept", &json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    for path in ["/api/inspections", "/api/inspections/1"] {
        let r = app.get(&token("li.na"), path).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let r = app
        .post(&token("li.na"), "/api/inspections/1/accept", &json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // In chat, dave is told it is not there; a reporter has no such command.
    let dave_chat = Door {
        app: &app,
        person: baoxiu::conversation::Person {
            channel: "console-engineer".into(),
            external_id: "dave".into(),
            name: "dave".into(),
            language: Some("en".into()),
        },
    };
    let text = dave_chat.text("/inspect INS-1").await;
    assert!(text.contains("Inspection INS-1 was not found"), "{text}");
    assert!(
        dave_chat
            .text("/inspections")
            .await
            .contains("no open inspections")
    );
    let reporter = app
        .desk
        .reporter_for_identity("web", "w-9", "王芳")
        .await
        .unwrap();
    let r = app
        .desk
        .inspections(&Caller::Reporter(reporter.id), None, None)
        .await;
    assert!(r.is_err());

    let (alice, bob) = (token("alice"), token("bob"));
    json_of(
        app.post(&alice, "/api/inspections/1/accept", &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let taken = json_of(
        app.post(&bob, "/api/inspections/1/accept", &json!({}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        taken["detail"]
            .as_str()
            .is_some_and(|d| d.contains("alice")),
        "{taken}"
    );
    let check = |n: u32, result: &str, note: Option<&str>| json!({ "n": n, "result": result, "note": note });
    let r = app
        .post(&bob, "/api/inspections/1/check", &check(1, "pass", None))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "only the holder records");
    let r = app
        .post(&alice, "/api/inspections/1/check", &check(2, "pass", None))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "in order");
    let r = app
        .post(
            &alice,
            "/api/inspections/1/check",
            &check(1, "fault", Some(" ")),
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a fault needs words"
    );
    let r = app
        .post(
            &alice,
            "/api/inspections/1/finish",
            &json!({ "units": 10, "signed_by": "王主任" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "checks left");
    let r = app
        .post(
            &alice,
            "/api/inspections/1/check",
            &json!({ "n": 1, "result": "maybe" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.count("inspection_results").await,
        0,
        "refusals change nothing"
    );
    assert_eq!(app.count("tickets").await, 0);
    // The check recorded twice (a second tap) is refused the second time.
    json_of(
        app.post(&alice, "/api/inspections/1/check", &check(1, "pass", None))
            .await,
        StatusCode::OK,
    )
    .await;
    let r = app
        .post(&alice, "/api/inspections/1/check", &check(1, "pass", None))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(app.count("inspection_results").await, 1);
    // Managers read every group's jobs; engineers of the group read them too.
    for who in [MANAGER.to_owned(), token("mia"), bob] {
        let d = json_of(app.get(&who, "/api/inspections/1").await, StatusCode::OK).await;
        assert_eq!(d["job"]["checked"], 1);
    }
}

/// Makes the trail event of a fault found fail to insert (fault injection by trigger).
async fn fail_fault_events(app: &TestApp, on: bool) {
    let sqlite = app.database_url.starts_with("sqlite");
    match (sqlite, on) {
        (true, true) => {
            app.sql(&["CREATE TRIGGER inject BEFORE INSERT ON inspection_events
                 WHEN NEW.action = 'fault_found'
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END"])
                .await
        }
        (false, true) => {
            app.sql(&[
                "CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN IF NEW.action = 'fault_found' THEN RAISE EXCEPTION 'injected failure';
                 END IF; RETURN NEW; END $$",
                "CREATE TRIGGER inject BEFORE INSERT ON inspection_events
                 FOR EACH ROW EXECUTE FUNCTION inject()",
            ])
            .await
        }
        (true, false) => app.sql(&["DROP TRIGGER inject"]).await,
        (false, false) => app.sql(&["DROP TRIGGER inject ON inspection_events"]).await,
    }
}

/// The fault ticket, its audit event, messages and clocks, the check that links it and
/// the job's trail are written together: when the last of them fails, none is (not even
/// a ticket number is used up), and the same check succeeds once the fault is gone.
async fn a_fault_found_and_its_ticket_are_one_transaction(backend: Backend) {
    let app = spawn_app(backend).await;
    create_plan(
        &app,
        &plan("总部打印机半年巡检", "printer", "half_yearly", 10),
    )
    .await;
    tick(&app).await;
    let alice = token("alice");
    json_of(
        app.post(&alice, "/api/inspections/1/accept", &json!({}))
            .await,
        StatusCode::OK,
    )
    .await;
    let tables = [
        "tickets",
        "audit_events",
        "outbox",
        "sla_clocks",
        "inspection_results",
        "inspection_events",
    ];
    let counts = || async {
        let mut n = Vec::new();
        for t in tables {
            n.push(app.count(t).await);
        }
        n
    };
    let before = counts().await;
    fail_fault_events(&app, true).await;
    let fault = json!({ "n": 1, "result": "fault", "note": "硒鼓漏粉" });
    let r = app.post(&alice, "/api/inspections/1/check", &fault).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(counts().await, before, "nothing half-written");
    fail_fault_events(&app, false).await;
    let done = json_of(
        app.post(&alice, "/api/inspections/1/check", &fault).await,
        StatusCode::OK,
    )
    .await;
    let number = done["ticket"].as_str().expect("a ticket");
    assert!(
        number.ends_with("-000001"),
        "no number was used up: {number}"
    );
    assert_eq!(done["inspection"]["faults"], 1);
}
