//! `cinnabar-example-api-cache`: parses flags, connects, serves until Ctrl-C or SIGTERM.

use anyhow::Context;
use clap::Parser;

use cinnabar_example_api_cache::{serve, AppState, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = Config::parse();
    let state = AppState::new(&config)
        .await
        .with_context(|| format!("starting with database {}", config.redis_url))?;
    let listener = tokio::net::TcpListener::bind(config.listen_addr())
        .await
        .with_context(|| format!("binding {}", config.listen_addr()))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        upstream = %config.upstream_url,
        ttl = config.ttl,
        "api-cache listening"
    );
    tokio::select! {
        r = serve(listener, state) => r.context("serving")?,
        _ = shutdown_signal() => tracing::info!("shutting down"),
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
