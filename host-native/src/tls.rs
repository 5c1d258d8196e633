//! TLS to name servers and brokers (rustls with the ring provider, the
//! stack the bridge's `wss` already uses).
//!
//! RocketMQ's TLS is the remoting protocol inside a TLS session on the same
//! port: a name server or broker started with `-Dtls.server.mode=enforcing`
//! refuses plaintext, `permissive` (the Java default) takes both. A client
//! with a [`TlsConfig`] speaks TLS to every name server and broker it
//! connects to.
//!
//! Verification is on by default: the server's certificate must chain to
//! one of the CA certificates given with [`TlsConfig::ca_pem`] and be valid
//! for the host of the address dialled (or [`TlsConfig::server_name`]).
//! [`TlsConfig::insecure_skip_verify`] turns that off, which is dangerous.

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, CertificateError, RootCertStore};

use crate::Error;

/// TLS settings of a client: which CAs to trust and which name to expect.
///
/// ```no_run
/// # async fn demo(ca_pem: Vec<u8>) -> Result<(), rmq::Error> {
/// let producer = rmq::Producer::builder()
///     .name_server("127.0.0.1:9876")
///     .group("tls_group")
///     .tls(rmq::TlsConfig::new().ca_pem(ca_pem))
///     .build()?;
/// producer.start().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct TlsConfig {
    ca_pems: Vec<Vec<u8>>,
    server_name: Option<String>,
    insecure: bool,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("ca_pems", &self.ca_pems.len())
            .field("server_name", &self.server_name)
            .field("insecure_skip_verify", &self.insecure)
            .finish()
    }
}

impl TlsConfig {
    /// TLS with verification on and no trusted CA yet: add one with
    /// [`TlsConfig::ca_pem`] (or opt out with
    /// [`TlsConfig::insecure_skip_verify`]).
    pub fn new() -> Self {
        TlsConfig::default()
    }

    /// Trusts the CA certificates in `pem` (one or more `CERTIFICATE`
    /// blocks). May be called more than once.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pems.push(pem.into());
        self
    }

    /// The name every server certificate must be valid for, instead of the
    /// host of each address dialled (brokers are reached by the address
    /// they register, usually an IP: a shared certificate for a DNS name
    /// needs this).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// **Dangerous**: accepts any server certificate (unknown CA, wrong
    /// name, expired). The session is encrypted but anyone on the path can
    /// impersonate the server. For tests and for brokers started with
    /// RocketMQ's `tls.test.mode.enable=true` (a throw-away self-signed
    /// certificate).
    pub fn insecure_skip_verify(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// Checks the settings and makes the connector every connection uses.
    pub(crate) fn connector(&self) -> Result<Arc<TlsConnector>, Error> {
        let bad = |m: String| Error::Config(format!("TLS: {m}"));
        // ring builds quickly and needs no C toolchain beyond cc (as the
        // bridge): rustls 0.23.48 deprecates it only for lacking
        // post-quantum key exchange.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?;
        let config = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        } else {
            let mut roots = RootCertStore::empty();
            for pem in &self.ca_pems {
                let mut found = false;
                for cert in CertificateDer::pem_slice_iter(pem) {
                    let cert = cert.map_err(|e| bad(format!("reading a CA certificate: {e}")))?;
                    roots
                        .add(cert)
                        .map_err(|e| bad(format!("unusable CA certificate: {e}")))?;
                    found = true;
                }
                if !found {
                    return Err(bad("no CERTIFICATE block in a CA PEM".into()));
                }
            }
            if roots.is_empty() {
                return Err(bad(
                    "no trusted CA: give ca_pem(..) (or, dangerously, insecure_skip_verify())"
                        .into(),
                ));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        let server_name = match &self.server_name {
            Some(name) => Some(
                ServerName::try_from(name.clone())
                    .map_err(|e| bad(format!("server name {name:?}: {e}")))?,
            ),
            None => None,
        };
        Ok(Arc::new(TlsConnector {
            inner: tokio_rustls::TlsConnector::from(Arc::new(config)),
            server_name,
        }))
    }
}

/// The connector of a builder's optional TLS settings (checked: a bad
/// setting is an [`Error::Config`] at build).
pub(crate) fn connector_of(tls: Option<&TlsConfig>) -> Result<Option<Arc<TlsConnector>>, Error> {
    tls.map(TlsConfig::connector).transpose()
}

/// Opens TLS sessions over connected sockets.
pub(crate) struct TlsConnector {
    inner: tokio_rustls::TlsConnector,
    server_name: Option<ServerName<'static>>,
}

impl TlsConnector {
    /// The TLS handshake with `addr` over `tcp`; the error is a sentence
    /// saying what failed ("certificate verify failed: unknown issuer …").
    pub(crate) async fn handshake(
        &self,
        addr: &str,
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>, String> {
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => {
                let host = host_of(addr);
                ServerName::try_from(host.to_string())
                    .map_err(|e| format!("TLS: no server name in {addr:?}: {e}"))?
            }
        };
        self.inner
            .connect(name, tcp)
            .await
            .map_err(|e| handshake_error(&e))
    }
}

/// The host part of `host:port` (`[v6]:port` too).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A readable reason for a failed handshake.
fn handshake_error(e: &io::Error) -> String {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            "TLS handshake failed: certificate verify failed: unknown issuer (the server's \
             certificate does not chain to a trusted CA; check TlsConfig::ca_pem)"
                .into()
        }
        Some(rustls::Error::InvalidCertificate(c)) => {
            format!("TLS handshake failed: certificate verify failed: {c}")
        }
        Some(other) => format!("TLS handshake failed: {other}"),
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            "TLS handshake failed: the peer closed the connection (does it speak TLS?)".into()
        }
        None => format!("TLS handshake failed: {e}"),
    }
}

/// The opt-out verifier: any certificate, but handshake signatures are
/// still checked (the peer must hold the key of the certificate it sent).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_of_an_address_is_its_server_name() {
        assert_eq!(host_of("127.0.0.1:10911"), "127.0.0.1");
        assert_eq!(host_of("broker.local:9876"), "broker.local");
        assert_eq!(host_of("[::1]:9876"), "::1");
    }

    #[test]
    fn verification_without_a_ca_is_a_config_error() {
        assert!(matches!(
            TlsConfig::new().connector(),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn a_pem_without_a_certificate_is_a_config_error() {
        let r = TlsConfig::new().ca_pem("not a pem").connector();
        assert!(matches!(r, Err(Error::Config(_))), "{:?}", r.err());
    }

    #[test]
    fn the_opt_out_needs_no_ca() {
        assert!(TlsConfig::new().insecure_skip_verify().connector().is_ok());
    }
}
