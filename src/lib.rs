//! baoxiu (报修): IT fault reporting from chat for desktop-support service desks.
//!
//! Layers, inside out: [`domain`] (pure rules), [`store`] (the only SQL), [`desk`] (the
//! application service, the only place tickets change), and the doors: [`http`] and the CLI.

pub mod app;
pub mod chat;
pub mod clock;
pub mod config;
pub mod desk;
pub mod domain;
pub mod flow;
pub mod http;
pub mod outbox;
pub mod sla;
pub mod store;
