//! The server-certificate check of Cinnabar's TLS clients (a replica's link to its primary,
//! and the CLI): the certificate chain must lead to a trusted CA, but the host name the
//! server was reached by is not checked, as OpenSSL set up the way Redis and hiredis do
//! (no host name given to it) checks none either.
//!
//! [`AnyCertificate`] checks nothing (the CLI's `--insecure`).
//!
//! Its own crate so that the server and the CLI share it without the CLI depending on the
//! server.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{VerifierBuilderError, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Verifies a server's chain against `roots` and ignores the name it was reached by;
/// everything else (validity dates, signatures, key usage) is webpki's check.
#[derive(Debug)]
pub struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ChainOnly {
    /// Fails when `roots` holds no usable CA certificate.
    pub fn new(
        roots: Arc<RootCertStore>,
        provider: Arc<CryptoProvider>,
    ) -> Result<ChainOnly, VerifierBuilderError> {
        Ok(ChainOnly {
            inner: WebPkiServerVerifier::builder_with_provider(roots, provider).build()?,
        })
    }
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Accepts any server certificate (the CLI's `--insecure`); the handshake's signatures are
/// still checked with the provider's algorithms.
#[derive(Debug)]
pub struct AnyCertificate(Arc<CryptoProvider>);

impl AnyCertificate {
    pub fn new(provider: Arc<CryptoProvider>) -> AnyCertificate {
        AnyCertificate(provider)
    }
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    /// A CA and a leaf certificate for `localhost` it signed.
    fn ca_and_leaf() -> (CertificateDer<'static>, CertificateDer<'static>) {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca.self_signed(&ca_key).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca, &ca_key)
            .unwrap();
        (ca.der().clone(), leaf.der().clone())
    }

    fn verifier(ca: CertificateDer<'static>) -> ChainOnly {
        let mut roots = RootCertStore::empty();
        roots.add(ca).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        ChainOnly::new(Arc::new(roots), provider).unwrap()
    }

    fn check(v: &ChainOnly, leaf: &CertificateDer<'_>, name: &str) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(name.to_string()).unwrap();
        v.verify_server_cert(leaf, &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn the_chain_counts_not_the_name() {
        let (ca, leaf) = ca_and_leaf();
        let v = verifier(ca);
        assert_eq!(check(&v, &leaf, "localhost"), Ok(()));
        assert_eq!(check(&v, &leaf, "elsewhere.example"), Ok(()));
        assert_eq!(check(&v, &leaf, "10.1.2.3"), Ok(()));
    }

    #[test]
    fn a_certificate_of_another_ca_is_refused() {
        let (_, leaf) = ca_and_leaf();
        let (other_ca, _) = ca_and_leaf();
        let v = verifier(other_ca);
        assert!(matches!(
            check(&v, &leaf, "localhost"),
            Err(rustls::Error::InvalidCertificate(_))
        ));
    }

    #[test]
    fn any_certificate_takes_a_certificate_of_another_ca() {
        let (_, leaf) = ca_and_leaf();
        let v = AnyCertificate::new(Arc::new(rustls::crypto::ring::default_provider()));
        let name = ServerName::try_from("elsewhere.example").unwrap();
        assert!(v
            .verify_server_cert(&leaf, &[], &name, &[], UnixTime::now())
            .is_ok());
    }

    #[test]
    fn no_ca_is_an_error() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        assert!(ChainOnly::new(Arc::new(RootCertStore::empty()), provider).is_err());
    }
}
