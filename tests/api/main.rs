//! One integration-test binary (builds once, runs in parallel). Each scenario runs on
//! SQLite and, when `TEST_POSTGRES_URL` is set, on PostgreSQL.

mod helpers;

mod access;
mod archive;
mod atomicity;
mod backends;
mod bad_input;
mod channels;
mod chat;
mod cli;
mod closing;
mod complaints;
mod concurrency;
mod console;
mod console_admin;
mod console_browser;
mod console_reports;
mod discord;
mod erasure;
mod inspections;
mod instances;
mod knowledge;
mod layers;
mod lifecycle;
mod outbox;
mod photos;
mod promises;
mod ready;
mod reports;
mod retention;
mod sla;
mod stop;
mod telegram;
mod telegram_loop;
mod web;
// The registers (issue 20).
mod assets;
mod people;
mod wecom;
