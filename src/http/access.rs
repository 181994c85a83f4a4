//! The access log: one line per HTTP request at info (target `baoxiu::access`) with the
//! method, the path without its query, the status and the latency. Never headers (the
//! Telegram webhook secret, cookies, bearer tokens travel there) and never a query; a
//! path carrying a one-time code is logged as its route (`/chat/invite/{code}`).

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Route parameters whose values are secrets.
const SECRET_PARAMS: [&str; 2] = ["{code}", "{token}"];

/// The middleware (`axum::middleware::from_fn(access_log)`).
pub async fn access_log(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let path = match route {
        Some(route) if SECRET_PARAMS.iter().any(|p| route.contains(p)) => route,
        _ => req.uri().path().to_owned(),
    };
    let response = next.run(req).await;
    tracing::info!(
        target: "baoxiu::access",
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}
