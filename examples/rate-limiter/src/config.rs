//! Command-line flags and environment variables of the service.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Which algorithm counts the requests. All three keep their state in the database, so every
/// instance of the service enforces one shared limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Algorithm {
    /// INCR of a per-client counter that expires with its window (one Lua script).
    FixedWindow,
    /// A sorted set of request times per client, trimmed to the window (one Lua script).
    SlidingLog,
    /// Generic cell rate algorithm through the server's native `CL.THROTTLE`.
    Gcra,
}

impl Algorithm {
    /// Short name used in keys and logs.
    pub fn key_part(self) -> &'static str {
        match self {
            Algorithm::FixedWindow => "fw",
            Algorithm::SlidingLog => "sl",
            Algorithm::Gcra => "gcra",
        }
    }
}

/// Everything the service can be told. Each flag can also come from the environment variable
/// named next to it.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "cinnabar-example-rate-limiter",
    version,
    about = "Per-client rate limiting shared by every instance through Cinnabar (or any Redis)"
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
    #[arg(long, env = "PORT", default_value_t = 8081)]
    pub port: u16,

    /// Limiting algorithm.
    #[arg(long, env = "RATE_ALGORITHM", value_enum, default_value_t = Algorithm::FixedWindow)]
    pub algorithm: Algorithm,

    /// Requests allowed per client per window.
    #[arg(long, env = "RATE_LIMIT", default_value_t = 10)]
    pub limit: u64,

    /// Window length, in seconds (for GCRA: the period in which `--limit` requests are
    /// allowed).
    #[arg(long, env = "RATE_WINDOW_SECS", default_value_t = 60)]
    pub window_secs: u64,

    /// GCRA only: the burst allowance `max_burst` of CL.THROTTLE. Default `limit - 1`, so a
    /// fresh client may send `limit` requests at once, like the other algorithms.
    #[arg(long, env = "RATE_GCRA_BURST")]
    pub gcra_burst: Option<u64>,

    /// Block a client after this many rejections within one window (0: never block).
    #[arg(long, env = "RATE_BLOCK_AFTER", default_value_t = 10)]
    pub block_after: u64,

    /// How long a blocked client is refused without even being counted, in seconds.
    #[arg(long, env = "RATE_BLOCK_SECS", default_value_t = 300)]
    pub block_secs: u64,

    /// Take the client address from the last X-Forwarded-For entry (the one added by the
    /// proxy in front of us). Only behind a proxy that sets it: otherwise any client could
    /// pick its own address and escape its limit.
    #[arg(long, env = "TRUST_X_FORWARDED_FOR")]
    pub trust_x_forwarded_for: bool,

    /// When the database cannot be reached, let requests through unlimited (default: answer
    /// 503).
    #[arg(long, env = "RATE_FAIL_OPEN")]
    pub fail_open: bool,

    /// Prefix of every key the service writes.
    #[arg(long, env = "RATE_KEY_PREFIX", default_value = "ratelimit")]
    pub key_prefix: String,

    /// User name accepted by the demo `POST /login`.
    #[arg(long, env = "LOGIN_USER", default_value = "demo")]
    pub login_user: String,

    /// Password accepted by the demo `POST /login`.
    #[arg(
        long,
        env = "LOGIN_PASSWORD",
        default_value = "demo",
        hide_env_values = true
    )]
    pub login_password: String,
}

impl Config {
    /// The configuration with every default, as if no flag and no variable were given.
    pub fn defaults() -> Config {
        Config::parse_from(["cinnabar-example-rate-limiter"])
    }

    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms.max(1))
    }

    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs)
    }
}
