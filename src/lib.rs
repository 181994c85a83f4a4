//! baoxiu (报修): IT fault reporting from chat for desktop-support service desks.
//!
//! Layers, inside out — data flows down, nothing below calls up: [`domain`] (pure rules),
//! [`store`] (the only SQL), [`desk`] (the application service, the only place tickets
//! change and the only way to the store), [`flow`] (the conversations as data),
//! [`conversation`] (the platform-neutral chat service), and the doors: [`doors`] (one
//! folder per chat platform), [`http`] (the REST API) and the CLI. The [`sla`] scheduler
//! and the [`outbox`] dispatcher call the desk; [`app`] is the one composition root.

pub mod app;
pub mod clock;
pub mod config;
pub mod console;
pub mod conversation;
pub mod desk;
pub mod domain;
pub mod doors;
pub mod flow;
pub mod http;
pub mod labels;
pub mod lease;
pub mod outbox;
pub mod proxy;
pub mod sla;
pub mod store;

#[cfg(test)]
mod fuzz;

/// How many cases a property test runs: `default`, or `FUZZ_CASES` when set (the fuzzing
/// runs: `FUZZ_CASES=1000000 cargo test --release --lib fuzz`).
#[cfg(test)]
pub(crate) fn fuzz_cases(default: u32) -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
