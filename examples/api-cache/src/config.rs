//! Command-line flags and environment variables of the service.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

/// Everything the service can be told. Each flag can also come from the environment variable
/// named next to it, so the same binary runs unchanged from a shell, a container or systemd.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "cinnabar-example-api-cache",
    version,
    about = "Read-through cache of GitHub star counts stored in Cinnabar (or any Redis)"
)]
pub struct Config {
    /// Database URL (`redis://[user:password@]host:port[/db]`).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,

    /// Longest wait for the database (connecting, or answering one command), in
    /// milliseconds; past it the request fails instead of hanging.
    #[arg(long, env = "REDIS_TIMEOUT_MS", default_value_t = 2000)]
    pub redis_timeout_ms: u64,

    /// Address to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,

    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// How long a star count stays cached, in seconds.
    #[arg(long, env = "CACHE_TTL", default_value_t = 60)]
    pub ttl: u64,

    /// Random amount, in seconds, taken off each entry's TTL (uniform in 0..=jitter), so keys
    /// cached together do not all expire in the same instant. The TTL is never raised, so no
    /// answer is ever older than `--ttl`.
    #[arg(long, env = "CACHE_TTL_JITTER", default_value_t = 6)]
    pub ttl_jitter: u64,

    /// How long "this repository does not exist" is remembered, in seconds (0: not at all).
    #[arg(long, env = "NEGATIVE_TTL", default_value_t = 10)]
    pub negative_ttl: u64,

    /// Base URL of the GitHub REST API; point it at a fake for tests or a proxy.
    #[arg(long, env = "UPSTREAM_URL", default_value = "https://api.github.com")]
    pub upstream_url: String,

    /// Upstream request timeout (connect + response), in milliseconds.
    #[arg(long, env = "UPSTREAM_TIMEOUT_MS", default_value_t = 5000)]
    pub upstream_timeout_ms: u64,

    /// GitHub token (raises the API's rate limit from 60 to 5000 requests per hour).
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true)]
    pub github_token: Option<String>,

    /// Lifetime of the cross-instance fill lock, in milliseconds. Longer than the upstream
    /// timeout, so a live holder never loses it; short enough that a crashed holder's lock
    /// frees itself quickly. Default: upstream timeout + 1000.
    #[arg(long, env = "LOCK_TTL_MS")]
    pub lock_ttl_ms: Option<u64>,
}

impl Config {
    /// The configuration with every default, as if no flag and no variable were given.
    /// Tests start from this and change what they need.
    pub fn defaults() -> Config {
        Config::parse_from(["cinnabar-example-api-cache"])
    }

    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms.max(1))
    }

    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl)
    }

    pub fn upstream_timeout(&self) -> Duration {
        Duration::from_millis(self.upstream_timeout_ms)
    }

    pub fn lock_ttl(&self) -> Duration {
        Duration::from_millis(self.lock_ttl_ms.unwrap_or(self.upstream_timeout_ms + 1000))
    }
}
