//! TLS for `wss://` with rustls: trust anchors, extra CAs, client certificates, SNI override,
//! ALPN, and the server side used by the listener.
//!
//! Every configuration uses the *ring* provider explicitly, so nothing depends on a process-wide
//! default [`CryptoProvider`] being installed.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite};

/// Where trust anchors come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Roots {
    /// The Mozilla root program, compiled in (`webpki-roots`). Behaves the same on every
    /// platform and needs no file system access.
    #[default]
    WebPki,
    /// The platform's trust store (`rustls-native-certs`), honouring `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR`.
    Native,
    /// Both of the above.
    WebPkiAndNative,
    /// No built-in anchors: only the CAs added with [`TlsOptions::add_ca_pem`] and
    /// [`TlsOptions::add_ca_pem_file`] are trusted.
    None,
}

/// Client TLS settings, built up with chained calls:
///
/// ```
/// use weft::client::tls::{Roots, TlsOptions};
///
/// let options = TlsOptions::new()
///     .roots(Roots::None)
///     .add_ca_pem_file("/etc/my-company/ca.pem")
///     .alpn(vec![b"http/1.1".to_vec()]);
/// # let _ = options;
/// ```
///
/// Files are read when the configuration is built ([`TlsOptions::client_config`]), not when
/// they are named.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    roots: Roots,
    extra_cas: Vec<Pem>,
    client_auth: Option<(Pem, Pem)>,
    server_name: Option<String>,
    danger_accept_invalid_certs: bool,
    alpn: Vec<Vec<u8>>,
    cache: ConfigCache,
}

impl TlsOptions {
    /// Defaults: [`Roots::WebPki`], full certificate verification, no client certificate, no
    /// ALPN.
    pub fn new() -> Self {
        Self::default()
    }

    /// Chooses where trust anchors come from.
    pub fn roots(mut self, roots: Roots) -> Self {
        self.roots = roots;
        self.changed()
    }

    /// Trusts the CA certificates in `pem` in addition to [`TlsOptions::roots`].
    pub fn add_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_cas.push(Pem::Bytes(pem.into()));
        self.changed()
    }

    /// Trusts the CA certificates in the PEM file at `path`, read when the configuration is
    /// built.
    pub fn add_ca_pem_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.extra_cas.push(Pem::File(path.into()));
        self.changed()
    }

    /// Presents a client certificate (mutual TLS): the chain, leaf first, and its private key
    /// (PKCS#8, PKCS#1 or SEC1), both PEM.
    pub fn client_auth_pem(
        mut self,
        cert_chain_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_auth = Some((
            Pem::Bytes(cert_chain_pem.into()),
            Pem::Bytes(key_pem.into()),
        ));
        self.changed()
    }

    /// Like [`TlsOptions::client_auth_pem`], reading both PEM files when the configuration is
    /// built.
    pub fn client_auth_pem_files(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.client_auth = Some((Pem::File(cert.into()), Pem::File(key.into())));
        self.changed()
    }

    /// Sends `name` as SNI and verifies the certificate against it instead of the URL's host.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self.changed()
    }

    /// Accepts any server certificate: expired, self-signed, issued for another name, or by an
    /// unknown CA.
    ///
    /// This is dangerous: the connection is still encrypted, but to *whoever* answered, so
    /// anyone on the path can impersonate the server and read or change all traffic. Use it
    /// only against test servers. Handshake signatures are still checked, which proves the
    /// peer holds the key of the certificate it sent, not that the certificate is the
    /// server's.
    pub fn danger_accept_invalid_certs(mut self, yes: bool) -> Self {
        self.danger_accept_invalid_certs = yes;
        self.changed()
    }

    /// The ALPN protocols to offer, most preferred first.
    pub fn alpn(mut self, protocols: Vec<Vec<u8>>) -> Self {
        self.alpn = protocols;
        self.changed()
    }

    /// Builds the rustls configuration.
    ///
    /// The result is cached: later calls on this value or its clones return the same
    /// configuration without reading files or the platform store again. Changing any setting
    /// starts a new cache.
    ///
    /// With [`TlsOptions::danger_accept_invalid_certs`] no trust anchors are loaded.
    ///
    /// # Errors
    ///
    /// A PEM file that cannot be read, PEM without certificates or key, a platform store that
    /// yields no certificate, no trust anchors at all, or a key that rustls rejects.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        if let Some(config) = self.cache.0.get() {
            return Ok(config.clone());
        }
        let config = Arc::new(self.build_client_config()?);
        // A racing caller may have stored an equal configuration first; either is fine.
        Ok(self.cache.0.get_or_init(|| config).clone())
    }

    /// The name to send as SNI and verify the certificate against: the override from
    /// [`TlsOptions::server_name`], else `host`. IP literals, IPv6 with or without brackets,
    /// become [`ServerName::IpAddress`].
    ///
    /// # Errors
    ///
    /// [`TlsError::InvalidServerName`] when the name is neither a DNS name nor an IP address.
    pub fn server_name_for(&self, host: &str) -> Result<ServerName<'static>, TlsError> {
        let name = self.server_name.as_deref().unwrap_or(host);
        let bare = name
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(name);
        ServerName::try_from(bare)
            .map(|name| name.to_owned())
            .map_err(|_| TlsError::InvalidServerName(name.to_owned()))
    }

    fn changed(mut self) -> Self {
        self.cache = ConfigCache::default();
        self
    }

    fn build_client_config(&self) -> Result<ClientConfig, TlsError> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = if self.danger_accept_invalid_certs {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                    algorithms: provider.signature_verification_algorithms,
                }))
        } else {
            builder.with_root_certificates(self.root_store()?)
        };
        let mut config = match &self.client_auth {
            Some((chain, key)) => builder
                .with_client_auth_cert(certificates(&chain.load()?)?, private_key(&key.load()?)?)?,
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.clone();
        Ok(config)
    }

    fn root_store(&self) -> Result<RootCertStore, TlsError> {
        let mut store = RootCertStore::empty();
        if matches!(self.roots, Roots::WebPki | Roots::WebPkiAndNative) {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if matches!(self.roots, Roots::Native | Roots::WebPkiAndNative) {
            add_native_roots(&mut store)?;
        }
        for pem in &self.extra_cas {
            for cert in certificates(&pem.load()?)? {
                store.add(cert).map_err(TlsError::InvalidCaCertificate)?;
            }
        }
        if store.is_empty() {
            return Err(TlsError::NoTrustAnchors);
        }
        Ok(store)
    }
}

/// Runs the client TLS handshake over an established `stream` (TCP, or a proxy tunnel).
///
/// `host` is the URL's host; see [`TlsOptions::server_name_for`].
///
/// # Errors
///
/// Configuration errors from [`TlsOptions::client_config`], and [`TlsError::Handshake`] when
/// the handshake fails. A rejected certificate is a [`rustls::Error`] inside that
/// [`io::Error`] (reach it with [`io::Error::get_ref`]).
///
/// # Cancel safety
///
/// Not cancel safe: dropping the future mid-handshake leaves `stream` unusable.
pub async fn connect_tls<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    host: &str,
    options: &TlsOptions,
) -> Result<tokio_rustls::client::TlsStream<S>, TlsError> {
    let name = options.server_name_for(host)?;
    let config = options.client_config()?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(TlsError::Handshake)
}

/// Runs the client TLS handshake over a blocking `stream` and returns once it is complete, so
/// certificate errors surface here rather than on the first read or write.
///
/// # Errors
///
/// As for [`connect_tls`].
pub fn connect_tls_blocking<S: io::Read + io::Write>(
    mut stream: S,
    host: &str,
    options: &TlsOptions,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, S>, TlsError> {
    let name = options.server_name_for(host)?;
    let mut conn = rustls::ClientConnection::new(options.client_config()?, name)?;
    // complete_io returns UnexpectedEof if the peer closes mid-handshake, so this ends.
    while conn.is_handshaking() {
        conn.complete_io(&mut stream).map_err(TlsError::Handshake)?;
    }
    Ok(rustls::StreamOwned::new(conn, stream))
}

/// Server TLS settings: a certificate chain and key, optionally requiring client certificates.
#[derive(Debug, Clone)]
pub struct ServerTlsOptions {
    cert_chain: Pem,
    key: Pem,
    client_ca: Option<Pem>,
    alpn: Vec<Vec<u8>>,
}

impl ServerTlsOptions {
    /// The server's certificate chain (leaf first) and private key, both PEM.
    pub fn from_pem(cert_chain_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        Self::new(
            Pem::Bytes(cert_chain_pem.into()),
            Pem::Bytes(key_pem.into()),
        )
    }

    /// Like [`ServerTlsOptions::from_pem`], reading both files when the configuration is built.
    pub fn from_pem_files(cert_chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        Self::new(Pem::File(cert_chain.into()), Pem::File(key.into()))
    }

    /// Requires every client to present a certificate issued by a CA in `ca_pem`.
    pub fn client_auth_ca_pem(mut self, ca_pem: impl Into<Vec<u8>>) -> Self {
        self.client_ca = Some(Pem::Bytes(ca_pem.into()));
        self
    }

    /// Like [`ServerTlsOptions::client_auth_ca_pem`], reading the file when the configuration
    /// is built.
    pub fn client_auth_ca_pem_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.client_ca = Some(Pem::File(path.into()));
        self
    }

    /// The ALPN protocols to accept, most preferred first.
    pub fn alpn(mut self, protocols: Vec<Vec<u8>>) -> Self {
        self.alpn = protocols;
        self
    }

    /// Builds the rustls configuration.
    ///
    /// # Errors
    ///
    /// A PEM file that cannot be read, PEM without certificates or key, a key that does not
    /// match the certificate, or client CA certificates that rustls rejects.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let builder = match &self.client_ca {
            Some(pem) => {
                let mut store = RootCertStore::empty();
                for cert in certificates(&pem.load()?)? {
                    store.add(cert).map_err(TlsError::InvalidCaCertificate)?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider)
                        .build()
                        .map_err(TlsError::ClientVerifier)?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(
            certificates(&self.cert_chain.load()?)?,
            private_key(&self.key.load()?)?,
        )?;
        config.alpn_protocols = self.alpn.clone();
        Ok(Arc::new(config))
    }

    fn new(cert_chain: Pem, key: Pem) -> Self {
        Self {
            cert_chain,
            key,
            client_ca: None,
            alpn: Vec::new(),
        }
    }
}

/// Why TLS could not be set up or the handshake failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read PEM file {}: {source}", path.display())]
    ReadPem {
        /// The file named in the options.
        path: PathBuf,
        /// Why reading failed.
        source: io::Error,
    },
    /// PEM data is malformed (bad base64, a section without its end line, ...).
    #[error("invalid PEM: {0}")]
    InvalidPem(#[source] rustls_pki_types::pem::Error),
    /// PEM data that should hold certificates holds none.
    #[error("PEM holds no certificates")]
    NoCertificates,
    /// PEM data that should hold a private key holds none.
    #[error("PEM holds no private key")]
    NoPrivateKey,
    /// A CA certificate could not be used as a trust anchor.
    #[error("invalid CA certificate: {0}")]
    InvalidCaCertificate(#[source] rustls::Error),
    /// The platform's trust store yielded no certificates.
    #[error("cannot load the platform's root certificates: {0}")]
    NativeRoots(#[source] rustls_native_certs::Error),
    /// Nothing to verify a server against: [`Roots::None`] (or an empty platform store) and no
    /// extra CA certificates.
    #[error("no trust anchors configured")]
    NoTrustAnchors,
    /// The host or [`TlsOptions::server_name`] is neither a DNS name nor an IP address.
    #[error("invalid TLS server name {0:?}")]
    InvalidServerName(String),
    /// The client CA certificates for [`ServerTlsOptions::client_auth_ca_pem`] were rejected.
    #[error("cannot verify client certificates: {0}")]
    ClientVerifier(#[source] rustls::server::VerifierBuilderError),
    /// rustls rejected the configuration, for example a key that does not match its
    /// certificate.
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
    /// The handshake failed: I/O, or the peer or its certificate was rejected (then the
    /// [`io::Error`] wraps a [`rustls::Error`]).
    #[error("TLS handshake failed: {0}")]
    Handshake(#[source] io::Error),
}

/// PEM from memory or from a file read at build time.
#[derive(Clone)]
enum Pem {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl Pem {
    fn load(&self) -> Result<Cow<'_, [u8]>, TlsError> {
        match self {
            Pem::Bytes(bytes) => Ok(Cow::Borrowed(bytes)),
            Pem::File(path) => {
                std::fs::read(path)
                    .map(Cow::Owned)
                    .map_err(|source| TlsError::ReadPem {
                        path: path.clone(),
                        source,
                    })
            }
        }
    }
}

// Private keys live in these bytes, so Debug shows only their size.
impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::Bytes(bytes) => write!(f, "Pem({} bytes)", bytes.len()),
            Pem::File(path) => f.debug_tuple("PemFile").field(path).finish(),
        }
    }
}

/// The configuration built from a [`TlsOptions`], shared by its clones.
#[derive(Clone, Default)]
struct ConfigCache(Arc<OnceLock<Arc<ClientConfig>>>);

impl fmt::Debug for ConfigCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.0.get().is_some() {
            "built"
        } else {
            "empty"
        };
        f.write_str(state)
    }
}

/// Accepts any certificate but still checks that the peer signed the handshake with the key of
/// the certificate it sent, so a broken peer fails as it would otherwise.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(TlsError::InvalidPem)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificates);
    }
    Ok(certs)
}

fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|err| match err {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey,
        err => TlsError::InvalidPem(err),
    })
}

/// Adds the platform's roots. A store where some files fail to load is common (stray files in
/// `/etc/ssl/certs`), so errors only count when nothing loaded at all.
fn add_native_roots(store: &mut RootCertStore) -> Result<(), TlsError> {
    let mut loaded = rustls_native_certs::load_native_certs();
    if loaded.certs.is_empty() && !loaded.errors.is_empty() {
        return Err(TlsError::NativeRoots(loaded.errors.swap_remove(0)));
    }
    for error in &loaded.errors {
        tracing::warn!(%error, "skipping part of the platform's trust store");
    }
    let (added, ignored) = store.add_parsable_certificates(loaded.certs);
    tracing::debug!(added, ignored, "loaded the platform's root certificates");
    Ok(())
}

#[cfg(test)]
mod tests;
