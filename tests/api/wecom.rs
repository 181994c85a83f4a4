//! The WeCom door end to end: the door's callback served over real HTTP, wecomsim (the
//! local stand-in, with its own implementation of the callback crypto) sending signed
//! and encrypted callbacks and serving the API, over a real database.

use std::collections::BTreeMap;
use std::time::Duration;

use baoxiu::domain::ticket::Caller;
use baoxiu::doors::wecom::crypto::AesKey;
use baoxiu::doors::wecom::{CALLBACK_PATH, Wecom, WecomConfig};
use baoxiu::flow::{Lang, Outgoing};
use baoxiu::outbox::{Address, Parcel};
use chrono::{TimeZone, Utc};
use secrecy::SecretString;
use serde_json::Value;
use wecomsim::{Received, SimConfig, WecomSim};

use crate::helpers::{Backend, MANAGER, TestApp, spawn_app, token};
use crate::on_both_backends;

on_both_backends!(
    the_url_check_answers_the_plain_echo_and_refuses_forgeries,
    forged_replayed_and_stale_callbacks_change_nothing,
    the_whole_loop_over_wecom,
    an_expired_token_mid_conversation_is_renewed_once_and_nothing_is_lost,
    a_burst_to_one_member_is_held_back_and_delivered_complete,
    a_callback_recorded_before_a_crash_is_handled_once_after_it,
    an_engineer_links_with_a_code_and_a_userid_moves_between_records,
    a_manager_sets_an_engineers_userid_over_rest_and_a_bad_one_changes_nothing,
    callbacks_are_kept_as_long_as_inbox_days_says,
    two_instances_together_never_send_one_member_more_than_thirty_a_minute,
    over_long_labels_are_shortened_so_wecom_refuses_none,
);

const ANNA: &str = "anna.w";
/// A photo's bytes (a JPEG's first bytes are enough for the stand-in).
const PHOTO: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1];
/// How long to wait for the door's sends to reach the stand-in (real time: I/O).
const ARRIVES_WITHIN: Duration = Duration::from_secs(15);

async fn sim() -> WecomSim {
    WecomSim::start(SimConfig::default())
        .await
        .expect("wecomsim starts")
}

fn config(sim: &WecomSim, groups: &[(&str, &[&str])]) -> WecomConfig {
    let c = sim.config();
    WecomConfig {
        corp_id: c.corp_id.clone(),
        agent_id: c.agent_id,
        api_url: sim.url(),
        secret: SecretString::from(c.secret.clone()),
        token: SecretString::from(c.token.clone()),
        key: AesKey::from_encoding_key(&c.encoding_aes_key).expect("key"),
        group_members: groups
            .iter()
            .map(|(g, m)| ((*g).to_owned(), m.iter().map(|u| (*u).to_owned()).collect()))
            .collect::<BTreeMap<_, _>>(),
        timestamp_window: Duration::from_secs(300),
        answer_within: Duration::from_secs(3),
        hold_back: true,
        keep_callbacks: Duration::from_secs(7 * 86_400),
    }
}

/// The door over the app, its callback served on a port of its own, the stand-in
/// pointed at it and set to the app's clock.
async fn door(
    app: &TestApp,
    sim: &WecomSim,
    config: WecomConfig,
) -> (Wecom, tokio::task::JoinHandle<()>) {
    let ports = app.desk.ports();
    let door = Wecom::new(app.chat.clone(), ports.wecom, ports.photos, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = door.callback_router();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    sim.set_callback(&format!("http://{addr}{CALLBACK_PATH}"));
    sim.set_time(app.clock_now().timestamp());
    (door, task)
}

/// A WeCom member talking to the app.
struct Member<'a> {
    sim: &'a WecomSim,
    id: &'a str,
    /// Transcript entries seen.
    seen: usize,
}

impl<'a> Member<'a> {
    fn new(sim: &'a WecomSim, id: &'a str) -> Member<'a> {
        Member { sim, id, seen: 0 }
    }

    /// The first new entry containing `expect` (waiting for the door's sends).
    async fn expect(&mut self, expect: &str) -> Received {
        let until = tokio::time::Instant::now() + ARRIVES_WITHIN;
        loop {
            let t = self.sim.transcript(self.id);
            if let Some((i, r)) = t
                .iter()
                .enumerate()
                .skip(self.seen)
                .find(|(_, r)| r.text.contains(expect))
            {
                self.seen = i + 1;
                return r.clone();
            }
            assert!(
                tokio::time::Instant::now() < until,
                "{} never received {expect:?}; transcript: {t:#?}",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The first new entry with a button whose label contains `label`.
    async fn expect_button(&mut self, label: &str) -> Received {
        let until = tokio::time::Instant::now() + ARRIVES_WITHIN;
        loop {
            let t = self.sim.transcript(self.id);
            if let Some((i, r)) = t
                .iter()
                .enumerate()
                .skip(self.seen)
                .find(|(_, r)| r.buttons.iter().any(|(_, l)| l.contains(label)))
            {
                self.seen = i + 1;
                return r.clone();
            }
            assert!(
                tokio::time::Instant::now() < until,
                "{} never got a button {label:?}; transcript: {t:#?}",
                self.id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn say(&mut self, text: &str, expect: &str) -> Received {
        let a = self.sim.send_text(self.id, text).await.expect("callback");
        assert_eq!(a.status, 200);
        self.expect(expect).await
    }

    /// Taps the newest card button whose label contains `label`.
    async fn tap(&mut self, label: &str, expect: &str) -> Received {
        let t = self.sim.transcript(self.id);
        let (task, key) = t
            .iter()
            .rev()
            .find_map(|r| {
                let (key, _) = r.buttons.iter().find(|(_, l)| l.contains(label))?;
                Some((r.task_id.clone()?, key.clone()))
            })
            .unwrap_or_else(|| panic!("no button {label:?} for {}: {t:#?}", self.id));
        let a = self.sim.tap(self.id, &task, &key).await.expect("callback");
        assert_eq!(a.status, 200);
        self.expect(expect).await
    }
}

fn ticket_number(text: &str) -> Option<String> {
    let start = text.find("BX-")?;
    Some(
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect(),
    )
}

/// The report as a WeCom reporter in the directory walks it, with buttons, typed answers
/// and a photo; its number.
async fn walk_report(anna: &mut Member<'_>) -> String {
    anna.say("/start", "请选择故障类别").await;
    anna.tap("打印机与外设", "是哪台打印机").await;
    anna.say("HP LaserJet M404", "打印机是什么问题").await;
    anna.tap("卡纸", "哪个地点").await;
    anna.say("上海总部", "哪栋楼").await;
    anna.say("B 座", "哪个房间").await;
    anna.say("12F-1203", "资产标签").await;
    anna.say("prn-12f-01", "请描述一下故障").await;
    let a = anna.sim.send_photo(anna.id, PHOTO).await.expect("photo");
    assert_eq!(a.status, 200);
    anna.expect("已收到照片").await;
    anna.say("二号纸盒卡纸 ]]> <xml>", "什么时候开始").await;
    anna.tap("刚刚", "有多少人受影响").await;
    anna.tap("几个人", "对工作的影响").await;
    // Department and phone come from the directory: never asked.
    let summary = anna.tap("工作停了", "请核对报修信息").await;
    assert!(
        summary.text.contains("二号纸盒卡纸 ]]> <xml>"),
        "typed text comes back as typed: {summary:?}"
    );
    let receipt = anna.tap("提交", "工单").await;
    ticket_number(&receipt.text).expect("a ticket number in the receipt")
}

async fn ticket_json(app: &TestApp, number: &str) -> Value {
    let desk = Caller::Desk {
        name: "test".into(),
    };
    let d = app.desk.ticket(&desk, number).await.expect("ticket");
    serde_json::to_value(&d).expect("json")
}

async fn link(app: &TestApp, handle: &str, user: &str) {
    let desk = Caller::Desk {
        name: "test".into(),
    };
    app.desk
        .set_engineer_wecom_id(&desk, handle, Some(user))
        .await
        .expect("linked");
}

async fn the_url_check_answers_the_plain_echo_and_refuses_forgeries(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (_door, task) = door(&app, &sim, config(&sim, &[])).await;
    assert_eq!(sim.verify_url().await.expect("check"), (200, true));
    // A stand-in with another Token signs differently: refused before decrypting.
    let other = WecomSim::start(SimConfig {
        token: "othertoken".into(),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    other.set_callback(&callback_url(&sim));
    other.set_time(app.clock_now().timestamp());
    assert_eq!(other.verify_url().await.expect("check"), (401, false));
    task.abort();
}

fn callback_url(sim: &WecomSim) -> String {
    sim.callback_url().expect("set")
}

async fn forged_replayed_and_stale_callbacks_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (_door, task) = door(&app, &sim, config(&sim, &[])).await;
    let inbox = || app.count("wecom_inbox");

    // A forged signature: 401, nothing stored, no reporter created.
    let (query, body) = sim.seal(&sim.text_xml(ANNA, "/start"));
    let forged = query.replacen("msg_signature=", "msg_signature=0", 1);
    let a = sim.post_raw(ANNA, &forged, &body).await.expect("post");
    assert_eq!(a.status, 401);
    // A body altered after signing: 401 too.
    let altered = body.replacen("<Encrypt><![CDATA[", "<Encrypt><![CDATA[A", 1);
    assert_eq!(
        sim.post_raw(ANNA, &query, &altered)
            .await
            .expect("post")
            .status,
        401
    );
    // Not even XML, unsigned: 401.
    assert_eq!(
        sim.post_raw(ANNA, "", "hello").await.expect("post").status,
        401
    );
    assert_eq!(inbox().await, 0);
    assert_eq!(app.count("reporter_identities").await, 0);

    // The genuine one: stored, answered with the passive reply.
    let a = sim.post_raw(ANNA, &query, &body).await.expect("post");
    assert_eq!(a.status, 200);
    assert!(a.passive.is_none(), "choices go as a card, not passively");
    assert_eq!(inbox().await, 1);
    let mut anna = Member::new(&sim, ANNA);
    anna.expect("请选择故障类别").await;
    // Replayed as is (WeCom's retry, or an attacker): answered, no second effect.
    let again = sim.post_raw(ANNA, &query, &body).await.expect("post");
    assert_eq!((again.status, again.passive), (200, None));
    assert_eq!(inbox().await, 1);
    // The conversation moved on once: the next answer is the next question, after the
    // one card.
    anna.tap("打印机与外设", "是哪台打印机").await;
    assert_eq!(sim.transcript(ANNA).len(), 2, "{:#?}", sim.transcript(ANNA));
    assert_eq!(inbox().await, 2);
    // Both were marked handled (with their steps' state).
    let open = "SELECT COUNT(*) FROM wecom_inbox WHERE handled_at IS NULL";
    assert_eq!(app.scalar(open).await, 0);

    // Stale: signed correctly, but an hour old by the desk's clock.
    sim.advance(-3600);
    let (q, b) = sim.seal(&sim.text_xml(ANNA, "/cancel"));
    assert_eq!(sim.post_raw(ANNA, &q, &b).await.expect("post").status, 401);
    sim.advance(3600);
    assert_eq!(inbox().await, 2);
    // For another corporation (same secrets, another CorpID): refused.
    let other = WecomSim::start(SimConfig {
        corp_id: "wwother".into(),
        ..SimConfig::default()
    })
    .await
    .expect("sim");
    other.set_callback(&callback_url(&sim));
    other.set_time(app.clock_now().timestamp());
    let a = other.send_text(ANNA, "/cancel").await.expect("post");
    assert_eq!(a.status, 400);
    assert_eq!(inbox().await, 2);
    assert_eq!(sim.transcript(ANNA).len(), 2, "nothing more was said");
    task.abort();
}

async fn the_whole_loop_over_wecom(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    sim.add_department(3, "财务部");
    sim.add_member(ANNA, "安娜", 3, "+86 21 5555 0100");
    let members: &[&str] = &["alice.w", "bob.w", "carol.w"];
    let (door, task) = door(&app, &sim, config(&sim, &[("printer", members)])).await;
    for (handle, user) in [
        ("alice", "alice.w"),
        ("bob", "bob.w"),
        ("carol", "carol.w"),
        ("dave", "dave.w"),
    ] {
        link(&app, handle, user).await;
    }
    let mut anna = Member::new(&sim, ANNA);
    let number = walk_report(&mut anna).await;
    // The reporter's name came from the directory: never asked.
    let t = ticket_json(&app, &number).await;
    assert_eq!(t["ticket"]["intake"]["channel"], "wecom", "{t}");
    assert_eq!(t["ticket"]["intake"]["department"], "财务部", "{t}");
    assert_eq!(t["ticket"]["intake"]["phone"], "+862155550100", "{t}");
    let reporter = app
        .store
        .reporter_by_identity("wecom", ANNA)
        .await
        .expect("load")
        .expect("known");
    assert_eq!(reporter.name, "安娜");
    // The photo is fetched with media/get into the ticket, once.
    assert_eq!(door.fetch_photos().await.expect("fetch"), 1);
    assert_eq!(door.fetch_photos().await.expect("fetch"), 0);
    let r = app
        .get(MANAGER, &format!("/api/tickets/{number}/photos/1"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(&r.bytes().await.expect("body")[..], PHOTO);
    let dispatcher = app.dispatcher(vec![door.courier()]);
    let deliver = || async {
        for _ in 0..20 {
            if dispatcher.run_once().await.expect("round").handled() == 0 {
                return;
            }
        }
        panic!("the outbox never emptied");
    };

    // The offers to Alice and Bob go as one card to the group's members.
    deliver().await;
    let card = Member::new(&sim, "alice.w").expect(&number).await;
    let task_id = card.task_id.clone().expect("a card");
    assert_eq!(
        card.buttons.len(),
        1,
        "only Accept on a group card: {card:?}"
    );
    let accept = card.buttons[0].0.clone();
    for m in members {
        let t = sim.transcript(m);
        assert_eq!(t.len(), 1, "{m}: {t:#?}");
        assert_eq!(t[0].task_id.as_deref(), Some(task_id.as_str()));
    }
    // Mallory (no engineer) and Dave (network) are told privately; nothing changes.
    let m = sim.tap("mallory.w", &task_id, &accept).await.expect("tap");
    assert!(
        m.passive.is_some_and(|p| p.contains("已绑定的本组工程师")),
        "told"
    );
    let d = sim.tap("dave.w", &task_id, &accept).await.expect("tap");
    assert!(d.passive.is_some_and(|p| p.contains("不能")), "told");
    let t = ticket_json(&app, &number).await;
    assert_eq!(t["ticket"]["status"], "offered", "{t}");

    // Alice and Bob tap at once: one takes it, the other is told privately.
    let (a, b) = tokio::join!(
        sim.tap("alice.w", &task_id, &accept),
        sim.tap("bob.w", &task_id, &accept)
    );
    let (a, b) = (a.expect("tap"), b.expect("tap"));
    let t = ticket_json(&app, &number).await;
    let assignee = t["ticket"]["assignee"].clone();
    let alice_id = app
        .desk
        .engineer_by_handle("alice")
        .await
        .expect("load")
        .expect("alice")
        .id;
    let (winner, loser) = if assignee == serde_json::json!(alice_id) {
        ("alice.w", b)
    } else {
        ("bob.w", a)
    };
    assert!(
        loser.passive.as_deref().is_some_and(|p| p.contains("已被")),
        "{loser:?}"
    );
    // The card is updated for everyone: who took it, no buttons.
    for m in members {
        let t = sim.transcript(m);
        let c = t
            .iter()
            .find(|r| r.task_id.as_deref() == Some(task_id.as_str()))
            .expect("card");
        assert!(
            c.buttons.is_empty() && c.text.contains("接单"),
            "{m}: {c:?}"
        );
    }

    // The winner works the job from the card their tap brought: remote (with the
    // reporter's consent), then resolved.
    let mut eng = Member::new(&sim, winner);
    eng.expect_button("远程处理").await;
    eng.tap("远程处理", "已请报修人同意").await;
    deliver().await;
    anna.tap("允许远程", "").await;
    deliver().await;
    eng.expect("报修人已同意远程").await;
    eng.tap("已解决", "故障原因").await;
    eng.say("搓纸轮磨损", "怎么解决").await;
    eng.say("更换搓纸轮", &number).await;
    let t = ticket_json(&app, &number).await;
    assert_eq!(t["ticket"]["status"], "resolved", "{t}");

    // The reporter confirms with a button.
    deliver().await;
    let asked = anna.expect("解决了吗").await;
    assert!(asked.text.contains("更换搓纸轮"), "{asked:?}");
    anna.tap("已修复", "").await;
    let t = ticket_json(&app, &number).await;
    assert_eq!(t["ticket"]["status"], "closed", "{t}");

    // The survey, the next working day at 10:00 in Shanghai.
    app.clock
        .set(Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap());
    sim.set_time(app.clock_now().timestamp());
    let tick = baoxiu::sla::Scheduler::new(app.desk.clone())
        .tick()
        .await
        .expect("tick");
    assert_eq!(tick.surveys, 1);
    deliver().await;
    anna.expect("满意吗").await;
    anna.tap("5 非常满意", "还有什么想对我们说的").await;
    anna.tap("跳过", "").await;
    let r = app
        .get(MANAGER, "/api/reports?from=2026-11-23&to=2026-11-23")
        .await;
    let report: Value = r.json().await.expect("json");
    assert_eq!(report["total"]["surveys_answered"], 1, "{report:#}");
    assert_eq!(report["total"]["average_rating"], 5.0, "{report:#}");
    // Nothing was dropped by WeCom's limits on the way.
    for m in [ANNA, "alice.w", "bob.w", "carol.w"] {
        assert_eq!(sim.dropped(m), 0, "{m}");
    }
    task.abort();
}

async fn an_expired_token_mid_conversation_is_renewed_once_and_nothing_is_lost(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (_door, task) = door(&app, &sim, config(&sim, &[])).await;
    let mut anna = Member::new(&sim, ANNA);
    anna.say("/start", "请选择故障类别").await;
    let fetched = sim.calls("gettoken");
    assert_eq!(
        fetched, 1,
        "one token for the directory lookup and the card"
    );
    sim.expire_tokens();
    anna.tap("打印机与外设", "是哪台打印机").await;
    anna.say("HP", "打印机是什么问题").await;
    assert_eq!(sim.calls("gettoken"), 2, "renewed once after the 42001");
    // Concurrent senders share one refresh.
    sim.expire_tokens();
    let (a, b) = tokio::join!(sim.send_text("m1", "/start"), sim.send_text("m2", "/start"));
    assert_eq!((a.expect("cb").status, b.expect("cb").status), (200, 200));
    Member::new(&sim, "m1").expect("请选择故障类别").await;
    Member::new(&sim, "m2").expect("请选择故障类别").await;
    assert_eq!(sim.calls("gettoken"), 3, "one refresh for both");
    task.abort();
}

async fn a_burst_to_one_member_is_held_back_and_delivered_complete(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (door, task) = door(&app, &sim, config(&sim, &[])).await;
    let courier = door.courier();
    let parcel = |id: i64| Parcel {
        id,
        to: Address {
            channel: "wecom".into(),
            external_id: ANNA.into(),
        },
        lang: Lang::ZhCn,
        event: "note".into(),
        ticket: None,
        replies: vec![Outgoing::Text(format!("通知 {id}"))],
    };
    // 45 notices at once: 30 go now, the rest are held back with the wait.
    let mut held = Vec::new();
    for id in 1..=45 {
        match courier.deliver(&parcel(id)).await {
            Ok(()) => {}
            Err(baoxiu::outbox::DeliveryError::RateLimited(wait)) => {
                assert!(wait <= Duration::from_secs(60), "{wait:?}");
                held.push(id);
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(held.len(), 15);
    assert_eq!(sim.transcript(ANNA).len(), 30);
    // A minute later (on both clocks) the rest go.
    app.clock.advance(chrono::Duration::seconds(60));
    sim.advance(60);
    for id in held {
        courier.deliver(&parcel(id)).await.expect("delivered");
    }
    let t = sim.transcript(ANNA);
    assert_eq!(t.len(), 45, "complete");
    assert_eq!(sim.dropped(ANNA), 0, "none dropped by WeCom");
    for (i, r) in t.iter().enumerate() {
        assert_eq!(r.text, format!("通知 {}", i + 1), "in order");
    }
    // WeCom busy (-1) or over a frequency limit (45009, 45033): the outbox backs off
    // and tries again; nothing is lost.
    for code in [-1, 45009, 45033] {
        sim.fail_next(&[code]);
        let id = 100 + code.abs();
        let busy = courier.deliver(&parcel(id)).await;
        assert!(
            matches!(busy, Err(baoxiu::outbox::DeliveryError::RateLimited(_))),
            "{code}: {busy:?}"
        );
        courier.deliver(&parcel(id)).await.expect("delivered");
    }
    assert_eq!(sim.transcript(ANNA).len(), 48);
    task.abort();
}

async fn a_callback_recorded_before_a_crash_is_handled_once_after_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (door, task) = door(&app, &sim, config(&sim, &[])).await;
    // What a process that died right after recording a callback leaves: the row, never
    // handled; WeCom's retries are then answered as repeats.
    let ports = app.desk.ports();
    let now = app.clock_now();
    let xml = sim.text_xml(ANNA, "/start");
    assert!(
        ports
            .wecom
            .receive("m:crashed", "text", &xml, now)
            .await
            .expect("recorded")
    );
    assert_eq!(
        door.recover().await.expect("recover"),
        0,
        "too recent: may be in flight"
    );
    app.clock.advance(chrono::Duration::minutes(3));
    assert_eq!(door.recover().await.expect("recover"), 1);
    Member::new(&sim, ANNA).expect("请选择故障类别").await;
    // Once: the next pass finds nothing.
    assert_eq!(door.recover().await.expect("recover"), 0);
    assert_eq!(sim.transcript(ANNA).len(), 1);
    task.abort();
}

async fn an_engineer_links_with_a_code_and_a_userid_moves_between_records(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (_door, task) = door(&app, &sim, config(&sim, &[])).await;
    let desk = Caller::Desk {
        name: "desk".into(),
    };
    let code = app
        .desk
        .issue_link_code(&desk, "alice")
        .await
        .expect("code");
    let mut her = Member::new(&sim, "alice.w");
    her.say("/link WRONG234", "绑定码不正确").await;
    her.say(&format!("/link {}", code.code), "绑定成功").await;
    let linked = app
        .desk
        .engineer_by_identity("wecom", "alice.w")
        .await
        .expect("load")
        .expect("linked");
    assert_eq!(linked.handle, "alice");
    // Set in bob's record instead: it moves (one engineer per UserID); managers only.
    let reporter = Caller::Reporter(baoxiu::domain::ReporterId(1));
    assert!(
        app.desk
            .set_engineer_wecom_id(&reporter, "bob", Some("alice.w"))
            .await
            .is_err()
    );
    link(&app, "bob", "alice.w").await;
    let now = app
        .desk
        .engineer_by_identity("wecom", "alice.w")
        .await
        .expect("load")
        .expect("linked");
    assert_eq!(now.handle, "bob");
    task.abort();
}

/// The engineers whose WeCom UserID is `user` (by handle).
async fn holders(app: &TestApp, user: &str) -> Vec<String> {
    let desk = Caller::Desk {
        name: "test".into(),
    };
    let mut holders = Vec::new();
    for e in app.desk.engineers(&desk).await.expect("engineers") {
        let contact = app
            .desk
            .contact(baoxiu::desk::Recipient::Engineer(e.id))
            .await
            .expect("contact")
            .expect("exists");
        if contact
            .identities
            .iter()
            .any(|(c, id)| c == "wecom" && id == user)
        {
            holders.push(e.handle);
        }
    }
    holders
}

/// `PATCH /api/engineers/{id}` with `wecom_id`: managers set it (it moves from another
/// record), an engineer may not set even their own, a UserID WeCom would refuse is
/// refused with a sentence and changes nothing (not the other fields either), `null`
/// clears it.
async fn a_manager_sets_an_engineers_userid_over_rest_and_a_bad_one_changes_nothing(
    backend: Backend,
) {
    use reqwest::StatusCode;
    use serde_json::json;
    let app = spawn_app(backend).await;
    let alice = app
        .desk
        .engineer_by_handle("alice")
        .await
        .expect("load")
        .expect("alice");
    let path = format!("/api/engineers/{}", alice.id);
    let r = app
        .patch(MANAGER, &path, &json!({ "wecom_id": "alice.w@corp" }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["wecom_id"], "alice.w@corp");
    assert_eq!(body["handle"], "alice");
    assert_eq!(holders(&app, "alice.w@corp").await, ["alice"]);

    // An engineer changes only their own duty.
    let r = app
        .patch(&token("alice"), &path, &json!({ "wecom_id": "other" }))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Not a UserID: refused whole, with the rule in the answer.
    for bad in ["张伟", "a b", "x/y", &"a".repeat(65)] {
        let r = app
            .patch(
                MANAGER,
                &path,
                &json!({ "wecom_id": bad, "on_duty": false }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let said = r.text().await.expect("text");
        assert!(said.contains("WeCom UserID"), "{said}");
    }
    assert_eq!(holders(&app, "alice.w@corp").await, ["alice"]);
    let still = app
        .desk
        .engineer(alice.id)
        .await
        .expect("load")
        .expect("alice");
    assert!(
        still.on_duty,
        "the duty in the refused request changed nothing"
    );

    // Set in bob's record: it moves there.
    let bob = app
        .desk
        .engineer_by_handle("bob")
        .await
        .expect("load")
        .expect("bob");
    let r = app
        .patch(
            MANAGER,
            &format!("/api/engineers/{}", bob.id),
            &json!({ "wecom_id": "alice.w@corp" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(holders(&app, "alice.w@corp").await, ["bob"]);
    // Other fields alone leave it as it is; `null` clears it.
    let path = format!("/api/engineers/{}", bob.id);
    let r = app
        .patch(MANAGER, &path, &json!({ "on_duty": false }))
        .await;
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["wecom_id"], "alice.w@corp");
    let r = app
        .patch(MANAGER, &path, &json!({ "wecom_id": null }))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.expect("json");
    assert!(body["wecom_id"].is_null(), "{body}");
    assert!(holders(&app, "alice.w@corp").await.is_empty());
}

/// `baoxiu engineers set HANDLE --wecom ID`: sets the UserID; one WeCom would refuse is
/// refused with the rule and changes nothing.
#[test]
fn engineers_set_wecom_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_baoxiu"))
            .args(args)
            .current_dir(dir.path())
            .env_remove("BAOXIU_CONFIG")
            .env("RUST_LOG", "warn")
            .output()
            .expect("run baoxiu")
    };
    let stored = || -> Option<String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            use sqlx::Connection;
            let url = format!("sqlite://{}", dir.path().join("baoxiu.db").display());
            let mut c = sqlx::SqliteConnection::connect(&url).await.expect("db");
            let (w,): (Option<String>,) =
                sqlx::query_as("SELECT wecom_id FROM engineers WHERE handle = 'zhang.wei'")
                    .fetch_one(&mut c)
                    .await
                    .expect("row");
            w
        })
    };
    let out = run(&["engineers", "add", "zhang.wei"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["engineers", "set", "zhang.wei", "--wecom", "ZhangWei"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ZhangWei"));
    assert_eq!(stored().as_deref(), Some("ZhangWei"));

    let out = run(&["engineers", "set", "zhang.wei", "--wecom", "张 伟"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("not a WeCom UserID"), "{said}");
    assert_eq!(stored().as_deref(), Some("ZhangWei"), "unchanged");

    let out = run(&["engineers", "set", "nobody", "--wecom", "x"]);
    assert!(!out.status.success());
    let out = run(&["engineers", "set", "zhang.wei", "--wecom", ""]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored(), None);
}

/// `[wecom] inbox_days`: callbacks older than that are forgotten, newer ones kept.
async fn callbacks_are_kept_as_long_as_inbox_days_says(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let mut c = config(&sim, &[]);
    c.keep_callbacks = Duration::from_secs(2 * 86_400);
    let (door, task) = door(&app, &sim, c).await;
    let ports = app.desk.ports();
    let now = app.clock_now();
    for (key, age) in [("m:old", 3), ("m:recent", 1)] {
        let xml = sim.text_xml(ANNA, "hello");
        let at = now - chrono::Duration::days(age);
        assert!(
            ports
                .wecom
                .receive(key, "text", &xml, at)
                .await
                .expect("recorded")
        );
    }
    assert_eq!(door.prune_inbox().await.expect("pruned"), 1);
    assert_eq!(app.count("wecom_inbox").await, 1);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM wecom_inbox WHERE msg_key = 'm:recent'")
            .await,
        1
    );
    task.abort();
}

/// `config check` names a bad `[wecom] inbox_days`, with the door off too.
#[test]
fn config_check_names_a_bad_inbox_days() {
    let dir = tempfile::tempdir().expect("dir");
    let check = |toml: &str| {
        std::fs::write(dir.path().join("baoxiu.toml"), toml).expect("write");
        std::process::Command::new(env!("CARGO_BIN_EXE_baoxiu"))
            .args(["config", "check"])
            .current_dir(dir.path())
            .env_remove("BAOXIU_CONFIG")
            .env_remove("WECOM_SECRET")
            .output()
            .expect("run")
    };
    let out = check("[wecom]\ninbox_days = 0\n");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wecom.inbox_days"), "{err}");
    let out = check("[wecom]\ninbox_days = 30\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A notice to Anna through a courier.
fn notice(id: i64) -> Parcel {
    Parcel {
        id,
        to: Address {
            channel: "wecom".into(),
            external_id: ANNA.into(),
        },
        lang: Lang::ZhCn,
        event: "note".into(),
        ticket: None,
        replies: vec![Outgoing::Text(format!("通知 {id}"))],
    }
}

/// Two instances on one database send to one member at once: together they stay within
/// WeCom's 30 a minute (the stand-in, on the same clock, would drop any excess
/// silently), the rest are held back and go later, none dropped. With a count per
/// instance each would send 30.
async fn two_instances_together_never_send_one_member_more_than_thirty_a_minute(backend: Backend) {
    use baoxiu::outbox::DeliveryError;
    let a = spawn_app(backend).await;
    let b = a.restart().await;
    let sim = sim().await;
    let (door_a, task_a) = door(&a, &sim, config(&sim, &[])).await;
    let (door_b, task_b) = door(&b, &sim, config(&sim, &[])).await;
    let couriers = [door_a.courier(), door_b.courier()];
    let mut pending: Vec<i64> = (1..=80).collect();
    let mut minutes = 0;
    while !pending.is_empty() {
        minutes += 1;
        assert!(minutes <= 12, "{} never delivered", pending.len());
        // Each instance tries every pending notice, both at once.
        let tries = pending.iter().enumerate().map(|(i, id)| {
            let courier = couriers[i % 2].clone();
            let parcel = notice(*id);
            async move { (parcel.id, courier.deliver(&parcel).await) }
        });
        let before = sim.transcript(ANNA).len();
        let mut held = Vec::new();
        for (id, outcome) in futures_util::future::join_all(tries).await {
            match outcome {
                Ok(()) => {}
                Err(DeliveryError::RateLimited(wait)) => {
                    assert!(wait <= Duration::from_secs(60), "{wait:?}");
                    held.push(id);
                }
                Err(e) => panic!("{e}"),
            }
        }
        let sent = sim.transcript(ANNA).len() - before;
        assert!(sent <= wecomsim::PER_MINUTE, "{sent} in one minute");
        assert_eq!(sent + held.len(), pending.len());
        assert_eq!(sim.dropped(ANNA), 0, "none dropped by WeCom");
        // Half a minute on: still no room (the newest sends are 30 s old).
        for app in [&a, &b] {
            app.clock.advance(chrono::Duration::seconds(30));
        }
        sim.advance(30);
        if !held.is_empty() {
            let early = couriers[1].deliver(&notice(held[0])).await;
            assert!(
                matches!(early, Err(DeliveryError::RateLimited(_))),
                "{early:?}"
            );
        }
        // A minute after the burst, there is room again.
        for app in [&a, &b] {
            app.clock.advance(chrono::Duration::seconds(30));
        }
        sim.advance(30);
        pending = held;
    }
    assert_eq!(minutes, 3, "30 a minute: 80 take three");
    assert_eq!(sim.transcript(ANNA).len(), 80, "complete");
    assert_eq!(sim.dropped(ANNA), 0);
    task_a.abort();
    task_b.abort();
}

/// WeCom refuses a card whose button text or title is over its length (errcode 40058), as
/// the stand-in does: the door shortens them, so every card goes and none is refused.
async fn over_long_labels_are_shortened_so_wecom_refuses_none(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    // The stand-in refuses what WeCom refuses.
    let c = sim.config().clone();
    let client = reqwest::Client::new();
    let token: Value = client
        .get(format!("{}/cgi-bin/gettoken", sim.url()))
        .query(&[
            ("corpid", c.corp_id.as_str()),
            ("corpsecret", c.secret.as_str()),
        ])
        .send()
        .await
        .expect("gettoken")
        .json()
        .await
        .expect("json");
    let raw: Value = client
        .post(format!("{}/cgi-bin/message/send", sim.url()))
        .query(&[(
            "access_token",
            token["access_token"].as_str().unwrap_or_default(),
        )])
        .json(&serde_json::json!({
            "touser": ANNA, "msgtype": "template_card", "agentid": c.agent_id,
            "template_card": {
                "card_type": "button_interaction", "task_id": "raw1",
                "main_title": { "title": "?" },
                "button_list": [{ "text": "Printer & peripherals", "key": "k" }],
            },
        }))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(raw["errcode"], 40058, "{raw}");
    assert_eq!(sim.refused_too_long(), 1);
    assert!(sim.transcript(ANNA).is_empty());

    // Through the door: the labels and title are fitted, the keys kept.
    let (door, task) = door(&app, &sim, config(&sim, &[])).await;
    let question = format!("What kind of fault is it? {}", "Tap a button. ".repeat(5));
    let mut parcel = notice(1);
    parcel.replies = vec![Outgoing::Choices {
        text: question.clone(),
        options: vec![
            ("q:printer".into(), "Printer & peripherals".into()),
            ("q:stop".into(), "Work has stopped".into()),
            ("q:net".into(), "网络".into()),
        ],
    }];
    door.courier().deliver(&parcel).await.expect("delivered");
    assert_eq!(sim.refused_too_long(), 1, "none refused since");
    let t = sim.transcript(ANNA);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].text, question.trim_end());
    let labels: Vec<(&str, &str)> = t[0]
        .buttons
        .iter()
        .map(|(k, l)| (k.as_str(), l.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("q:printer", "Printer &…"),
            ("q:stop", "Work has…"),
            ("q:net", "网络")
        ]
    );
    task.abort();
}
