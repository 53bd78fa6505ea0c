//! TLS for tests: a certificate authority with server and client certificates made in the
//! test ([`Pki`], with rcgen), and a blocking TLS client ([`TlsConn`], rustls).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cinnabar_resp::{encode_command, Frame};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// PEM files of a test PKI, in one temporary directory:
/// - `ca`: the CA certificate that signed every certificate below except `other_*`;
/// - `server_cert`/`server_key` and `server2_cert`/`server2_key`: two server certificates
///   (localhost, 127.0.0.1), to switch between;
/// - `client_cert`/`client_key`: a client certificate;
/// - `other_ca`, `other_client_cert`/`other_client_key`: a second CA and a client
///   certificate it signed (the "wrong CA");
/// - `server_key_encrypted`: `server_key` as encrypted PKCS#8, password [`Pki::PASSWORD`].
pub struct Pki {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub server2_cert: PathBuf,
    pub server2_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub other_ca: PathBuf,
    pub other_client_cert: PathBuf,
    pub other_client_key: PathBuf,
    pub server_key_encrypted: PathBuf,
}

fn ca(name: &str) -> (Certificate, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    (params.self_signed(&key).unwrap(), key)
}

fn leaf(cn: &str, server: bool, issuer: &(Certificate, KeyPair)) -> (Certificate, KeyPair) {
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![if server {
        ExtendedKeyUsagePurpose::ServerAuth
    } else {
        ExtendedKeyUsagePurpose::ClientAuth
    }];
    let key = KeyPair::generate().unwrap();
    (params.signed_by(&key, &issuer.0, &issuer.1).unwrap(), key)
}

impl Pki {
    /// The password of `server_key_encrypted`.
    pub const PASSWORD: &'static str = "s3cret pass";

    /// Makes the certificates and writes them under a fresh temporary directory.
    pub fn generate(label: &str) -> Pki {
        let dir = crate::temp_dir(label);
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let ca1 = ca("Cinnabar Test CA");
        let ca2 = ca("Some Other CA");
        let server = leaf("cinnabar-server", true, &ca1);
        let server2 = leaf("cinnabar-server-2", true, &ca1);
        let client = leaf("cinnabar-client", false, &ca1);
        let other_client = leaf("intruder", false, &ca2);
        // PBKDF2-SHA256 with AES-256-CBC, what `openssl pkcs8 -topk8 -v2 aes-256-cbc`
        // writes (few iterations: the key derivation runs unoptimised in tests).
        let encrypted = {
            use rand::RngCore;
            let der = server.1.serialize_der();
            let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).unwrap();
            let mut salt = [0u8; 16];
            let mut iv = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut salt);
            rand::thread_rng().fill_bytes(&mut iv);
            let params =
                pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(1000, &salt, &iv).unwrap();
            let doc = info
                .encrypt_with_params(params, Pki::PASSWORD.as_bytes())
                .unwrap();
            doc.to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
                .unwrap()
                .to_string()
        };
        Pki {
            ca: write("ca.crt", &ca1.0.pem()),
            server_cert: write("server.crt", &server.0.pem()),
            server_key: write("server.key", &server.1.serialize_pem()),
            server2_cert: write("server2.crt", &server2.0.pem()),
            server2_key: write("server2.key", &server2.1.serialize_pem()),
            client_cert: write("client.crt", &client.0.pem()),
            client_key: write("client.key", &client.1.serialize_pem()),
            other_ca: write("other-ca.crt", &ca2.0.pem()),
            other_client_cert: write("other-client.crt", &other_client.0.pem()),
            other_client_key: write("other-client.key", &other_client.1.serialize_pem()),
            server_key_encrypted: write("server.key.enc", &encrypted),
            dir,
        }
    }

    /// The server parameters for a TLS port with this PKI's first server certificate.
    pub fn server_args(&self, tls_port: u16) -> Vec<(String, String)> {
        vec![
            ("tls-port".into(), tls_port.to_string()),
            ("tls-cert-file".into(), s(&self.server_cert)),
            ("tls-key-file".into(), s(&self.server_key)),
            ("tls-ca-cert-file".into(), s(&self.ca)),
        ]
    }
}

/// A path as the UTF-8 string server parameters take.
pub fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

/// The DER of the first certificate of a PEM file.
pub fn cert_der(path: &Path) -> Vec<u8> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

/// A blocking TLS connection that sends commands and reads frames.
pub struct TlsConn {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl TlsConn {
    /// Connects and completes the handshake, trusting `ca`, presenting `client` (certificate
    /// and key files) when given. Errors are the handshake's (with TLS 1.3 a refused client
    /// certificate shows only at the first read: see [`TlsConn::cmd`]).
    pub fn connect(
        addr: SocketAddr,
        ca: &Path,
        client: Option<(&Path, &Path)>,
    ) -> io::Result<TlsConn> {
        TlsConn::connect_with(addr, TlsConn::client_config(ca, client))
    }

    /// A client configuration trusting `ca`, presenting `client` when given. Connections
    /// made with one configuration share its session store: a later one may resume a
    /// session an earlier one got (see [`TlsConn::resumed`]).
    pub fn client_config(ca: &Path, client: Option<(&Path, &Path)>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match client {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_file_iter(cert)
                        .unwrap()
                        .map(|c| c.unwrap())
                        .collect(),
                    PrivateKeyDer::from_pem_file(key).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }

    /// Connects with `config` and completes the handshake.
    pub fn connect_with(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
    ) -> io::Result<TlsConn> {
        let mut sock = TcpStream::connect(addr)?;
        sock.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut conn =
            rustls::ClientConnection::new(config, ServerName::try_from("localhost").unwrap())
                .map_err(io::Error::other)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)?;
        }
        Ok(TlsConn {
            stream: rustls::StreamOwned::new(conn, sock),
            buf: Vec::new(),
        })
    }

    /// Whether the handshake resumed an earlier session instead of a full one.
    pub fn resumed(&self) -> bool {
        self.stream.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    /// Sends a command given as words and reads its reply; an error when the server
    /// refused the session or closed it.
    pub fn cmd(&mut self, words: &[&str]) -> io::Result<Frame> {
        self.send(words)?;
        self.read()
    }

    /// Sends a command without reading its reply.
    pub fn send(&mut self, words: &[&str]) -> io::Result<()> {
        let mut out = Vec::new();
        encode_command(words, &mut out);
        self.stream.write_all(&out)?;
        self.stream.flush()
    }

    /// Sends bytes as they are (a command cut anywhere).
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Reads one frame (a reply or a push).
    pub fn read(&mut self) -> io::Result<Frame> {
        loop {
            if let Some((frame, n)) = Frame::parse(&self.buf).map_err(io::Error::other)? {
                self.buf.drain(..n);
                return Ok(frame);
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The negotiated protocol version ("TLSv1_2", "TLSv1_3").
    pub fn protocol(&self) -> String {
        format!("{:?}", self.stream.conn.protocol_version().unwrap())
    }

    /// The negotiated cipher suite (IANA name).
    pub fn suite(&self) -> String {
        format!(
            "{:?}",
            self.stream.conn.negotiated_cipher_suite().unwrap().suite()
        )
    }

    /// The DER of the certificate the server presented.
    pub fn peer_cert(&self) -> Vec<u8> {
        self.stream.conn.peer_certificates().unwrap()[0].to_vec()
    }
}
