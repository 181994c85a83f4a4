//! SLA clocks, escalation and quiet hours through the real desk and store, in virtual
//! time: the test moves the clock and runs the scheduler's ticks itself.

use baoxiu::domain::clocks::{ClockKind, ClockStatus};
use baoxiu::sla::Scheduler;
use chrono::{Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    Backend, TestApp, printer_fault, printer_outage, spawn_app, spawn_app_with, token,
};
use crate::on_both_backends;

on_both_backends!(
    warning_breach_and_each_escalation_step_fire_once,
    one_second_before_the_deadline_is_met_one_second_after_is_breached,
    a_pending_ticket_pauses_its_clocks_without_a_false_breach,
    managers_are_not_woken_for_tickets_below_p1,
    nobody_on_duty_is_news_at_any_hour,
    the_on_call_manager_hears_when_nobody_works_the_ticket,
    the_replacement_rule_runs_on_wall_clock_time_through_pending,
    a_missed_progress_note_reminds_the_engineer_and_reassures_the_reporter,
);

async fn clocks(app: &TestApp, number: &str) -> Vec<baoxiu::domain::clocks::SlaClock> {
    let t = app
        .store
        .ticket_by_number(number)
        .await
        .expect("read")
        .expect("ticket");
    app.store.clocks(t.id).await.expect("clocks")
}

fn clock(
    all: &[baoxiu::domain::clocks::SlaClock],
    kind: ClockKind,
) -> baoxiu::domain::clocks::SlaClock {
    all.iter().find(|c| c.kind == kind).cloned().expect("clock")
}

/// The audit trail's actions after the report.
async fn actions(app: &TestApp, number: &str) -> Vec<String> {
    let d = app.detail(number).await;
    d["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .skip(1)
        .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn tick(app: &TestApp) -> u32 {
    Scheduler::new(app.desk.clone())
        .tick()
        .await
        .expect("tick")
        .events
}

async fn warning_breach_and_each_escalation_step_fire_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let t0 = app.desk.now();
    let number = app.report("li.na", &printer_fault()).await;
    let d = app.detail(&number).await;
    assert_eq!(d["ticket"]["priority"], "P3");
    // P3: response 2 h; warn at 90 min; experts at once on breach; managers 4 h later.
    assert_eq!(tick(&app).await, 0, "nothing is due yet");

    app.clock.set(t0 + Duration::minutes(90));
    assert_eq!(tick(&app).await, 1);
    assert_eq!(actions(&app, &number).await, ["sla_warning"]);
    assert_eq!(tick(&app).await, 0, "a warning is sent once");

    app.clock.set(t0 + Duration::hours(2));
    assert_eq!(tick(&app).await, 2);
    assert_eq!(
        actions(&app, &number).await,
        ["sla_warning", "sla_breach", "escalate"]
    );
    let d = app.detail(&number).await;
    assert_eq!(
        d["ticket"]["tier"], "expert",
        "nobody accepted: re-offered to the experts"
    );
    assert_eq!(d["ticket"]["status"], "offered");
    assert_eq!(
        clock(&clocks(&app, &number).await, ClockKind::Response).status,
        ClockStatus::Breached
    );

    app.clock
        .set(t0 + Duration::hours(6) - Duration::seconds(1));
    assert_eq!(tick(&app).await, 0);
    app.clock.set(t0 + Duration::hours(6));
    assert_eq!(tick(&app).await, 1);
    let d = app.detail(&number).await;
    assert_eq!(d["ticket"]["tier"], "manager");
    assert_eq!(tick(&app).await, 0, "no duplicate escalation");

    // The manager takes it: the response clock stops, still breached, counted once.
    app.act(&token("mia"), &number, "accept", json!({}), StatusCode::OK)
        .await;
    let response = clock(&clocks(&app, &number).await, ClockKind::Response);
    assert_eq!(
        (response.status, response.breaches, response.open),
        (ClockStatus::Breached, 1, false)
    );
    let audit = actions(&app, &number).await;
    assert_eq!(audit.iter().filter(|a| *a == "sla_breach").count(), 1);
    // The manager heard of it through the outbox (working hours: not held).
    let t = app.store.ticket_by_number(&number).await.unwrap().unwrap();
    let outbox = app.store.outbox_for_ticket(t.id).await.unwrap();
    assert!(
        outbox
            .iter()
            .any(|m| m.event == "ticket_escalated_to_managers")
    );
    assert!(outbox.iter().any(|m| m.event == "sla_breached"));
}

async fn one_second_before_the_deadline_is_met_one_second_after_is_breached(backend: Backend) {
    let app = spawn_app(backend).await;
    let t0 = app.desk.now();
    let on_time = app.report("li.na", &printer_fault()).await;
    let late = app.report("li.na", &printer_fault()).await;
    let due = t0 + Duration::hours(2);

    app.clock.set(due - Duration::seconds(1));
    app.act(
        &token("alice"),
        &on_time,
        "accept",
        json!({}),
        StatusCode::OK,
    )
    .await;
    let response = clock(&clocks(&app, &on_time).await, ClockKind::Response);
    assert_eq!((response.status, response.breaches), (ClockStatus::Met, 0));

    // Accepted a second late, before any scheduler tick: the stop itself records the breach.
    app.clock.set(due + Duration::seconds(1));
    app.act(&token("bob"), &late, "accept", json!({}), StatusCode::OK)
        .await;
    let response = clock(&clocks(&app, &late).await, ClockKind::Response);
    assert_eq!(
        (response.status, response.breaches),
        (ClockStatus::Breached, 1)
    );
    let d = app.detail(&late).await;
    let accept = d["audit"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(accept["action"], "accept");
    assert!(
        accept["note"]
            .as_str()
            .unwrap_or_default()
            .contains("response"),
        "{accept}"
    );
    // Later ticks do not count it again.
    tick(&app).await;
    assert!(
        !actions(&app, &late)
            .await
            .contains(&"sla_breach".to_owned())
    );
}

async fn a_pending_ticket_pauses_its_clocks_without_a_false_breach(backend: Backend) {
    let app = spawn_app(backend).await;
    let t0 = app.desk.now();
    let number = app.report("li.na", &printer_fault()).await;
    app.act(
        &token("alice"),
        &number,
        "accept",
        json!({}),
        StatusCode::OK,
    )
    .await;
    // Pending after 11 h of the 12 h resolution budget (the warning at 9 h has fired).
    app.clock.set(t0 + Duration::hours(11));
    tick(&app).await;
    app.act(
        &token("alice"),
        &number,
        "pend",
        json!({"reason": "vendor", "note": "等待硒鼓到货"}),
        StatusCode::OK,
    )
    .await;
    // Three days later: no SLA clock fires while pending, nothing at the resume instant —
    // only the replacement rule, which never pauses: the device is owed after 48 hours.
    app.clock.set(t0 + Duration::days(3));
    assert_eq!(tick(&app).await, 1);
    assert_eq!(
        actions(&app, &number).await.last().map(String::as_str),
        Some("replacement_due")
    );
    app.act(
        &token("alice"),
        &number,
        "resume",
        json!({}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(tick(&app).await, 0, "no instant breach on resume");
    let resolution = clock(&clocks(&app, &number).await, ClockKind::Resolution);
    assert_eq!(resolution.status, ClockStatus::Running);
    assert_eq!(
        resolution.due_at,
        Some(t0 + Duration::days(3) + Duration::hours(1))
    );
    let d = app.detail(&number).await;
    let shown: chrono::DateTime<Utc> =
        serde_json::from_value(d["ticket"]["resolution_due_at"].clone()).unwrap();
    assert_eq!(
        shown,
        t0 + Duration::days(3) + Duration::hours(1),
        "the ticket shows the moved deadline"
    );
    app.clock
        .set(t0 + Duration::days(3) + Duration::hours(1) + Duration::seconds(1));
    tick(&app).await;
    assert!(
        actions(&app, &number)
            .await
            .contains(&"sla_breach".to_owned())
    );
}

/// Who got the message and when it may go out.
async fn held_until(app: &TestApp, number: &str, event: &str) -> Vec<chrono::DateTime<Utc>> {
    let t = app.store.ticket_by_number(number).await.unwrap().unwrap();
    app.store
        .outbox_for_ticket(t.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.event == event)
        .map(|m| m.next_attempt_at)
        .collect()
}

async fn managers_are_not_woken_for_tickets_below_p1(backend: Backend) {
    let app = spawn_app(backend).await;
    // Monday 22:00 in Shanghai; the managers' day starts Tuesday 08:30.
    let night = Utc.with_ymd_and_hms(2026, 11, 23, 14, 0, 0).unwrap();
    let morning = Utc.with_ymd_and_hms(2026, 11, 24, 0, 30, 0).unwrap();
    app.clock.set(night);
    let p3 = app.report("li.na", &printer_fault()).await;
    let p1 = app.report("li.na", &printer_outage()).await;
    assert_eq!(app.detail(&p1).await["ticket"]["priority"], "P1");
    for number in [&p3, &p1] {
        app.act(
            &token("alice"),
            number,
            "escalate",
            json!({"note": "需要专家"}),
            StatusCode::OK,
        )
        .await;
        app.act(
            &token("carol"),
            number,
            "escalate",
            json!({"note": "需要管理层决定"}),
            StatusCode::OK,
        )
        .await;
    }
    assert_eq!(
        held_until(&app, &p3, "ticket_escalated_to_managers").await,
        [morning]
    );
    assert_eq!(
        held_until(&app, &p1, "ticket_escalated_to_managers").await,
        [night]
    );
    // Engineers and reporters are never held.
    assert!(
        held_until(&app, &p3, "ticket_escalated")
            .await
            .iter()
            .all(|t| *t == night)
    );
}

async fn a_missed_progress_note_reminds_the_engineer_and_reassures_the_reporter(backend: Backend) {
    let app = spawn_app(backend).await;
    let t0 = app.desk.now();
    let p1 = app.report("li.na", &printer_outage()).await;
    app.act(&token("alice"), &p1, "accept", json!({}), StatusCode::OK)
        .await;
    // P1: a progress note is due every 30 minutes while the job is worked.
    app.clock.set(t0 + Duration::minutes(29));
    app.act(
        &token("alice"),
        &p1,
        "progress",
        json!({"note": "正在排查打印服务器"}),
        StatusCode::OK,
    )
    .await;
    app.clock.set(t0 + Duration::minutes(58));
    tick(&app).await;
    assert!(
        !actions(&app, &p1)
            .await
            .contains(&"progress_missed".to_owned()),
        "the note reset the period"
    );
    app.clock.set(t0 + Duration::minutes(59));
    tick(&app).await;
    let audit = actions(&app, &p1).await;
    assert_eq!(
        audit.iter().filter(|a| *a == "progress_missed").count(),
        1,
        "{audit:?}"
    );
    let t = app.store.ticket_by_number(&p1).await.unwrap().unwrap();
    let outbox = app.store.outbox_for_ticket(t.id).await.unwrap();
    let to = |event: &str| {
        outbox
            .iter()
            .filter(|m| m.event == event)
            .map(|m| m.to)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        to("progress_overdue"),
        [baoxiu::store::Recipient::Engineer(t.assignee.unwrap())]
    );
    assert_eq!(
        to("work_continues"),
        [baoxiu::store::Recipient::Reporter(t.reporter)]
    );
    let progress = clock(&clocks(&app, &p1).await, ClockKind::Progress);
    assert_eq!(progress.breaches, 1);
}

/// A P2 database fault (part of the users, work stopped): the database group has nobody.
fn database_fault() -> serde_json::Value {
    json!({"department": "财务部", "phone": "13800138000", "site": "总部",
           "category": "database", "description": "ERP 数据库连不上",
           "people_affected": 5, "impact": "some", "urgency": "high"})
}

/// Who got `event` about the ticket, and when it may go out.
async fn sent_to(
    app: &TestApp,
    number: &str,
    event: &str,
) -> Vec<(baoxiu::store::Recipient, chrono::DateTime<Utc>)> {
    let t = app.store.ticket_by_number(number).await.unwrap().unwrap();
    app.store
        .outbox_for_ticket(t.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.event == event)
        .map(|m| (m.to, m.next_attempt_at))
        .collect()
}

async fn manager(app: &TestApp, handle: &str) -> baoxiu::store::Recipient {
    let e = app.desk.engineer_by_handle(handle).await.unwrap().unwrap();
    baoxiu::store::Recipient::Engineer(e.id)
}

async fn nobody_on_duty_is_news_at_any_hour(backend: Backend) {
    // 7 × 24: a P2 reported at 22:00 with nobody on duty reaches a manager at once, not
    // at 08:30 the next morning.
    let app = spawn_app(backend).await;
    let night = Utc.with_ymd_and_hms(2026, 11, 23, 14, 0, 0).unwrap(); // Monday 22:00
    app.clock.set(night);
    let p2 = app.report("li.na", &database_fault()).await;
    assert_eq!(app.detail(&p2).await["ticket"]["priority"], "P2");
    let mia = manager(&app, "mia").await;
    assert_eq!(
        sent_to(&app, &p2, "no_engineer_on_duty").await,
        [(mia, night)]
    );
    // The response breach with nobody assigned escalates to the managers (P2: after 1 h):
    // not held either.
    let escalated = night + Duration::minutes(90);
    app.clock.set(escalated);
    tick(&app).await;
    assert_eq!(
        actions(&app, &p2).await,
        ["sla_breach", "escalate", "escalate"]
    );
    assert_eq!(
        sent_to(&app, &p2, "ticket_escalated_to_managers").await,
        [(mia, escalated)]
    );
}

async fn the_on_call_manager_hears_when_nobody_works_the_ticket(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.managers.on_call = vec![
            toml::from_str(
                r#"
            handle = "zhou"
            hours = { mon = ["00:00-08:30", "17:30-24:00"], tue = ["00:00-08:30"] }
            "#,
            )
            .unwrap(),
        ];
    })
    .await;
    app.desk
        .add_engineer(
            &baoxiu::domain::ticket::Caller::Desk {
                name: "seed".into(),
            },
            baoxiu::desk::NewEngineer {
                handle: "zhou".into(),
                name: "周经理".into(),
                group: "desktop".into(),
                tier: baoxiu::domain::routing::Tier::Manager,
                on_duty: true,
            },
        )
        .await
        .unwrap();
    let (mia, zhou) = (manager(&app, "mia").await, manager(&app, "zhou").await);
    let night = Utc.with_ymd_and_hms(2026, 11, 23, 14, 0, 0).unwrap(); // Monday 22:00
    app.clock.set(night);
    let p2 = app.report("li.na", &database_fault()).await;
    assert_eq!(
        sent_to(&app, &p2, "no_engineer_on_duty").await,
        [(zhou, night)],
        "the on-call manager only, at once"
    );
    let escalated = night + Duration::minutes(90);
    app.clock.set(escalated);
    tick(&app).await;
    assert_eq!(
        sent_to(&app, &p2, "ticket_escalated_to_managers").await,
        [(zhou, escalated)]
    );
    assert!(
        sent_to(&app, &p2, "no_engineer_on_duty")
            .await
            .iter()
            .all(|(to, at)| *to == zhou && *at >= night && *at <= escalated),
        "every alert of the night to the on-call manager, at once"
    );

    // Tuesday 10:00 nobody is on call: every manager hears, at once.
    let day = Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap();
    app.clock.set(day);
    let again = app.report("li.na", &database_fault()).await;
    let mut got = sent_to(&app, &again, "no_engineer_on_duty").await;
    got.sort_by_key(|(r, _)| format!("{r:?}"));
    let mut want = vec![(mia, day), (zhou, day)];
    want.sort_by_key(|(r, _)| format!("{r:?}"));
    assert_eq!(got, want);
}

async fn the_replacement_rule_runs_on_wall_clock_time_through_pending(backend: Backend) {
    // An office-hours SLA calendar, and a contract that owes a device after 36 hours.
    let app = spawn_app_with(backend, |c| {
        c.calendar.kind = baoxiu::domain::calendar::CalendarKind::WorkingHours;
        c.sla.replacement_after = baoxiu::domain::sla::Span(Duration::hours(36));
    })
    .await;
    let t0 = app.desk.now(); // Monday 09:00
    let number = app.web_report("w-48", "张三").await;
    let alice = token("alice");
    app.act(&alice, &number, "accept", json!({}), StatusCode::OK)
        .await;
    app.act(
        &alice,
        &number,
        "pend",
        json!({"reason": "vendor", "note": "等厂家配件"}),
        StatusCode::OK,
    )
    .await;
    // Waiting for parts pauses the SLA clocks, never this one: 36 wall-clock hours after
    // the report (Tuesday 21:00), though only a few office hours have passed.
    let due = t0 + Duration::hours(36);
    app.clock.set(due - Duration::seconds(1));
    tick(&app).await;
    assert!(
        !actions(&app, &number)
            .await
            .contains(&"replacement_due".to_owned())
    );
    app.clock.set(due);
    tick(&app).await;
    assert!(
        actions(&app, &number)
            .await
            .contains(&"replacement_due".to_owned())
    );
    let t = app.store.ticket_by_number(&number).await.unwrap().unwrap();
    let outbox = app.store.outbox_for_ticket(t.id).await.unwrap();
    let offered = outbox
        .iter()
        .find(|m| m.event == "replacement_offered")
        .expect("the reporter is told");
    assert_eq!(offered.to, baoxiu::store::Recipient::Reporter(t.reporter));
    let parcel = app
        .chat
        .parcel(offered)
        .await
        .unwrap()
        .expect("a web reporter");
    let text = format!("{:?}", parcel.replies);
    assert!(text.contains("36 小时") && !text.contains("48"), "{text}");
    let mia = manager(&app, "mia").await;
    assert!(
        outbox
            .iter()
            .any(|m| m.event == "replacement_due" && m.to == mia)
    );

    // The loaner is recorded on the ticket, issued and returned, each with its audit event.
    let lent = app
        .act(
            &alice,
            &number,
            "issue_loaner",
            json!({"note": "备用笔记本 BJ-0012"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(lent["loaner"], "备用笔记本 BJ-0012");
    assert_eq!(lent["status"], "pending", "the repair goes on");
    app.act(
        &alice,
        &number,
        "issue_loaner",
        json!({"note": "另一台"}),
        StatusCode::CONFLICT,
    )
    .await;
    app.clock.set(due + Duration::days(2));
    let back = app
        .act(&alice, &number, "return_loaner", json!({}), StatusCode::OK)
        .await;
    let returned: chrono::DateTime<Utc> =
        serde_json::from_value(back["loaner_returned_at"].clone()).unwrap();
    assert_eq!(returned, due + Duration::days(2));
    let trail = app.detail(&number).await;
    let loans: Vec<(String, String)> = trail["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap_or("").contains("loaner"))
        .map(|e| {
            (
                e["action"].as_str().unwrap().into(),
                e["note"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        loans,
        [
            ("issue_loaner".into(), "备用笔记本 BJ-0012".into()),
            ("return_loaner".into(), "备用笔记本 BJ-0012".into())
        ]
    );
}
