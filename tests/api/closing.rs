//! Closing the loop through the conversation service and the outbox, in virtual time:
//! "is it fixed?" → confirmed or reopened or auto-closed → the next-day survey →
//! its answers, and the bad answers that must change nothing.

use std::sync::{Arc, Mutex};

use baoxiu::conversation::Person;
use baoxiu::domain::ticket::Caller;
use baoxiu::flow::{Incoming, Outgoing};
use baoxiu::outbox::dispatcher::Dispatcher;
use baoxiu::outbox::{Courier, Delivery, Parcel};
use chrono::{Duration, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, MANAGER, TestApp, spawn_app, spawn_app_with, tick, token};
use crate::on_both_backends;

on_both_backends!(
    fixed_closes_and_the_survey_comes_the_day_after_resolution,
    the_next_working_day_survey_stays_a_setting,
    not_fixed_reopens_to_the_same_engineer,
    no_answer_reminds_then_puts_the_ticket_on_the_follow_up_list,
    auto_close_stays_a_setting_never_as_confirmed,
    bad_survey_answers_change_nothing,
);

/// A web door that keeps what it was given.
#[derive(Default)]
struct Inbox(Mutex<Vec<Parcel>>);

impl Courier for Inbox {
    fn channel(&self) -> &'static str {
        "web"
    }
    fn deliver<'a>(&'a self, p: &'a Parcel) -> Delivery<'a> {
        Box::pin(async move {
            self.0.lock().unwrap().push(p.clone());
            Ok(())
        })
    }
}

struct Loop {
    app: TestApp,
    inbox: Arc<Inbox>,
    dispatcher: Dispatcher,
    person: Person,
    number: String,
}

impl Loop {
    /// A web reporter's ticket, accepted and resolved by alice.
    async fn resolved(app: TestApp, web_id: &str) -> Loop {
        let person = Person {
            channel: "web".into(),
            external_id: web_id.into(),
            name: "张三".into(),
            language: None,
        };
        let number = app.web_report(web_id, "张三").await;
        let alice = token("alice");
        app.act(&alice, &number, "accept", json!({}), StatusCode::OK)
            .await;
        app.act(
            &alice,
            &number,
            "resolve",
            json!({"cause": "搓纸轮磨损", "solution": "更换搓纸轮"}),
            StatusCode::OK,
        )
        .await;
        let inbox = Arc::new(Inbox::default());
        let dispatcher = app.dispatcher(vec![inbox.clone()]);
        Loop {
            app,
            inbox,
            dispatcher,
            person,
            number,
        }
    }

    /// Delivers what is due and returns the parcel of `event` for our reporter.
    async fn received(&self, event: &str) -> Parcel {
        // One message per person per round (order is kept): run until the queue is empty.
        while self.dispatcher.run_once().await.unwrap().handled() > 0 {}
        self.inbox
            .0
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|p| p.event == event && p.to.external_id == self.person.external_id)
            .cloned()
            .unwrap_or_else(|| panic!("no {event} delivered"))
    }

    /// The id of the button whose label starts with `label` in a parcel.
    fn button(parcel: &Parcel, label: &str) -> String {
        parcel
            .replies
            .iter()
            .find_map(|r| match r {
                Outgoing::Choices { options, .. } => options
                    .iter()
                    .find(|(_, l)| l.starts_with(label))
                    .map(|(id, _)| id.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no button {label} in {parcel:?}"))
    }

    async fn say(&self, input: Incoming) -> String {
        let replies = self.app.chat.handle(&self.person, input).await.unwrap();
        replies
            .iter()
            .map(|r| match r {
                Outgoing::Text(t) => t.clone(),
                Outgoing::Choices { text, .. } => text.clone(),
                Outgoing::Form { title, .. } => title.clone(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn ticket(&self) -> serde_json::Value {
        self.app.detail(&self.number).await["ticket"].clone()
    }

    async fn survey_row(&self) -> Option<baoxiu::store::Survey> {
        let store = &self.app.store;
        let t = store.ticket_by_number(&self.number).await.unwrap().unwrap();
        store.survey(t.id).await.unwrap()
    }

    async fn survey(&self) -> baoxiu::store::Survey {
        self.survey_row().await.expect("a survey")
    }
}

/// Resolved and confirmed on Friday 2026-11-27 at 18:00 local, with Monday 11-30 an office
/// holiday.
async fn resolved_on_friday_evening(backend: Backend, day: baoxiu::desk::SurveyDay) -> Loop {
    let app = spawn_app_with(backend, |c| {
        c.manager_hours.holidays = vec![chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()];
        c.survey.day = day;
    })
    .await;
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap()); // Fri 18:00 local
    let l = Loop::resolved(app, "w-1").await;
    let asked = l.received("ticket_resolved").await;
    let yes = Loop::button(&asked, "已修复");
    assert!(l.say(Incoming::Choice(yes)).await.contains("感谢确认"));
    let t = l.ticket().await;
    assert_eq!(
        (t["status"].as_str(), t["closure"].as_str()),
        (Some("closed"), Some("confirmed"))
    );
    l
}

/// The survey goes out at `at`, not a second before, and once.
async fn sent_exactly_at(l: &Loop, at: chrono::DateTime<Utc>) {
    assert_eq!(l.survey().await.send_at, at);
    l.app.clock.set(at - Duration::seconds(1));
    assert_eq!(tick(&l.app).await.surveys, 0, "not before its time");
    l.app.clock.set(at);
    assert_eq!(tick(&l.app).await.surveys, 1);
    assert_eq!(tick(&l.app).await.surveys, 0, "sent once");
}

async fn the_next_working_day_survey_stays_a_setting(backend: Backend) {
    let l = resolved_on_friday_evening(backend, baoxiu::desk::SurveyDay::NextWorkingDay).await;
    let tuesday_10 = Utc.with_ymd_and_hms(2026, 12, 1, 2, 0, 0).unwrap();
    sent_exactly_at(&l, tuesday_10).await;
}

async fn fixed_closes_and_the_survey_comes_the_day_after_resolution(backend: Backend) {
    // Plan 002: the day after the fault is cleared — Saturday 10:00, not the next working
    // morning (Tuesday).
    let l = resolved_on_friday_evening(backend, Default::default()).await;
    let saturday_10 = Utc.with_ymd_and_hms(2026, 11, 28, 2, 0, 0).unwrap();
    sent_exactly_at(&l, saturday_10).await;

    let survey = l.received("survey_request").await;
    let four = Loop::button(&survey, "4");
    l.say(Incoming::Choice(four)).await; // asks for an optional comment
    assert!(
        l.say(Incoming::Text("工程师很快就到了".into()))
            .await
            .contains("感谢您的评价")
    );
    let s = l.survey().await;
    assert_eq!(
        (s.status.as_str(), s.rating, s.complaint),
        ("answered", Some(4), false)
    );
    assert_eq!(s.comment.as_deref(), Some("工程师很快就到了"));

    // Answering again changes nothing.
    let five = Loop::button(&survey, "5");
    assert!(l.say(Incoming::Choice(five)).await.contains("已经回答过"));
    assert_eq!(l.survey().await.rating, Some(4));
}

async fn not_fixed_reopens_to_the_same_engineer(backend: Backend) {
    let l = Loop::resolved(spawn_app(backend).await, "w-2").await;
    let asked = l.received("ticket_resolved").await;
    // Typed answers work as well as buttons: the notice opened the question.
    l.say(Incoming::Text("没好".into())).await;
    let reply = l.say(Incoming::Text("还是卡纸".into())).await;
    assert!(reply.contains("已重新打开"), "{reply}");
    let t = l.ticket().await;
    assert_eq!(t["status"], "reopened");
    assert_eq!(t["reopen_count"], 1);
    let d = l.app.detail(&l.number).await;
    let clocks = d["clocks"].as_array().unwrap();
    let resolution = clocks.iter().find(|c| c["kind"] == "resolution").unwrap();
    assert_eq!(
        resolution["status"], "running",
        "the resolution clock resumed"
    );
    assert!(
        l.survey_row().await.is_none(),
        "no survey for an open ticket"
    );
    // The old button is for a question already answered: the desk refuses, nothing changes.
    let yes = Loop::button(&asked, "已修复");
    l.say(Incoming::Choice(yes)).await;
    assert_eq!(l.ticket().await["status"], "reopened");
}

impl Loop {
    /// The ticket's messages: event and recipient.
    async fn messages(&self) -> Vec<(String, baoxiu::store::Recipient)> {
        self.app
            .outbox_of(&self.number)
            .await
            .into_iter()
            .map(|m| (m.event, m.to))
            .collect()
    }

    /// How many of the ticket's messages are `event`.
    async fn count(&self, event: &str) -> usize {
        self.messages()
            .await
            .iter()
            .filter(|(e, _)| e == event)
            .count()
    }

    /// The numbers on the managers' follow-up list.
    async fn follow_ups(&self) -> Vec<String> {
        let r = self.app.get(MANAGER, "/api/follow-ups").await;
        assert_eq!(r.status(), StatusCode::OK);
        let list: serde_json::Value = r.json().await.unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .map(|t| t["number"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn no_answer_reminds_then_puts_the_ticket_on_the_follow_up_list(backend: Backend) {
    // Plan 002: closed only after the user confirms. Reminded after one and two days,
    // then on the managers' follow-up list — never closed by the desk.
    let l = Loop::resolved(spawn_app(backend).await, "w-3").await;
    let resolved_at = l.app.desk.now();
    l.app
        .clock
        .set(resolved_at + Duration::days(1) - Duration::seconds(1));
    tick(&l.app).await;
    assert_eq!(l.count("confirm_reminder").await, 0);
    l.app.clock.set(resolved_at + Duration::days(1));
    tick(&l.app).await;
    assert_eq!(l.count("confirm_reminder").await, 1);
    // The reminder carries the "is it fixed?" buttons.
    let reminder = l.received("confirm_reminder").await;
    Loop::button(&reminder, "已修复");
    l.app.clock.set(resolved_at + Duration::days(2));
    tick(&l.app).await;
    assert_eq!(l.count("confirm_reminder").await, 2);

    l.app.clock.set(resolved_at + Duration::days(3));
    tick(&l.app).await;
    let t = l.ticket().await;
    assert_eq!(
        (t["status"].as_str(), t["closure"].as_str()),
        (Some("resolved"), None),
        "never closed without the reporter"
    );
    assert_eq!(l.follow_ups().await, vec![l.number.clone()]);
    let mia = l.app.desk.engineer_by_handle("mia").await.unwrap().unwrap();
    assert!(
        l.messages().await.contains(&(
            "follow_up_due".into(),
            baoxiu::store::Recipient::Engineer(mia.id)
        )),
        "the managers are told to call"
    );
    assert!(l.survey_row().await.is_none(), "no survey before closure");
    let r = l.app.get(&token("alice"), "/api/follow-ups").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "managers only");
    // Days later nothing more happens on its own.
    l.app.clock.set(resolved_at + Duration::days(10));
    tick(&l.app).await;
    assert_eq!(l.ticket().await["status"], "resolved");
    assert_eq!(l.count("confirm_reminder").await, 2);

    // Called, the reporter confirms with the reminder's button: closed, off the list.
    l.say(Incoming::Choice(Loop::button(&reminder, "已修复")))
        .await;
    let t = l.ticket().await;
    assert_eq!(
        (t["status"].as_str(), t["closure"].as_str()),
        (Some("closed"), Some("confirmed"))
    );
    assert!(l.follow_ups().await.is_empty());
}

async fn auto_close_stays_a_setting_never_as_confirmed(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.sla.unconfirmed = baoxiu::domain::sla::Unconfirmed::AutoClose;
    })
    .await;
    let l = Loop::resolved(app, "w-3").await;
    let resolved_at = l.app.desk.now();
    l.app
        .clock
        .set(resolved_at + Duration::days(3) - Duration::seconds(1));
    tick(&l.app).await;
    assert_eq!(l.ticket().await["status"], "resolved");
    l.app.clock.set(resolved_at + Duration::days(3));
    tick(&l.app).await;
    let t = l.ticket().await;
    assert_eq!(
        (t["status"].as_str(), t["closure"].as_str()),
        (Some("closed"), Some("auto_closed"))
    );
    assert!(l.follow_ups().await.is_empty());
    assert_eq!(
        l.survey().await.status,
        "sent",
        "auto-closed tickets are surveyed too, at once: the day after the resolution is past"
    );
    // A late "fixed" changes nothing.
    let asked = l.received("ticket_resolved").await;
    l.say(Incoming::Choice(Loop::button(&asked, "已修复")))
        .await;
    assert_eq!(l.ticket().await["closure"], "auto_closed");
}

async fn bad_survey_answers_change_nothing(backend: Backend) {
    let l = Loop::resolved(spawn_app(backend).await, "w-4").await;
    let asked = l.received("ticket_resolved").await;
    l.say(Incoming::Choice(Loop::button(&asked, "已修复")))
        .await;
    let send_at = l.survey().await.send_at;
    l.app.clock.set(send_at);
    tick(&l.app).await;
    let survey = l.received("survey_request").await;

    // Someone else's survey: another reporter pressing this survey's button.
    let stranger = Person {
        channel: "web".into(),
        external_id: "w-stranger".into(),
        name: "王五".into(),
        language: None,
    };
    let replies = l
        .app
        .chat
        .handle(&stranger, Incoming::Choice(Loop::button(&survey, "5")))
        .await
        .unwrap();
    assert!(format!("{replies:?}").contains("找不到"), "{replies:?}");
    assert_eq!(l.survey().await.status, "sent");

    // A low rating needs a reason; the flow insists, the desk too.
    l.say(Incoming::Choice(Loop::button(&survey, "1"))).await;
    let refused = l
        .app
        .desk
        .answer_survey(
            &Caller::Reporter(baoxiu::domain::ReporterId(l.survey().await.reporter_id)),
            &l.number,
            baoxiu::desk::SurveyReply {
                rating: Some(1),
                comment: None,
                complaint: false,
            },
        )
        .await;
    assert!(refused.is_err());
    assert_eq!(l.survey().await.status, "sent");

    // Expired: seven days later the button is refused and the survey stays unanswered.
    l.app.clock.set(send_at + Duration::days(7));
    let reply = l.say(Incoming::Choice(Loop::button(&survey, "5"))).await;
    assert!(reply.contains("已过期"), "{reply}");
    tick(&l.app).await;
    let s = l.survey().await;
    assert_eq!(
        (s.status.as_str(), s.rating),
        ("expired", None),
        "never a default score"
    );
}
