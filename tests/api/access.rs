//! Who sees and does what, over HTTP: reporters their own tickets, engineers their group's,
//! managers everything; tokens verified.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, MANAGER, printer_fault, spawn_app, token};
use crate::on_both_backends;

on_both_backends!(
    tickets_are_confidential,
    actions_check_the_role,
    tokens_are_checked,
    engineers_manage_only_their_duty,
    engineers_do_not_read_what_reporters_said_of_them,
);

async fn numbers(app: &crate::helpers::TestApp, who: &str, query: &str) -> Vec<String> {
    let r = app.get(who, &format!("/api/tickets{query}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.expect("json");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["number"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn tickets_are_confidential(backend: Backend) {
    let app = spawn_app(backend).await;
    let lina = app.report("li.na", &printer_fault()).await;
    let fang = app
        .report("wang.fang", &json!({"department": "人事部", "phone": "021-5555-0100", "site": "分部", "category": "network", "description": "整层断网", "people_affected": 30}))
        .await;

    assert_eq!(numbers(&app, &token("li.na"), "").await, vec![lina.clone()]);
    assert_eq!(
        numbers(&app, &token("wang.fang"), "").await,
        vec![fang.clone()]
    );
    assert_eq!(
        numbers(&app, &token("alice"), "").await,
        vec![lina.clone()],
        "printer group"
    );
    assert_eq!(
        numbers(&app, &token("dave"), "").await,
        vec![fang.clone()],
        "network group"
    );
    assert_eq!(
        numbers(&app, &token("mia"), "").await,
        vec![fang.clone(), lina.clone()],
        "manager tier sees all"
    );
    assert_eq!(
        numbers(&app, MANAGER, "").await,
        vec![fang.clone(), lina.clone()]
    );

    // Someone else's ticket looks exactly like a missing one.
    for (who, number) in [
        (token("li.na"), &fang),
        (token("wang.fang"), &lina),
        (token("dave"), &lina),
    ] {
        let r = app.get(&who, &format!("/api/tickets/{number}")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["detail"], format!("ticket {number} was not found"));
    }
    let r = app
        .get(&token("li.na"), &format!("/api/tickets/{lina}"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    // Filters and paging.
    assert_eq!(
        numbers(&app, MANAGER, "?group=network").await,
        vec![fang.clone()]
    );
    assert_eq!(
        numbers(&app, MANAGER, "?priority=p2").await,
        vec![fang.clone()],
        "30 people: P2"
    );
    assert_eq!(
        numbers(&app, MANAGER, "?per_page=1&page=2").await,
        vec![lina.clone()]
    );
    let page: Value = app
        .get(MANAGER, "/api/tickets?per_page=1")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(page["total"], 2);
    // A filter cannot widen a reporter's view.
    assert!(
        numbers(&app, &token("li.na"), "?group=network")
            .await
            .is_empty()
    );
}

async fn actions_check_the_role(backend: Backend) {
    let app = spawn_app(backend).await;
    let n = app.report("li.na", &printer_fault()).await;
    // Reporters cannot accept; other groups cannot even see it; managers' desk token is not an engineer.
    app.act(
        &token("li.na"),
        &n,
        "accept",
        json!({}),
        StatusCode::FORBIDDEN,
    )
    .await;
    app.act(
        &token("dave"),
        &n,
        "accept",
        json!({}),
        StatusCode::NOT_FOUND,
    )
    .await;
    app.act(MANAGER, &n, "accept", json!({}), StatusCode::FORBIDDEN)
        .await;
    app.act(&token("alice"), &n, "accept", json!({}), StatusCode::OK)
        .await;
    // Only the assignee works the job.
    app.act(
        &token("bob"),
        &n,
        "start",
        json!({"mode": "remote"}),
        StatusCode::FORBIDDEN,
    )
    .await;
    app.act(
        &token("bob"),
        &n,
        "resolve",
        json!({"cause": "x", "solution": "y"}),
        StatusCode::FORBIDDEN,
    )
    .await;
    // Only managers reassign; only the reporter confirms.
    app.act(
        &token("alice"),
        &n,
        "reassign",
        json!({"group": "network"}),
        StatusCode::FORBIDDEN,
    )
    .await;
    app.act(
        &token("alice"),
        &n,
        "resolve",
        json!({"cause": "x", "solution": "y"}),
        StatusCode::OK,
    )
    .await;
    app.act(
        &token("alice"),
        &n,
        "confirm",
        json!({}),
        StatusCode::FORBIDDEN,
    )
    .await;
    app.act(MANAGER, &n, "confirm", json!({}), StatusCode::FORBIDDEN)
        .await;
    app.act(
        &token("wang.fang"),
        &n,
        "confirm",
        json!({}),
        StatusCode::NOT_FOUND,
    )
    .await;
    let d = app.detail(&n).await;
    assert_eq!(d["ticket"]["status"], "resolved");
    assert_eq!(
        d["audit"].as_array().map(Vec::len),
        Some(3),
        "refused actions leave no trace"
    );
    // Only managers add engineers or mark VIPs.
    let r = app
        .post(
            &token("alice"),
            "/api/engineers",
            &json!({"handle": "eve", "name": "Eve", "group": "printer"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app.get(&token("li.na"), "/api/engineers").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn tokens_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    for bad in ["", "manager-token-012345678", "MANAGER-TOKEN-0123456789"] {
        let r = app.get(bad, "/api/tickets").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad:?}");
        assert_eq!(
            r.headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        assert_eq!(
            r.headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json")
        );
    }
    let r = app
        .client
        .get(format!("{}/api/tickets", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
}

async fn engineers_manage_only_their_duty(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .patch(
            &token("alice"),
            "/api/engineers/1",
            &json!({"on_duty": false}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .patch(
            &token("alice"),
            "/api/engineers/2",
            &json!({"on_duty": false}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .patch(
            &token("alice"),
            "/api/engineers/1",
            &json!({"tier": "manager"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Off duty: new printer jobs are offered to bob only.
    let n = app.report("li.na", &printer_fault()).await;
    let t = app
        .store
        .ticket_by_number(&n)
        .await
        .expect("load")
        .expect("exists");
    let offered: Vec<String> = app
        .store
        .outbox_for_ticket(t.id)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|m| m.event == "job_offered")
        .map(|m| format!("{:?}", m.to))
        .collect();
    assert_eq!(offered, vec!["Engineer(EngineerId(2))"]);
    // Managers add engineers; handles are unique.
    let new = json!({"handle": "eve", "name": "Eve", "group": "printer", "tier": "expert"});
    assert_eq!(
        app.post(MANAGER, "/api/engineers", &new).await.status(),
        StatusCode::CREATED
    );
    let dup = app.post(MANAGER, "/api/engineers", &new).await;
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    let body: Value = dup.json().await.expect("json");
    assert_eq!(body["detail"], "handle is already in use");
    let groups: Value = app
        .get(&token("li.na"), "/api/groups")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(groups.as_array().map(Vec::len), Some(6));
}

/// Closes `number` (alice resolves, the reporter `key` confirms), sends its survey and
/// records `reply` as the reporter's answer.
pub(crate) async fn surveyed(
    app: &crate::helpers::TestApp,
    key: &str,
    number: &str,
    reply: baoxiu::desk::SurveyReply,
) {
    let alice = token("alice");
    app.act(&alice, number, "accept", json!({}), StatusCode::OK)
        .await;
    app.act(
        &alice,
        number,
        "resolve",
        json!({"cause": "搓纸轮磨损", "solution": "更换搓纸轮"}),
        StatusCode::OK,
    )
    .await;
    app.act(&token(key), number, "confirm", json!({}), StatusCode::OK)
        .await;
    let t = app
        .store
        .ticket_by_number(number)
        .await
        .expect("load")
        .expect("ticket");
    let survey = app.store.survey(t.id).await.expect("load").expect("survey");
    app.clock.set(survey.send_at);
    baoxiu::sla::Scheduler::new(app.desk.clone())
        .tick()
        .await
        .expect("tick");
    app.desk
        .answer_survey(
            &baoxiu::domain::ticket::Caller::Reporter(t.reporter),
            number,
            reply,
        )
        .await
        .expect("answered");
}

async fn engineers_do_not_read_what_reporters_said_of_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let low = app.report("li.na", &printer_fault()).await;
    surveyed(
        &app,
        "li.na",
        &low,
        baoxiu::desk::SurveyReply {
            rating: Some(2),
            comment: Some("LOW-NOTE 工程师态度很差".into()),
            complaint: false,
        },
    )
    .await;
    let complained = app.report("li.na", &printer_fault()).await;
    surveyed(
        &app,
        "li.na",
        &complained,
        baoxiu::desk::SurveyReply {
            rating: Some(1),
            comment: Some("COMPLAINT-TEXT 修了三次还坏".into()),
            complaint: true,
        },
    )
    .await;

    let audit = async |who: &str, number: &str| -> Value {
        let r = app.get(who, &format!("/api/tickets/{number}")).await;
        assert_eq!(r.status(), StatusCode::OK, "{who} reads {number}");
        let detail: Value = r.json().await.expect("json");
        detail["audit"].clone()
    };
    for number in [&low, &complained] {
        // Engineers of the group (first line, expert) see that the survey was answered,
        // not what was said, nor whether it was a complaint.
        for engineer in ["alice", "carol"] {
            let events = audit(&token(engineer), number).await;
            let text = events.to_string();
            assert!(
                !text.contains("LOW-NOTE")
                    && !text.contains("COMPLAINT-TEXT")
                    && !text.contains("rating")
                    && !text.contains("complaint"),
                "{engineer} reads {number}: {text}"
            );
            let answered: Vec<&Value> = events
                .as_array()
                .expect("events")
                .iter()
                .filter(|e| e["action"] == "survey_answered")
                .collect();
            assert_eq!(answered.len(), 1, "{engineer}: {text}");
            assert_eq!(answered[0]["note"], Value::Null, "{text}");
        }
    }
    // The desk, a manager-tier engineer and the reporter herself still read it all.
    for who in [MANAGER.to_owned(), token("mia"), token("li.na")] {
        assert!(
            audit(&who, &low).await.to_string().contains("LOW-NOTE"),
            "{who}"
        );
        let text = audit(&who, &complained).await.to_string();
        assert!(
            text.contains("COMPLAINT-TEXT") && text.contains("\"complaint\""),
            "{who}: {text}"
        );
    }
}
