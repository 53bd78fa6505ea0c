//! TLS for the client, as redis-cli's `--tls` options set it up (hiredis over OpenSSL), on
//! rustls with the ring provider:
//! - the server's certificate chain is verified against `--cacert` / `--cacertdir`, or the
//!   system's CA bundle when neither is given; its host name is not checked (hiredis checks
//!   none either). `--insecure` verifies nothing.
//! - `--cert` / `--key` present a client certificate (servers with `tls-auth-clients yes`).
//! - `--sni` names the server in the handshake; by default the host is sent when it is a
//!   name (an address is never sent as SNI).
//!
//! The configuration is process-wide (one per run, as redis-cli's), set once from the
//! options by [`configure`]; every connection the client opens then uses it.

use std::net::TcpStream;
use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context};
use cinnabar_tlsverify::{AnyCertificate, ChainOnly};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

/// The `--tls` options.
#[derive(Debug, Default, Clone)]
pub struct TlsOptions {
    pub cacert: Option<String>,
    pub cacertdir: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub sni: Option<String>,
    pub insecure: bool,
}

struct Configured {
    config: Arc<ClientConfig>,
    sni: Option<String>,
}

static TLS: OnceLock<Configured> = OnceLock::new();

/// A TLS session over a connected socket.
pub type TlsStream = rustls::StreamOwned<ClientConnection, TcpStream>;

/// Turns TLS on for every connection of this process. Errors name the file at fault.
pub fn configure(opts: &TlsOptions) -> anyhow::Result<()> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let verifier: Arc<dyn ServerCertVerifier> = if opts.insecure {
        Arc::new(AnyCertificate::new(provider.clone()))
    } else {
        let roots = Arc::new(roots(opts)?);
        Arc::new(ChainOnly::new(roots, provider).context("Invalid CA Certificate File/Directory")?)
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&opts.cert, &opts.key) {
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| anyhow::anyhow!("Invalid client certificate: {cert}: {e}"))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| anyhow::anyhow!("Invalid private key: {key}: {e}"))?;
            builder
                .with_client_auth_cert(certs, key)
                .context("Invalid client certificate or private key")?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => bail!("--cert and --key must be given together"),
    };
    let _ = TLS.set(Configured {
        config: Arc::new(config),
        sni: opts.sni.clone(),
    });
    Ok(())
}

/// Whether connections use TLS.
pub fn enabled() -> bool {
    TLS.get().is_some()
}

/// Runs the TLS handshake over `sock` (connected to `host`) when TLS is on.
pub fn wrap(sock: TcpStream, host: &str) -> std::io::Result<Result<TlsStream, TcpStream>> {
    let Some(c) = TLS.get() else {
        return Ok(Err(sock));
    };
    let name = match &c.sni {
        Some(sni) => ServerName::try_from(sni.clone()),
        None => ServerName::try_from(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        ),
    }
    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut conn = ClientConnection::new(c.config.clone(), name)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut sock = sock;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    Ok(Ok(rustls::StreamOwned::new(conn, sock)))
}

fn roots(opts: &TlsOptions) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let mut add_file = |path: &str, strict: bool| -> anyhow::Result<()> {
        let iter = match CertificateDer::pem_file_iter(path) {
            Ok(it) => it,
            Err(e) if strict => bail!("Invalid CA Certificate File/Directory: {path}: {e}"),
            Err(_) => return Ok(()),
        };
        for cert in iter {
            match cert {
                Ok(c) => roots
                    .add(c)
                    .map_err(|e| anyhow::anyhow!("Invalid CA Certificate: {path}: {e}"))?,
                Err(e) if strict => bail!("Invalid CA Certificate File/Directory: {path}: {e}"),
                Err(_) => {}
            }
        }
        Ok(())
    };
    if let Some(f) = &opts.cacert {
        add_file(f, true)?;
    }
    if let Some(d) = &opts.cacertdir {
        let entries = std::fs::read_dir(d)
            .with_context(|| format!("Invalid CA Certificate File/Directory: {d}"))?;
        for e in entries.flatten() {
            if e.path().is_file() {
                add_file(&e.path().display().to_string(), false)?;
            }
        }
    }
    if opts.cacert.is_none() && opts.cacertdir.is_none() {
        // OpenSSL's default verify paths: SSL_CERT_FILE, else the system bundle.
        let f = std::env::var("SSL_CERT_FILE")
            .unwrap_or_else(|_| "/etc/ssl/certs/ca-certificates.crt".into());
        add_file(&f, false)?;
    }
    if roots.is_empty() {
        bail!("Invalid CA Certificate File/Directory: no CA certificate found");
    }
    Ok(roots)
}
