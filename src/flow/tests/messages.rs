//! Notification texts: every event in both languages, placeholders from the outbox payload.

use super::*;
use serde_json::json;

fn payload() -> serde_json::Value {
    json!({
        "ticket": "BX-2026-000123",
        "priority": "P2",
        "status": "offered",
        "category": "printer",
        "site": "上海总部",
        "room": null,
        "summary": "打印机卡纸",
        "engineer": "张伟",
        "note": "换了定影器",
        "response_due_at": "2026-03-02T09:00:00Z",
        "resolution_due_at": "2026-03-02T16:30:00Z",
    })
}

#[test]
fn every_event_has_both_languages_and_fills_its_placeholders() {
    for event in EVENTS {
        for lang in [Lang::ZhCn, Lang::En] {
            let text = FLOWS.text(event, lang, &payload());
            assert_ne!(text, event, "{event} has no text");
            assert!(
                !text.contains('{') && !text.contains('}'),
                "{event}: {text}"
            );
        }
        assert_ne!(
            FLOWS.text(event, Lang::ZhCn, &payload()),
            FLOWS.text(event, Lang::En, &payload()),
            "{event}: the English text is the Chinese one"
        );
    }
}

#[test]
fn ticket_received_says_the_number_and_what_happens_next() {
    let zh = FLOWS.text("ticket_received", Lang::ZhCn, &payload());
    assert!(zh.contains("工单号 BX-2026-000123"), "{zh}");
    assert!(zh.contains("接下来"), "{zh}");
    assert!(
        zh.contains("打印机与外设"),
        "the category is translated: {zh}"
    );
    // 09:00 UTC is 17:00 in Shanghai.
    assert!(zh.contains("2026-03-02 17:00"), "{zh}");
    let en = FLOWS.text("ticket_received", Lang::En, &payload());
    assert!(en.contains("ticket BX-2026-000123"), "{en}");
    assert!(en.contains("What happens next"), "{en}");
    assert!(en.contains("Printer & peripherals"), "{en}");
    let utc = FLOWS.clone().with_time_zone(chrono_tz::UTC);
    assert!(
        utc.text("ticket_received", Lang::En, &payload())
            .contains("2026-03-02 09:00")
    );
}

#[test]
fn missing_values_show_as_a_dash() {
    let text = FLOWS.text("engineer_on_the_way", Lang::En, &payload());
    assert_eq!(
        text,
        "🚶 张伟 is on the way to 上海总部 — for ticket BX-2026-000123."
    );
    let text = FLOWS.text("ticket_accepted_no_deadline", Lang::ZhCn, &json!({}));
    assert_eq!(
        text,
        "👷 工单 — 已由工程师 — 接单，TA 会尽快联系您约定处理时间。"
    );
    // Not an object at all: still no panic.
    let text = FLOWS.text("ticket_accepted", Lang::En, &json!([1, 2]));
    assert!(text.contains("—"));
    // Numbers are shown as they are.
    let text = FLOWS.text("status_header", Lang::En, &json!({"count": 3}));
    assert_eq!(text, "You have 3 open tickets:");
}

#[test]
fn universal_replies_exist() {
    for key in [
        "help",
        "cancelled",
        "nothing_to_go_back",
        "unknown_command",
        "discarded",
        "status_header",
        "status_line",
        "no_open_tickets",
    ] {
        for lang in [Lang::ZhCn, Lang::En] {
            assert_ne!(FLOWS.text(key, lang, &json!({})), key);
        }
    }
    assert_eq!(
        FLOWS.text("discarded", Lang::En, &json!({})),
        "Your unfinished report was discarded after a long idle time (the draft is kept for 24 hours). Start again whenever you need to."
    );
    let line = FLOWS.text("status_line", Lang::ZhCn, &payload());
    assert_eq!(
        line,
        "• BX-2026-000123 · 待接单 · 打印机与外设 · 打印机卡纸"
    );
    // An unknown key is visible rather than blank.
    assert_eq!(
        FLOWS.text("no_such_message", Lang::En, &json!({})),
        "no_such_message"
    );
}
