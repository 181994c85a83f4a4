//! The two backends agree: SQLite (whose chat path and ticket filing are direct SQLite
//! calls) and PostgreSQL (sqlx throughout) store the same rows for the same report.

use baoxiu::conversation::{Chat, Person};
use baoxiu::desk::StepRecord;
use baoxiu::flow::Incoming;
use baoxiu::store::Store;

use crate::helpers::{Backend, spawn_app};

/// A reporter's Telegram identity.
fn reporter() -> Person {
    Person {
        channel: "telegram".into(),
        external_id: "4242".into(),
        name: "陈静".into(),
        language: Some("zh-CN".into()),
    }
}

/// Walks a desktop fault with a photo up to the summary, then submits it as Telegram
/// update 7, whose record the filing writes; the ticket's number.
async fn file_a_report(chat: &Chat, store: &Store) -> String {
    let me = reporter();
    let now = chrono::Utc::now();
    let received = store
        .telegram_receive(&[(7, "{}".to_owned())], now, true)
        .await
        .expect("receive");
    assert_eq!(received, [true]);
    chat.resume(&me).await.expect("start");
    let answers = [
        Incoming::Text("1".into()),
        Incoming::Text("1".into()),
        Incoming::Text("总部".into()),
        Incoming::Text("跳过".into()),
        Incoming::Text("跳过".into()),
        Incoming::Text("PC-0231".into()),
        Incoming::Photo("AgADBAADbqcxG-photo".into()),
        Incoming::Text("开机蓝屏，风扇狂转".into()),
        Incoming::Text("1".into()),
        Incoming::Text("1".into()),
        Incoming::Text("1".into()),
        Incoming::Text("行政部".into()),
        Incoming::Text("13900001111".into()),
    ];
    for a in answers {
        chat.handle(&me, a).await.expect("answer");
    }
    let turn = chat
        .step(&me, Incoming::Text("1".into()))
        .await
        .expect("submit");
    assert!(turn.takes_record());
    let record = StepRecord::TelegramHandled {
        update_id: 7,
        replies: serde_json::to_string(&turn.replies()).expect("json"),
    };
    let saved = turn.save(Some(record)).await.expect("filed");
    assert!(saved.recorded);
    let receipt = format!("{:?}", saved.replies);
    let at = receipt.find("BX-").expect("a number in the receipt");
    receipt[at..at + 14].to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_store_the_same_rows_for_the_same_report() {
    let Some(postgres) = Backend::postgres("backends::both_backends_store_the_same_rows") else {
        return;
    };
    let (lite, pg) = (spawn_app(Backend::Sqlite).await, spawn_app(postgres).await);
    let number = file_a_report(&lite.chat, &lite.store).await;
    assert_eq!(file_a_report(&pg.chat, &pg.store).await, number);

    let ticket = |s: &Store| {
        let (s, number) = (s.clone(), number.clone());
        async move {
            s.ticket_by_number(&number)
                .await
                .expect("read")
                .expect("filed")
        }
    };
    let (a, b) = (ticket(&lite.store).await, ticket(&pg.store).await);
    assert_eq!(a, b, "the ticket");
    assert_eq!(a.intake.photos.len(), 1);
    let (s, p) = (&lite.store, &pg.store);
    assert_eq!(
        s.audit_trail(a.id).await.expect("audit"),
        p.audit_trail(b.id).await.expect("audit"),
        "the audit trail"
    );
    assert_eq!(
        s.outbox_for_ticket(a.id).await.expect("outbox"),
        p.outbox_for_ticket(b.id).await.expect("outbox"),
        "the messages"
    );
    assert_eq!(
        s.clocks(a.id).await.expect("clocks"),
        p.clocks(b.id).await.expect("clocks"),
        "the SLA clocks"
    );
    assert_eq!(
        s.attachment(a.id, 1).await.expect("photo"),
        p.attachment(b.id, 1).await.expect("photo"),
        "the photo to fetch"
    );
    assert_eq!(
        s.reporter(a.reporter).await.expect("reporter"),
        p.reporter(b.reporter).await.expect("reporter"),
        "the reporter, with department and phone remembered"
    );
    let me = reporter();
    assert_eq!(
        s.conversation(&me.channel, &me.external_id)
            .await
            .expect("conv"),
        None,
        "the conversation ended with the filing"
    );
    assert_eq!(
        p.conversation(&me.channel, &me.external_id)
            .await
            .expect("conv"),
        None
    );
    // The submit's record, with the ticket's number put in.
    let pending = |s: &Store| {
        let s = s.clone();
        async move {
            let rows = s
                .telegram_pending(10, chrono::Utc::now())
                .await
                .expect("pending");
            rows.into_iter()
                .map(|(id, _, replies)| (id, replies))
                .collect::<Vec<_>>()
        }
    };
    let (x, y) = (pending(s).await, pending(p).await);
    assert_eq!(x, y, "the update's record");
    assert!(
        x.iter()
            .any(|(id, r)| *id == 7 && r.as_deref().is_some_and(|r| r.contains(&number))),
        "{x:?}"
    );
}
