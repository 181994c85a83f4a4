//! Photos sent with a fault on Telegram: fetched through getFile after the ticket is
//! filed, then served with the ticket's own visibility.

use reqwest::StatusCode;

use crate::helpers::{Backend, MANAGER, spawn_app, token};
use crate::on_both_backends;
use crate::telegram::{REPORTER, User, polling, sim, stop, walk_report};

on_both_backends!(a_reporters_photo_is_fetched_and_shown_only_to_those_who_see_the_ticket);

async fn a_reporters_photo_is_fetched_and_shown_only_to_those_who_see_the_ticket(backend: Backend) {
    let app = spawn_app(backend).await;
    let sim = sim().await;
    let (tg, task) = polling(&app, &sim);
    let mut anna = User::new(&sim, REPORTER, "Anna", "en");
    let (number, _) = walk_report(&sim, &mut anna).await;
    let path = format!("/api/tickets/{number}/photos/1");

    // Filed, not fetched yet: nothing to show.
    assert_eq!(
        app.get(MANAGER, &path).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(tg.fetch_photos().await.expect("fetch"), 1);
    // Done once: the next pass has nothing to do.
    assert_eq!(tg.fetch_photos().await.expect("fetch"), 0);

    let r = app.get(MANAGER, &path).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let bytes = r.bytes().await.expect("body");
    assert_eq!(&bytes[..], tgsim::PLACEHOLDER_JPEG);
    // Someone else's ticket, and a photo that is not there, look the same: missing.
    let stranger = app.get(&token("li.na"), &path).await;
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND);
    let second = format!("/api/tickets/{number}/photos/2");
    assert_eq!(
        app.get(MANAGER, &second).await.status(),
        StatusCode::NOT_FOUND
    );
    stop([task]).await;
}
