//! TLS as Redis 7.2 configures it (`tls-*` parameters), on rustls with the ring provider.
//!
//! [`build`] turns the parameters into a rustls server configuration (what the TLS port
//! serves) and a client configuration (what a replica uses to reach a TLS primary with
//! `tls-replication yes`). [`Tls`] holds the current pair; a connection accepted on the TLS
//! port takes the server configuration current at that moment, so `CONFIG SET tls-cert-file`
//! (or any `tls-*` parameter) changes what new connections get and leaves open ones alone. A
//! configuration that fails to build (a missing file, a key that does not decrypt, an unknown
//! cipher) is an error and the previous one stays, as in Redis.
//!
//! Mapping of Redis's (OpenSSL's) settings:
//! - `tls-auth-clients yes|optional|no`: a client certificate signed by the CA is required,
//!   verified when sent, or not asked for.
//! - `tls-protocols`: TLSv1.2 and TLSv1.3 (rustls has no older versions; naming only those
//!   is an error, naming them beside a supported one is a warning).
//! - `tls-ciphers` (TLS 1.2, OpenSSL names such as `ECDHE-RSA-AES128-GCM-SHA256` or IANA
//!   names; `DEFAULT`, `HIGH`, `ALL` for every suite, `!name` to leave one out) and
//!   `tls-ciphersuites` (TLS 1.3 names): the suites offered, in the order given; an unknown
//!   name is an error.
//! - `tls-prefer-server-ciphers`: the server's order wins over the client's.
//! - `tls-session-caching`, `tls-session-cache-size`, `tls-session-cache-timeout`: as Redis
//!   sets up OpenSSL's server session cache: [`SessionCache`] holds that many sessions (0: as
//!   OpenSSL, no limit, here a million), the oldest leaving first, each resumable for that many
//!   seconds after it was made (TLS 1.2 session IDs and TLS 1.3 tickets alike: the tickets
//!   name cached sessions); with caching off no session is kept and no ticket issued, so none
//!   resumes. Any `tls-*` CONFIG SET starts an empty cache, as Redis's new OpenSSL context.
//! - `tls-key-file-pass`: the key file may be an encrypted PKCS#8 key (`ENCRYPTED PRIVATE
//!   KEY`, PBES2: PBKDF2 or scrypt with AES-CBC, what `openssl pkcs8 -topk8` writes).
//! - A replica's link verifies the primary's certificate chain against the CA, not its host
//!   name (OpenSSL as Redis sets it up checks no name either).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cinnabar_tlsverify::ChainOnly;
use parking_lot::{Mutex, RwLock};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CipherSuite, ClientConfig, RootCertStore, ServerConfig, SupportedCipherSuite,
    SupportedProtocolVersion,
};

/// The configurations in use. Empty until TLS is configured.
#[derive(Default)]
pub struct Tls {
    server: RwLock<Option<Arc<ServerConfig>>>,
    client: RwLock<Option<Arc<ClientConfig>>>,
}

impl Tls {
    /// What a connection accepted now is served with.
    pub fn acceptor(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.server
            .read()
            .clone()
            .map(tokio_rustls::TlsAcceptor::from)
    }

    /// What a replica connects to a TLS primary with.
    pub fn connector(&self) -> Option<tokio_rustls::TlsConnector> {
        self.client
            .read()
            .clone()
            .map(tokio_rustls::TlsConnector::from)
    }

    /// Makes `built` the configuration of new connections.
    pub fn install(&self, built: Built) {
        *self.server.write() = Some(built.server);
        *self.client.write() = built.client;
    }

    pub fn configured(&self) -> bool {
        self.server.read().is_some()
    }
}

/// A built configuration, not in use yet.
pub struct Built {
    server: Arc<ServerConfig>,
    client: Option<Arc<ClientConfig>>,
}

/// The parameters whose change rebuilds the configuration.
pub fn is_tls_param(name: &str) -> bool {
    name.starts_with("tls-") && name != "tls-port"
}

/// Whether TLS must be configured: a TLS port, or TLS for replication or the cluster bus.
pub fn wanted(get: &dyn Fn(&str) -> String) -> bool {
    get("tls-port").parse::<u16>().is_ok_and(|p| p != 0)
        || get("tls-replication") == "yes"
        || get("tls-cluster") == "yes"
}

/// Builds the configurations from the parameters `get` returns (the running configuration,
/// or it with the values a CONFIG SET is about to apply). The error says what is wrong.
pub fn build(get: &dyn Fn(&str) -> String) -> Result<Built, String> {
    let cert_file = get("tls-cert-file");
    if cert_file.is_empty() {
        return Err("No tls-cert-file configured!".into());
    }
    let key_file = get("tls-key-file");
    if key_file.is_empty() {
        return Err("No tls-key-file configured!".into());
    }
    let auth = get("tls-auth-clients");
    let ca_file = get("tls-ca-cert-file");
    let ca_dir = get("tls-ca-cert-dir");
    if (auth != "no" || get("tls-cluster") == "yes" || get("tls-replication") == "yes")
        && ca_file.is_empty()
        && ca_dir.is_empty()
    {
        return Err("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, tls-replication or tls-auth-clients are enabled!".into());
    }
    let versions = protocols(&get("tls-protocols"))?;
    let provider = Arc::new(provider(&get("tls-ciphers"), &get("tls-ciphersuites"))?);
    let certs = load_certs(&cert_file)?;
    let key = load_key(&key_file, &get("tls-key-file-pass"))?;
    let roots = Arc::new(load_roots(&ca_file, &ca_dir)?);

    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls-protocols: {e}"))?;
    let builder = if auth == "no" {
        builder.with_no_client_auth()
    } else {
        let v = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
        let v = if auth == "optional" {
            v.allow_unauthenticated()
        } else {
            v
        };
        builder.with_client_cert_verifier(
            v.build()
                .map_err(|e| format!("Failed to configure CA certificate(s): {e}"))?,
        )
    };
    let mut server = builder
        .with_single_cert(certs.clone(), key.clone_key())
        .map_err(|e| format!("Failed to load private key: {key_file}: {e}"))?;
    server.ignore_client_order = get("tls-prefer-server-ciphers") == "yes";
    server.session_storage = if get("tls-session-caching") == "yes" {
        let size = get("tls-session-cache-size").parse::<usize>().unwrap_or(0);
        let timeout = get("tls-session-cache-timeout")
            .parse::<u64>()
            .unwrap_or(300);
        Arc::new(SessionCache::new(
            if size == 0 { 1 << 20 } else { size },
            Duration::from_secs(timeout),
        ))
    } else {
        Arc::new(rustls::server::NoServerSessionStorage {})
    };

    // The client side (a replica's link): the client certificate is
    // tls-client-cert-file/-key-file when both are set, else the server's own, as in Redis.
    let (ccerts, ckey) = {
        let cf = get("tls-client-cert-file");
        let kf = get("tls-client-key-file");
        if !cf.is_empty() && !kf.is_empty() {
            (
                load_certs(&cf)?,
                load_key(&kf, &get("tls-client-key-file-pass"))?,
            )
        } else {
            (certs, key)
        }
    };
    // Without a CA (possible only with tls-auth-clients no and no TLS replication) there is
    // nothing to verify a primary with: no client side.
    let client = if roots.is_empty() {
        None
    } else {
        let c = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| format!("tls-protocols: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(
                ChainOnly::new(roots, provider)
                    .map_err(|e| format!("Failed to configure CA certificate(s): {e}"))?,
            ))
            .with_client_auth_cert(ccerts, ckey)
            .map_err(|e| format!("Failed to load client key: {e}"))?;
        Some(Arc::new(c))
    };
    Ok(Built {
        server: Arc::new(server),
        client,
    })
}

/// The server's TLS sessions, as OpenSSL's session cache with Redis's settings: at most
/// `size` of them (the oldest stored leaves first), each resumable for `timeout` after it was
/// stored (OpenSSL's session timeout). rustls stores a session under its TLS 1.2 session ID,
/// or under the TLS 1.3 ticket it sends (taken out when the ticket is used, as tickets are
/// single-use).
#[derive(Debug)]
pub struct SessionCache {
    size: usize,
    timeout: Duration,
    inner: Mutex<Sessions>,
}

#[derive(Debug, Default)]
struct Sessions {
    /// Session by key, with when it was stored.
    map: HashMap<Vec<u8>, (Vec<u8>, Instant)>,
    /// Keys in the order stored (with the time, to tell a key stored again); a key taken or
    /// replaced stays here until it reaches the front, and counts toward `size` until then.
    order: VecDeque<(Vec<u8>, Instant)>,
}

impl SessionCache {
    pub fn new(size: usize, timeout: Duration) -> SessionCache {
        SessionCache {
            size: size.max(1),
            timeout,
            inner: Mutex::default(),
        }
    }

    fn fresh(&self, stored: Instant, now: Instant) -> bool {
        now.duration_since(stored) <= self.timeout
    }
}

impl rustls::server::StoresServerSessions for SessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let now = Instant::now();
        let mut s = self.inner.lock();
        // Expired sessions are at the front (all live as long); then the oldest while full.
        while let Some((_, at)) = s.order.front() {
            if self.fresh(*at, now) && s.order.len() < self.size {
                break;
            }
            let Some((k, at)) = s.order.pop_front() else {
                break;
            };
            if s.map.get(&k).is_some_and(|(_, t)| *t == at) {
                s.map.remove(&k);
            }
        }
        s.order.push_back((key.clone(), now));
        s.map.insert(key, (value, now));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let s = self.inner.lock();
        let (value, at) = s.map.get(key)?;
        self.fresh(*at, Instant::now()).then(|| value.clone())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let (value, at) = self.inner.lock().map.remove(key)?;
        self.fresh(at, Instant::now()).then_some(value)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// Start-up: builds and installs the configuration when TLS is wanted.
pub fn configure(server: &crate::server::Server) -> Result<(), String> {
    let get = |n: &str| server.config.get(n);
    if !wanted(&get) {
        return Ok(());
    }
    let built = build(&get)?;
    server.tls.install(built);
    Ok(())
}

/// `tls-protocols`: "TLSv1.2 TLSv1.3" (any case); empty for both.
fn protocols(text: &str) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    if text.trim().is_empty() {
        return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    }
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        match word.to_ascii_lowercase().as_str() {
            "tlsv1.2" => out.push(&rustls::version::TLS12),
            "tlsv1.3" => out.push(&rustls::version::TLS13),
            "tlsv1" | "tlsv1.1" => {
                tracing::warn!("{word} is specified in tls-protocols but not supported (TLSv1.2 and TLSv1.3 are).");
            }
            _ => {
                return Err("Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'.".into())
            }
        }
    }
    if out.is_empty() {
        return Err("tls-protocols names no supported protocol (TLSv1.2, TLSv1.3)".into());
    }
    Ok(out)
}

/// The ring provider's cipher suites with their OpenSSL names (TLS 1.3's are the IANA ones).
fn suite_names(suite: CipherSuite) -> &'static [&'static str] {
    match suite {
        CipherSuite::TLS13_AES_256_GCM_SHA384 => &["TLS_AES_256_GCM_SHA384"],
        CipherSuite::TLS13_AES_128_GCM_SHA256 => &["TLS_AES_128_GCM_SHA256"],
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => &["TLS_CHACHA20_POLY1305_SHA256"],
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => &[
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ],
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => &[
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ],
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => &[
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ],
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => &[
            "ECDHE-RSA-AES256-GCM-SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ],
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => &[
            "ECDHE-RSA-AES128-GCM-SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ],
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => &[
            "ECDHE-RSA-CHACHA20-POLY1305",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ],
        _ => &[],
    }
}

/// The ring provider restricted to `tls-ciphers` (TLS 1.2) and `tls-ciphersuites` (TLS 1.3).
fn provider(ciphers: &str, ciphersuites: &str) -> Result<CryptoProvider, String> {
    let mut p = rustls::crypto::ring::default_provider();
    let all = std::mem::take(&mut p.cipher_suites);
    let (tls13, tls12): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|s| matches!(s, SupportedCipherSuite::Tls13(_)));
    let tls13 = select_suites(tls13, ciphersuites, "tls-ciphersuites")?;
    let tls12 = select_suites(tls12, ciphers, "tls-ciphers")?;
    p.cipher_suites = tls13.into_iter().chain(tls12).collect();
    if p.cipher_suites.is_empty() {
        return Err("tls-ciphers and tls-ciphersuites leave no cipher suite".into());
    }
    Ok(p)
}

/// The suites of `list` (OpenSSL syntax: names separated by `:`, `,` or spaces) in its
/// order; empty keeps them all.
fn select_suites(
    available: Vec<SupportedCipherSuite>,
    list: &str,
    param: &str,
) -> Result<Vec<SupportedCipherSuite>, String> {
    if list.trim().is_empty() {
        return Ok(available);
    }
    let find = |name: &str| {
        available
            .iter()
            .copied()
            .find(|s| suite_names(s.suite()).contains(&name))
    };
    let known_anywhere = |name: &str| {
        rustls::crypto::ring::ALL_CIPHER_SUITES
            .iter()
            .any(|s| suite_names(s.suite()).contains(&name))
    };
    let mut out: Vec<SupportedCipherSuite> = Vec::new();
    let mut excluded: Vec<SupportedCipherSuite> = Vec::new();
    for word in list.split([':', ',', ' ']).filter(|w| !w.is_empty()) {
        if word.starts_with('@') {
            continue; // @STRENGTH, @SECLEVEL=n: orderings and levels, nothing to select
        }
        let (negate, name) = match word.strip_prefix(['!', '-']) {
            Some(rest) => (true, rest),
            None => (false, word.strip_prefix('+').unwrap_or(word)),
        };
        if matches!(
            name,
            "DEFAULT" | "HIGH" | "ALL" | "ECDHE" | "EECDH" | "AESGCM"
        ) {
            if !negate {
                for s in &available {
                    if !out.iter().any(|o| o.suite() == s.suite()) {
                        out.push(*s);
                    }
                }
            }
            continue;
        }
        match find(name) {
            Some(s) if negate => excluded.push(s),
            Some(s) => {
                if !out.iter().any(|o| o.suite() == s.suite()) {
                    out.push(s);
                }
            }
            // A name of the other TLS version, or an OpenSSL alias for suites rustls lacks
            // (aNULL, RC4, MD5...) after `!`: nothing to do.
            None if negate || known_anywhere(name) => {}
            None => {
                let names: Vec<&str> = available
                    .iter()
                    .flat_map(|s| suite_names(s.suite()).iter().copied().take(1))
                    .collect();
                return Err(format!(
                    "Unknown cipher '{name}' in {param} (supported: {})",
                    names.join(" ")
                ));
            }
        }
    }
    out.retain(|s| !excluded.iter().any(|e| e.suite() == s.suite()));
    Ok(out)
}

fn load_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("Failed to load certificate: {path}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("Failed to load certificate: {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "Failed to load certificate: {path}: no certificate in the file"
        ));
    }
    Ok(certs)
}

/// A private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM, or PKCS#8 encrypted with `pass`.
pub fn load_key(path: &str, pass: &str) -> Result<PrivateKeyDer<'static>, String> {
    let fail = |why: String| format!("Failed to load private key: {path}: {why}");
    let text = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    if let Ok(key) = PrivateKeyDer::from_pem_slice(&text) {
        return Ok(key);
    }
    let text = String::from_utf8(text).map_err(|_| fail("not a PEM file".into()))?;
    let begin = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
    let end = "-----END ENCRYPTED PRIVATE KEY-----";
    let (Some(b), Some(e)) = (text.find(begin), text.find(end)) else {
        if text.contains("Proc-Type: 4,ENCRYPTED") {
            return Err(fail(
                "legacy encrypted PEM is not supported; convert it to encrypted PKCS#8 (openssl pkcs8 -topk8)".into(),
            ));
        }
        return Err(fail("no private key in the file".into()));
    };
    if e < b {
        return Err(fail("malformed PEM".into()));
    }
    if pass.is_empty() {
        return Err(fail(
            "the key is encrypted and tls-key-file-pass is empty".into(),
        ));
    }
    let (_, doc) = pkcs8::der::Document::from_pem(&text[b..e + end.len()])
        .map_err(|e| fail(format!("malformed PEM: {e}")))?;
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
        .map_err(|e| fail(format!("malformed encrypted key: {e}")))?;
    let plain = info.decrypt(pass).map_err(|e| {
        fail(format!(
            "cannot decrypt the key (wrong tls-key-file-pass?): {e}"
        ))
    })?;
    Ok(PrivatePkcs8KeyDer::from(plain.as_bytes().to_vec()).into())
}

/// The CA certificates of `tls-ca-cert-file` and of every file in `tls-ca-cert-dir`.
fn load_roots(file: &str, dir: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let fail = |what: &str, why: String| {
        format!("Failed to configure CA certificate(s) file/directory: {what}: {why}")
    };
    if !file.is_empty() {
        for cert in load_certs(file).map_err(|e| fail(file, e))? {
            roots.add(cert).map_err(|e| fail(file, e.to_string()))?;
        }
    }
    if !dir.is_empty() {
        let entries = std::fs::read_dir(dir).map_err(|e| fail(dir, e.to_string()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_file() {
                continue;
            }
            // Files that hold no certificate (an OpenSSL hash directory also has CRLs) are
            // passed over; a certificate that does not parse is an error.
            if let Ok(iter) = CertificateDer::pem_file_iter(&path) {
                for cert in iter.flatten() {
                    roots
                        .add(cert)
                        .map_err(|e| fail(&path.display().to_string(), e.to_string()))?;
                }
            }
        }
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_parse_as_redis() {
        assert_eq!(protocols("").unwrap().len(), 2);
        assert_eq!(protocols("TLSv1.2").unwrap().len(), 1);
        assert_eq!(protocols("tlsv1.2 TLSv1.3").unwrap().len(), 2);
        assert!(protocols("TLSv1.1").is_err());
        assert_eq!(protocols("TLSv1.1 TLSv1.3").unwrap().len(), 1);
        assert!(protocols("SSLv3").is_err());
    }

    #[test]
    fn cipher_lists_map_to_rustls_suites() {
        let p = provider("", "").unwrap();
        assert_eq!(p.cipher_suites.len(), 9);
        let p = provider("ECDHE-RSA-AES128-GCM-SHA256", "TLS_AES_256_GCM_SHA384").unwrap();
        let names: Vec<_> = p.cipher_suites.iter().map(|s| s.suite()).collect();
        assert_eq!(
            names,
            vec![
                CipherSuite::TLS13_AES_256_GCM_SHA384,
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            ]
        );
        let p = provider("DEFAULT:!aNULL:!ECDHE-RSA-CHACHA20-POLY1305", "").unwrap();
        assert_eq!(p.cipher_suites.len(), 8);
        let e = provider("ECDHE-RSA-RC4-SHA", "").unwrap_err();
        assert!(
            e.contains("Unknown cipher 'ECDHE-RSA-RC4-SHA' in tls-ciphers"),
            "{e}"
        );
        let e = provider("", "TLS_NOPE").unwrap_err();
        assert!(e.contains("in tls-ciphersuites"), "{e}");
    }
}
