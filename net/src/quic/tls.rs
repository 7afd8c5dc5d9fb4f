//! TLS 1.3 configuration for the mesh: every member presents a certificate signed by the
//! consortium CA whose subject alternative name is `party-<id>`, and requires the same of
//! its peers. The ring provider is passed explicitly (`builder_with_provider`), so a
//! second provider compiled into the binary can never make rustls panic at start-up.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::NetError;
use crate::id::PartyId;

/// ALPN protocol id of consort's wire format.
pub const ALPN: &[u8] = b"consort/1";

/// A member's TLS identity: its certificate chain, its private key and the consortium CA.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub ca: CertificateDer<'static>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("chain", &self.chain.len()).field("key", &"<redacted>").finish()
    }
}

/// Our copy of the private key is wiped when the identity is dropped. (rustls keeps its
/// own signing key inside the TLS configs for the life of the connection.)
impl Drop for Identity {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl Identity {
    /// Parses PEM text: certificate chain, PKCS#8/SEC1 private key, CA certificate.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8], ca_pem: &[u8]) -> Result<Identity, NetError> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| NetError::Config(format!("certificate file is not PEM: {e}")))?;
        if chain.is_empty() {
            return Err(NetError::Config("certificate file holds no certificate".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| NetError::Config(format!("key file holds no usable private key: {e}")))?;
        let ca = CertificateDer::from_pem_slice(ca_pem)
            .map_err(|e| NetError::Config(format!("CA file holds no certificate: {e}")))?;
        Ok(Identity { chain, key, ca })
    }

    fn roots(&self) -> Result<Arc<RootCertStore>, NetError> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone()).map_err(|e| NetError::Config(format!("unusable CA certificate: {e}")))?;
        Ok(Arc::new(roots))
    }

    pub(crate) fn server_config(&self) -> Result<ServerConfig, NetError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(self.roots()?, Arc::clone(&provider))
            .build()
            .map_err(|e| NetError::Config(format!("client verifier: {e}")))?;
        let mut cfg = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| NetError::Config(format!("TLS versions: {e}")))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| NetError::Config(format!("our certificate and key do not match: {e}")))?;
        cfg.alpn_protocols = vec![ALPN.to_vec()];
        Ok(cfg)
    }

    pub(crate) fn client_config(&self) -> Result<ClientConfig, NetError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| NetError::Config(format!("TLS versions: {e}")))?
            .with_root_certificates(self.roots()?)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| NetError::Config(format!("our certificate and key do not match: {e}")))?;
        cfg.alpn_protocols = vec![ALPN.to_vec()];
        Ok(cfg)
    }
}

/// The party ids a certificate names in its subject alternative names.
pub fn cert_party_ids(der: &[u8]) -> Vec<PartyId> {
    let Ok((_, cert)) = X509Certificate::from_der(der) else { return Vec::new() };
    let Ok(Some(san)) = cert.subject_alternative_name() else { return Vec::new() };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(s) => PartyId::from_dns_name(s),
            _ => None,
        })
        .collect()
}
