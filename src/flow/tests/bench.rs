//! Throughput of `Flows::step` and the size of a stored conversation. Run with
//! `cargo test --release --lib flow::tests::bench -- --ignored --nocapture`.

use super::*;
use std::time::{Duration, Instant};

/// One whole report: 16 answers, then submit.
fn script() -> Vec<Incoming> {
    let t = |s: &str| Incoming::Text(s.to_owned());
    let c = |s: &str| Incoming::Choice(s.to_owned());
    vec![
        c("category:printer"),
        t("HP LaserJet M404"),
        c("printer_symptom:paper_jam"),
        t("上海总部"),
        c("building:skip"),
        t("302"),
        t("PC-0231"),
        Incoming::Photo("AgACAgIAAxkBAAIBZ2Y".into()),
        t("打印机一直卡纸，拿不出来，屏幕提示 E13"),
        c("started:within_hour"),
        t("5"),
        c("urgency:degraded"),
        t("财务部"),
        t("13800138000"),
        c("summary:change"),
        c("change:room"),
        t("305"),
        c("summary:submit"),
    ]
}

/// Steps per second over `window`, optionally persisting (JSON out and back) every step.
fn measure(window: Duration, persist: bool) -> f64 {
    let script = script();
    let start = Instant::now();
    let mut steps = 0u64;
    while start.elapsed() < window {
        let (mut conv, _) = FLOWS
            .start("fault_report", Lang::ZhCn, &map(&[("name", "王伟")]))
            .unwrap();
        for input in &script {
            let step = FLOWS.step(&mut conv, input.clone());
            std::hint::black_box(&step);
            if persist {
                let json = serde_json::to_string(&conv).unwrap();
                conv = serde_json::from_str(&json).unwrap();
            }
            steps += 1;
        }
    }
    steps as f64 / start.elapsed().as_secs_f64()
}

#[test]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
fn steps_per_second() {
    for persist in [false, true] {
        let mut runs: Vec<f64> = (0..3)
            .map(|_| measure(Duration::from_secs(1), persist))
            .collect();
        runs.sort_by(f64::total_cmp);
        println!(
            "step(){}: median {:.0} steps/s (runs: {:.0}, {:.0}, {:.0})",
            if persist {
                " + JSON persist round trip"
            } else {
                ""
            },
            runs[1],
            runs[0],
            runs[1],
            runs[2]
        );
    }
    // A typical mid-report conversation: printer category, at the "when did it start" step.
    let (mut conv, _) = FLOWS
        .start("fault_report", Lang::ZhCn, &map(&[("name", "王伟")]))
        .unwrap();
    for input in script().into_iter().take(9) {
        FLOWS.step(&mut conv, input);
    }
    assert_eq!(conv.step(), "started");
    let json = serde_json::to_string(&conv).unwrap();
    println!(
        "mid-report conversation: {} bytes of JSON: {json}",
        json.len()
    );
    println!(
        "mid-report conversation: about {} bytes in memory",
        in_memory(&conv)
    );
    assert!(in_memory(&conv) <= 4096);
}

/// Approximate bytes held by a conversation: the struct, every string's heap buffer, the
/// history's buffer and the maps' B-tree leaves (11 slots each; node headers ignored).
fn in_memory(conv: &Conversation) -> usize {
    let string = |s: &String| s.capacity();
    let map = |m: &BTreeMap<String, String>| {
        let leaves = m.len().div_ceil(11);
        leaves * 11 * 2 * std::mem::size_of::<String>()
            + m.iter().map(|(k, v)| string(k) + string(v)).sum::<usize>()
    };
    std::mem::size_of::<Conversation>()
        + string(&conv.flow)
        + string(&conv.step)
        + map(&conv.answers)
        + map(&conv.vars)
        + conv.history.capacity() * std::mem::size_of::<String>()
        + conv.history.iter().map(string).sum::<usize>()
}

#[test]
fn steps_are_fast_enough_even_unoptimised() {
    // A guard, not a benchmark: a full report in well under a millisecond per step.
    let rate = measure(Duration::from_millis(100), true);
    assert!(rate > 1_000.0, "{rate:.0} steps/s");
}
