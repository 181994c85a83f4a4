//! The first engineer to accept wins, atomically, on both backends.

use baoxiu::desk::DeskError;
use baoxiu::domain::routing::Tier;
use baoxiu::domain::ticket::{Action, Caller};
use baoxiu::store::NewEngineer;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, printer_fault, spawn_app, token};
use crate::on_both_backends;

on_both_backends!(
    simultaneous_accepts_have_one_winner,
    two_http_accepts_one_polite_refusal
);

async fn simultaneous_accepts_have_one_winner(backend: Backend) {
    let app = spawn_app(backend).await;
    let desk = &app.desk;
    let seed = Caller::Desk {
        name: "seed".into(),
    };
    let mut engineers = Vec::new();
    for i in 0..12 {
        engineers.push(
            desk.add_engineer(
                &seed,
                NewEngineer {
                    handle: format!("racer{i}"),
                    name: format!("Racer {i}"),
                    group: "printer".into(),
                    tier: Tier::FirstLine,
                    on_duty: true,
                },
            )
            .await
            .expect("add"),
        );
    }
    for round in 0..5 {
        let n = app.report("li.na", &printer_fault()).await;
        let attempts = engineers.iter().map(|e| {
            let desk = desk.clone();
            let caller = Caller::Engineer(e.clone());
            let n = n.clone();
            tokio::spawn(async move { desk.act(&caller, &n, Action::Accept).await })
        });
        let mut winners = Vec::new();
        let mut refused = 0;
        for h in attempts.collect::<Vec<_>>() {
            match h.await.expect("task") {
                Ok(t) => winners.push(t.assignee),
                Err(DeskError::AlreadyTaken { by }) => {
                    assert!(by.starts_with("Racer "), "refusal names the winner: {by}");
                    refused += 1;
                }
                Err(other) => panic!("round {round}: unexpected {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}");
        assert_eq!(refused, engineers.len() - 1);
        let d = app.detail(&n).await;
        let accepts = d["audit"]
            .as_array()
            .expect("audit")
            .iter()
            .filter(|e| e["action"] == "accept")
            .count();
        assert_eq!(accepts, 1, "one audit event for one accept");
        assert_eq!(d["ticket"]["assignee"], json!(winners[0].map(|e| e.0)));
        let t = app
            .store
            .ticket_by_number(&n)
            .await
            .expect("load")
            .expect("exists");
        let told = app
            .store
            .outbox_for_ticket(t.id)
            .await
            .expect("outbox")
            .iter()
            .filter(|m| m.event == "ticket_accepted")
            .count();
        assert_eq!(told, 1, "the reporter is told once");
    }
}

async fn two_http_accepts_one_polite_refusal(backend: Backend) {
    let app = spawn_app(backend).await;
    let n = app.report("li.na", &printer_fault()).await;
    let path = format!("/api/tickets/{n}/accept");
    let (alice, bob, empty) = (token("alice"), token("bob"), json!({}));
    let (a, b) = tokio::join!(
        app.post(&alice, &path, &empty),
        app.post(&bob, &path, &empty)
    );
    let mut statuses = vec![a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::OK, StatusCode::CONFLICT]);
    let loser = if a.status() == StatusCode::CONFLICT {
        a
    } else {
        b
    };
    let body: Value = loser.json().await.expect("json");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("sorry, ") && detail.ends_with(" has already accepted this job"),
        "{detail}"
    );
}
