//! Integration tests of tgsim, the local Telegram Bot API simulator: real HTTP against
//! an in-process server on port 0, and a real teloxide client.

mod cli;
mod control;
mod helpers;
mod limits;
mod load;
mod protocol;
mod teloxide_client;
mod updates;
mod webhook;
