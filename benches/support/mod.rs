//! What the closed-loop load benches (`telegram_load`, `discord_load`, `wecom_load`)
//! share around the stand-ins' virtual-reporter loop (`tgsim::load`, which the others
//! re-export): logging, which runs to make, the script, and the printed summary. Each
//! bench keeps its own setup and names its runs; the line it prints reads as before.

use std::path::Path;

use tgsim::load::{LoadSummary, Script};

/// `RUST_LOG=warn` shows what the service logs during the run (to stderr).
pub fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
}

/// The runs to make, `(reporters, seconds)`: `cargo bench` passes `--bench`, and then each
/// of `LOAD_USERS` (`50,200`; default `sizes`) runs `LOAD_SECS` (default 20);
/// `cargo test --benches` passes nothing: one short pass then, so the bench cannot rot.
pub fn runs(sizes: &[u32]) -> Vec<(u32, u64)> {
    let quick = !std::env::args().any(|a| a == "--bench");
    if quick {
        return vec![(20, 2)];
    }
    let secs = std::env::var("LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    std::env::var("LOAD_USERS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| sizes.to_vec())
        .into_iter()
        .map(|n| (n, secs))
        .collect()
}

/// The whole fault report the virtual reporters walk (typed answers and button taps).
pub fn script() -> Script {
    Script::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crates/tgsim/scripts/fault_report_printer.txt"),
    )
    .expect("script")
}

/// Prints a run's summary line (`{what}, {users} reporters, {secs} s: … steps/s, reply
/// latency p50/p95/p99 …`) and its slowest steps by p99 (`LOAD_SLOWEST`, default 3; as
/// many as the script has lines shows every step); fails the bench if no step was answered.
pub fn report(what: &str, users: u32, secs: u64, s: &LoadSummary) {
    println!(
        "{what}, {users} reporters, {secs} s: {:.0} steps/s, reply latency p50 {:.1} ms, \
         p95 {:.1} ms, p99 {:.1} ms (max {:.1}); {} walks, {} timeouts, {} errors{}",
        s.steps_per_sec,
        s.latency_ms.p50,
        s.latency_ms.p95,
        s.latency_ms.p99,
        s.latency_ms.max,
        s.repetitions,
        s.timeouts,
        s.errors,
        s.first_error
            .as_ref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    let slowest = std::env::var("LOAD_SLOWEST")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    for l in s.slowest_steps(slowest) {
        println!("  slow step {l}");
    }
    assert!(s.steps > 0, "no step was answered");
}
