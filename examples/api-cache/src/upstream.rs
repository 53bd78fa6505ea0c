//! The upstream: GitHub's REST API (or anything answering like it at the configured URL).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION};
use reqwest::StatusCode;
use serde::Deserialize;

use crate::repo::RepoName;

/// What the upstream knows about a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    Found {
        stars: u64,
    },
    /// 404: no such repository, or a private one we may not see (GitHub answers both alike).
    NotFound,
}

/// A failed upstream call. None of these is cached: the next request tries again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream did not answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
    #[error("upstream answered HTTP {0}")]
    Status(u16),
    #[error("upstream answer not understood: {0}")]
    BadBody(String),
}

/// The only field we need from `GET /repos/{owner}/{repo}`.
#[derive(Deserialize)]
struct RepoJson {
    stargazers_count: u64,
}

/// An HTTP client set up once (connection pool, TLS, headers), shared by all requests.
#[derive(Clone)]
pub struct Upstream {
    client: reqwest::Client,
    base: String,
    timeout: Duration,
}

impl Upstream {
    /// Builds the client. GitHub refuses requests without a User-Agent, so one is always
    /// sent; the token, when given, goes in `Authorization` and is marked sensitive so it
    /// never shows in debug output.
    pub fn new(
        base_url: &str,
        timeout: Duration,
        token: Option<&str>,
    ) -> Result<Upstream, reqwest::Error> {
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "X-GitHub-Api-Version",
            HeaderValue::from_static("2022-11-28"),
        );
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            if let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {token}")) {
                v.set_sensitive(true);
                headers.insert(AUTHORIZATION, v);
            }
        }
        let mut builder = reqwest::Client::builder();
        if is_loopback(base_url) {
            // A proxy from HTTP_PROXY and friends could not reach our own loopback anyway.
            builder = builder.no_proxy();
        }
        let client = builder
            .user_agent(concat!(
                "cinnabar-example-api-cache/",
                env!("CARGO_PKG_VERSION")
            ))
            .default_headers(headers)
            .connect_timeout(timeout)
            .timeout(timeout)
            .build()?;
        Ok(Upstream {
            client,
            base: base_url.trim_end_matches('/').to_string(),
            timeout,
        })
    }

    /// Asks for one repository's star count. Any answer other than 200 with a readable body
    /// or 404 is an error, including GitHub's rate-limit answers (403/429), which must not be
    /// mistaken for "not found".
    pub async fn stars(&self, repo: &RepoName) -> Result<Lookup, UpstreamError> {
        let url = format!("{}/repos/{}/{}", self.base, repo.owner(), repo.name());
        let resp = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| self.classify(e))?;
        match resp.status() {
            StatusCode::OK => {
                let body: RepoJson = resp.json().await.map_err(|e| {
                    if e.is_timeout() {
                        UpstreamError::Timeout(self.timeout)
                    } else {
                        UpstreamError::BadBody(e.to_string())
                    }
                })?;
                Ok(Lookup::Found {
                    stars: body.stargazers_count,
                })
            }
            StatusCode::NOT_FOUND => Ok(Lookup::NotFound),
            other => Err(UpstreamError::Status(other.as_u16())),
        }
    }

    fn classify(&self, e: reqwest::Error) -> UpstreamError {
        if e.is_timeout() {
            UpstreamError::Timeout(self.timeout)
        } else {
            // The innermost cause ("Connection refused", "dns error") is the useful part.
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg = s.to_string();
                source = s.source();
            }
            UpstreamError::Unreachable(msg)
        }
    }
}

/// Whether the URL's host is this machine (a fake upstream in tests, a local proxy).
fn is_loopback(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    match url.host_str() {
        Some("localhost") => true,
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}
