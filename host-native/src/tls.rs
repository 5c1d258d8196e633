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
//! one of the CA certificates given with [`TlsConfig::ca_pem`] (with none
//! given, to one of the system's trusted CAs, as Java's default trust
//! store) and be valid for the host of the address dialled (or
//! [`TlsConfig::server_name`]). [`TlsConfig::insecure_skip_verify`] turns
//! that off, which is dangerous.
//!
//! Servers started with `-Dtls.server.need.client.auth=require` want a
//! client certificate (mutual TLS): [`TlsConfig::client_certificate`]
//! presents one (Java's `tls.client.certPath` and `tls.client.keyPath`).

use std::fmt;
use std::io;
use std::sync::{Arc, OnceLock};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, AlertDescription, CertificateError, RootCertStore};

use crate::Error;

/// TLS settings of a client: which CAs to trust, which name to expect and
/// which certificate to present.
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
    client: Option<ClientCertificate>,
}

/// The certificate chain and private key a client presents, as PEM.
#[derive(Clone)]
struct ClientCertificate {
    chain_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the private key.
        f.debug_struct("TlsConfig")
            .field("ca_pems", &self.ca_pems.len())
            .field("server_name", &self.server_name)
            .field("insecure_skip_verify", &self.insecure)
            .field("client_certificate", &self.client.is_some())
            .finish()
    }
}

impl TlsConfig {
    /// TLS with verification on, trusting the system's CA store until a CA
    /// is given with [`TlsConfig::ca_pem`] (or verification is turned off
    /// with [`TlsConfig::insecure_skip_verify`]), and no client
    /// certificate.
    pub fn new() -> Self {
        TlsConfig::default()
    }

    /// Trusts the CA certificates in `pem` (one or more `CERTIFICATE`
    /// blocks), and only those: the system's store is no longer consulted
    /// (as Java's `tls.client.trustCertPath`). May be called more than
    /// once.
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

    /// Presents this certificate to servers that ask for one (mutual TLS:
    /// name servers and brokers started with
    /// `-Dtls.server.need.client.auth=require`; Java's
    /// `tls.client.certPath` and `tls.client.keyPath`).
    ///
    /// `cert_chain_pem` holds the client's certificate first, then any
    /// intermediates (`CERTIFICATE` blocks); `private_key_pem` its
    /// unencrypted private key (PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE
    /// KEY` or SEC1 `EC PRIVATE KEY`). Both are checked when the client is
    /// built: unreadable PEM, an unsupported key or a key that does not
    /// match the certificate is an [`Error::Config`].
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let tls = rmq::TlsConfig::new()
    ///     .ca_pem(std::fs::read("ca.pem")?)
    ///     .client_certificate(std::fs::read("client.pem")?, std::fs::read("client.key")?);
    /// let producer = rmq::Producer::builder()
    ///     .name_server("127.0.0.1:9876")
    ///     .group("mtls_group")
    ///     .tls(tls)
    ///     .build()?;
    /// producer.start().await?;
    /// # Ok(()) }
    /// ```
    pub fn client_certificate(
        mut self,
        cert_chain_pem: impl Into<Vec<u8>>,
        private_key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.client = Some(ClientCertificate {
            chain_pem: cert_chain_pem.into(),
            key_pem: private_key_pem.into(),
        });
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
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        } else if self.ca_pems.is_empty() {
            builder.with_root_certificates(system_roots().map_err(bad)?)
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
            builder.with_root_certificates(roots)
        };
        let config = match &self.client {
            None => builder.with_no_client_auth(),
            Some(client) => {
                let (chain, key) = client.parse().map_err(bad)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| bad(format!("client certificate and key: {e}")))?
            }
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
            presents_certificate: self.client.is_some(),
        }))
    }
}

impl ClientCertificate {
    /// The certificate chain and key, or why they cannot be used.
    fn parse(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
        let chain = CertificateDer::pem_slice_iter(&self.chain_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("reading the client certificate chain: {e}"))?;
        if chain.is_empty() {
            return Err("no CERTIFICATE block in the client certificate chain PEM".into());
        }
        let encrypted = String::from_utf8_lossy(&self.key_pem).contains("ENCRYPTED PRIVATE KEY");
        if encrypted {
            return Err(
                "the client private key is encrypted, which is not supported: \
                        decrypt it (openssl pkcs8 -in KEY -out PLAIN)"
                    .into(),
            );
        }
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem).map_err(|e| {
            format!(
                "reading the client private key (a PEM PRIVATE KEY, RSA PRIVATE KEY or \
                 EC PRIVATE KEY block): {e}"
            )
        })?;
        Ok((chain, key))
    }
}

/// The system's trusted CAs (read once per process): `SSL_CERT_FILE` /
/// `SSL_CERT_DIR` when set, else the platform's store (OpenSSL's
/// directories on Linux, the keychain on macOS, the Windows store).
fn system_roots() -> Result<Arc<RootCertStore>, String> {
    static SYSTEM: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| usable_roots(rustls_native_certs::load_native_certs()))
        .clone()
}

/// The store of the usable certificates found, or why there is none.
fn usable_roots(
    found: rustls_native_certs::CertificateResult,
) -> Result<Arc<RootCertStore>, String> {
    let mut roots = RootCertStore::empty();
    let (added, _unusable) = roots.add_parsable_certificates(found.certs);
    if added > 0 {
        return Ok(Arc::new(roots));
    }
    let why = if found.errors.is_empty() {
        "it is empty".to_string()
    } else {
        found
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    Err(format!(
        "no CA given and no usable CA in the system's store ({why}): give ca_pem(..) \
         (or set SSL_CERT_FILE; or, dangerously, insecure_skip_verify())"
    ))
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
    /// Whether a client certificate is presented (what a certificate
    /// alert from the server means depends on it).
    presents_certificate: bool,
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
            .map_err(|e| handshake_error(&e, self.presents_certificate))
    }

    /// A readable reason for a failed read of an open session. A TLS 1.3
    /// server checks the client certificate after the client's handshake
    /// ended: its refusal is an alert on the first read.
    pub(crate) fn read_error(&self, e: &io::Error) -> String {
        match tls_error(e) {
            Some(rustls::Error::AlertReceived(alert)) => {
                format!("read: {}", alert_reason(*alert, self.presents_certificate))
            }
            _ => format!("read: {e}"),
        }
    }
}

/// The host part of `host:port` (`[v6]:port` too).
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The TLS error inside `e`, if it is one.
fn tls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// A readable reason for a failed handshake (`presented`: whether a client
/// certificate was).
fn handshake_error(e: &io::Error, presented: bool) -> String {
    match tls_error(e) {
        Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            "TLS handshake failed: certificate verify failed: unknown issuer (the server's \
             certificate does not chain to a trusted CA: those of TlsConfig::ca_pem, or with \
             none given the system's store)"
                .into()
        }
        Some(rustls::Error::InvalidCertificate(c)) => {
            format!("TLS handshake failed: certificate verify failed: {c}")
        }
        Some(rustls::Error::AlertReceived(alert)) => {
            format!("TLS handshake failed: {}", alert_reason(*alert, presented))
        }
        Some(other) => format!("TLS handshake failed: {other}"),
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            "TLS handshake failed: the peer closed the connection (does it speak TLS?)".into()
        }
        None => format!("TLS handshake failed: {e}"),
    }
}

/// A readable reason for a TLS alert from the server (`presented`: whether
/// a client certificate was).
fn alert_reason(alert: AlertDescription, presented: bool) -> String {
    const REQUIRED: &str =
        "the server requires a client certificate (TlsConfig::client_certificate)";
    match alert {
        AlertDescription::CertificateRequired => format!("{REQUIRED} (TLS alert {alert:?})"),
        // A server that wants a certificate and got none: netty over the
        // JDK sends bad_certificate (TLS 1.3), others certificate_unknown.
        AlertDescription::BadCertificate | AlertDescription::CertificateUnknown if !presented => {
            format!("{REQUIRED} (TLS alert {alert:?})")
        }
        AlertDescription::BadCertificate
        | AlertDescription::UnknownCA
        | AlertDescription::CertificateUnknown
        | AlertDescription::CertificateExpired
        | AlertDescription::CertificateRevoked
        | AlertDescription::UnsupportedCertificate => {
            format!("the server did not accept the client certificate (TLS alert {alert:?})")
        }
        other => format!("the server sent the TLS alert {other:?}"),
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

    /// A self-signed client certificate and its key, as PEM.
    fn client_pem() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn config_error(tls: TlsConfig) -> String {
        match tls.connector() {
            Err(Error::Config(m)) => m,
            Err(e) => panic!("expected Error::Config, got {e:?}"),
            Ok(_) => panic!("expected Error::Config, the connector was made"),
        }
    }

    #[test]
    fn an_empty_system_store_is_a_config_error_naming_ca_pem() {
        let e = usable_roots(rustls_native_certs::CertificateResult::default()).unwrap_err();
        assert!(e.contains("ca_pem"), "{e}");
    }

    #[test]
    fn without_a_ca_the_system_store_is_trusted() {
        // The store as rustls-native-certs reads SSL_CERT_FILE.
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        let file = std::env::temp_dir().join(format!("rmq-tls-store-{}.pem", std::process::id()));
        std::fs::write(&file, ca.pem()).unwrap();
        let found = rustls_native_certs::load_certs_from_paths(Some(&file), None);
        let _ = std::fs::remove_file(&file);
        let roots = usable_roots(found).unwrap();
        assert_eq!(roots.len(), 1);
    }

    #[test]
    fn a_malformed_client_key_is_a_config_error() {
        let (cert, _) = client_pem();
        let e = config_error(
            TlsConfig::new()
                .insecure_skip_verify()
                .client_certificate(cert.clone(), "not a key"),
        );
        assert!(e.contains("client private key"), "{e}");
        // A PEM block whose contents are no key.
        let garbage = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let e = config_error(
            TlsConfig::new()
                .insecure_skip_verify()
                .client_certificate(cert, garbage),
        );
        assert!(e.contains("client"), "{e}");
    }

    #[test]
    fn a_client_key_of_another_certificate_is_a_config_error() {
        let (cert, _) = client_pem();
        let (_, other_key) = client_pem();
        let e = config_error(
            TlsConfig::new()
                .insecure_skip_verify()
                .client_certificate(cert, other_key),
        );
        assert!(e.contains("client certificate and key"), "{e}");
    }

    #[test]
    fn a_client_chain_without_a_certificate_is_a_config_error() {
        let (_, key) = client_pem();
        let e = config_error(
            TlsConfig::new()
                .insecure_skip_verify()
                .client_certificate("no pem", key),
        );
        assert!(e.contains("client certificate chain"), "{e}");
    }

    #[test]
    fn an_encrypted_client_key_is_a_config_error() {
        let (cert, _) = client_pem();
        let key =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let e = config_error(
            TlsConfig::new()
                .insecure_skip_verify()
                .client_certificate(cert, key),
        );
        assert!(e.contains("encrypted"), "{e}");
    }

    #[test]
    fn a_client_certificate_with_its_key_makes_a_connector() {
        let (cert, key) = client_pem();
        let tls = TlsConfig::new()
            .ca_pem(cert.clone())
            .client_certificate(cert, key);
        assert!(tls.connector().is_ok());
    }

    #[test]
    fn the_debug_form_never_shows_the_private_key() {
        let (cert, key) = client_pem();
        let shown = format!(
            "{:?}",
            TlsConfig::new().client_certificate(cert, key.clone())
        );
        assert!(!shown.contains("PRIVATE"), "{shown}");
        assert!(shown.contains("client_certificate: true"), "{shown}");
    }

    #[test]
    fn a_pem_without_a_certificate_is_a_config_error() {
        let r = TlsConfig::new().ca_pem("not a pem").connector();
        assert!(matches!(r, Err(Error::Config(_))), "{:?}", r.err());
    }

    /// An error as a read of a session the server sent `alert` on.
    fn alert_error(alert: AlertDescription) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(alert),
        )
    }

    #[test]
    fn a_certificate_alert_after_the_handshake_reads_as_a_refused_client_certificate() {
        let without = TlsConfig::new().insecure_skip_verify().connector().unwrap();
        let (cert, key) = client_pem();
        let with = TlsConfig::new()
            .insecure_skip_verify()
            .client_certificate(cert, key)
            .connector()
            .unwrap();
        for alert in [
            AlertDescription::BadCertificate,
            AlertDescription::CertificateUnknown,
            AlertDescription::CertificateRequired,
        ] {
            let e = without.read_error(&alert_error(alert));
            assert!(e.contains("requires a client certificate"), "{e}");
            assert!(e.contains("TlsConfig::client_certificate"), "{e}");
        }
        for alert in [
            AlertDescription::BadCertificate,
            AlertDescription::CertificateUnknown,
            AlertDescription::UnknownCA,
        ] {
            let e = with.read_error(&alert_error(alert));
            assert!(e.contains("did not accept the client certificate"), "{e}");
        }
        let e = with.read_error(&alert_error(AlertDescription::HandshakeFailure));
        assert!(e.contains("HandshakeFailure"), "{e}");
        let other = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(with.read_error(&other), format!("read: {other}"));
    }

    #[test]
    fn the_opt_out_needs_no_ca() {
        assert!(TlsConfig::new().insecure_skip_verify().connector().is_ok());
    }
}
