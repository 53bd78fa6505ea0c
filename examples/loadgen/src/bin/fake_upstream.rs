//! `fake-upstream`: stands in for GitHub's API in load runs, with a fixed latency.
//!
//! `GET /repos/{owner}/{name}` answers, after `--latency-ms`, `{"stargazers_count": N}` with
//! N derived from the name (stable across calls), or 404 for names starting with `missing`.
//! `GET /stats` tells how many repository calls it served, to compare with the number of
//! requests the cache answered.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "fake-upstream",
    about = "A stand-in for api.github.com with fixed latency"
)]
struct Args {
    /// Port to listen on, on 127.0.0.1 (0: pick one and print it).
    #[arg(long, default_value_t = 0)]
    port: u16,

    /// Delay before each answer, in milliseconds.
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
}

#[derive(Clone)]
struct Fake {
    latency: Duration,
    calls: Arc<AtomicU64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let fake = Fake {
        latency: Duration::from_millis(args.latency_ms),
        calls: Arc::default(),
    };
    let app = Router::new()
        .route("/repos/{owner}/{name}", get(repo))
        .route("/stats", get(stats))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    println!(
        "fake-upstream listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}

async fn repo(State(fake): State<Fake>, Path((owner, name)): Path<(String, String)>) -> Response {
    fake.calls.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(fake.latency).await;
    if name.starts_with("missing") {
        return (StatusCode::NOT_FOUND, Json(json!({"message": "Not Found"}))).into_response();
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (&owner, &name).hash(&mut h);
    Json(json!({
        "full_name": format!("{owner}/{name}"),
        "stargazers_count": h.finish() % 100_000,
    }))
    .into_response()
}

async fn stats(State(fake): State<Fake>) -> Json<serde_json::Value> {
    Json(json!({"calls": fake.calls.load(Ordering::Relaxed)}))
}
