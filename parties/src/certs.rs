//! Consortium identities: a CA, and per member a key and a certificate naming
//! `party-<id>`. `init` makes a whole test consortium on one machine; `request` and
//! `sign` are the real-world split, where each member's key never leaves its machine.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};
use tracing::warn;
use zeroize::Zeroizing;

use crate::config::{Member, NodeConfig};
use crate::error::NodeError;
use crate::files::{check_private, read_text, write_new, write_secret};

fn certs(e: impl std::fmt::Display) -> NodeError {
    NodeError::Certs(e.to_string())
}

/// Days a CA certificate is valid.
pub const CA_DAYS: i64 = 3650;
/// Days a member certificate is valid (the CA/Browser Forum's former maximum).
pub const MEMBER_DAYS: i64 = 825;
/// A node warns at start when its certificate expires within this many days.
pub const RENEW_DAYS: i64 = 30;

/// The SHA-256 of a CSR's DER bytes in groups of four hex digits: `request` and `sign`
/// print it, and the member and the CA read it to each other out of band.
pub fn csr_fingerprint(der: &[u8]) -> String {
    grouped(&Sha256::digest(der))
}

fn grouped(h: &[u8]) -> String {
    h.chunks(2).map(hex::encode).collect::<Vec<_>>().join(" ")
}

/// What `certs show` prints of a certificate.
pub struct CertInfo {
    pub subject: String,
    pub parties: Vec<u16>,
    pub not_after: String,
    /// SHA-256 of the DER bytes, as a node config's `revoked_certs` takes it.
    pub fingerprint: String,
}

/// Reads a PEM certificate.
pub fn show(path: &Path) -> Result<CertInfo, NodeError> {
    let text = read_text(path)?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes())
        .map_err(|e| NodeError::file(path, format!("not a PEM certificate: {e}")))?;
    let cert = pem.parse_x509().map_err(|e| NodeError::file(path, format!("not a certificate: {e}")))?;
    let parties = consort_net::cert_party_ids(&rustls::pki_types::CertificateDer::from(pem.contents.clone()));
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        parties: parties.iter().map(|p| p.0).collect(),
        not_after: day(cert.validity().not_after.timestamp()),
        fingerprint: grouped(&consort_net::cert_fingerprint(&pem.contents)),
    })
}

fn day(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .map(|d| format!("{}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()))
        .unwrap_or_else(|_| t.to_string())
}

/// When a certificate made now expires.
pub fn expiry(days: i64) -> String {
    let t = OffsetDateTime::now_utc() + Duration::days(days);
    format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

fn ca_params() -> Result<CertificateParams, NodeError> {
    // A distinct name per consortium: a certificate from another consortium's CA is then
    // reported as coming from an unknown issuer, not as a bad signature.
    let mut tag = [0u8; 4];
    getrandom::fill(&mut tag).map_err(certs)?;
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, format!("consort consortium CA {}", hex::encode(tag)));
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::days(1);
    p.not_after = now + Duration::days(CA_DAYS);
    Ok(p)
}

/// The policy every member certificate gets, whatever a CSR asked for.
fn member_params(party: u16) -> Result<CertificateParams, NodeError> {
    let name = format!("party-{party}");
    let mut p = CertificateParams::new(vec![name.clone()]).map_err(certs)?;
    p.distinguished_name.push(DnType::CommonName, format!("consort member {name}"));
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - Duration::days(1);
    p.not_after = now + Duration::days(MEMBER_DAYS);
    Ok(p)
}

/// Creates `out/` with `ca.crt`, `ca.key` and per member `party-<i>.{key,crt,toml}`.
/// `addresses[i]` is where member `i` listens.
pub fn init(out: &Path, addresses: &[String], timeouts: Option<(u64, u64, u64)>) -> Result<(), NodeError> {
    if addresses.len() < 2 {
        return Err(NodeError::Certs("a consortium needs at least two members".into()));
    }
    std::fs::create_dir_all(out).map_err(|e| NodeError::file(out, format!("cannot create: {e}")))?;
    let ca_key = KeyPair::generate().map_err(certs)?;
    let ca_params = ca_params()?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(certs)?;
    write_new(&out.join("ca.crt"), ca_cert.pem().as_bytes())?;
    write_secret(&out.join("ca.key"), Zeroizing::new(ca_key.serialize_pem()).as_bytes())?;
    let issuer = Issuer::new(ca_params, ca_key);
    let members: Vec<Member> =
        addresses.iter().enumerate().map(|(i, a)| Member { party: i as u16, address: a.clone() }).collect();
    for m in &members {
        let key = KeyPair::generate().map_err(certs)?;
        let cert = member_params(m.party)?.signed_by(&key, &issuer).map_err(certs)?;
        let stem = format!("party-{}", m.party);
        write_secret(&out.join(format!("{stem}.key")), Zeroizing::new(key.serialize_pem()).as_bytes())?;
        write_new(&out.join(format!("{stem}.crt")), cert.pem().as_bytes())?;
        let (connect, recv, idle) = timeouts.unwrap_or((60, 60, 10));
        let node = NodeConfig {
            party: m.party,
            listen: listen_for(&m.address),
            key: format!("{stem}.key").into(),
            cert: format!("{stem}.crt").into(),
            ca: "ca.crt".into(),
            connect_timeout_secs: connect,
            recv_timeout_secs: recv,
            idle_timeout_secs: idle,
            members: members.clone(),
            revoked_certs: Vec::new(),
        };
        let text = toml::to_string(&node).map_err(certs)?;
        write_new(
            &out.join(format!("{stem}.toml")),
            format!("# consort node configuration of {stem}\n{text}").as_bytes(),
        )?;
    }
    Ok(())
}

/// Listens on all interfaces at the member's port, unless it is a loopback member.
fn listen_for(address: &str) -> String {
    match address.rsplit_once(':') {
        Some((host, port)) if host != "127.0.0.1" && host != "localhost" && host != "[::1]" => {
            format!("0.0.0.0:{port}")
        }
        _ => address.replace("localhost", "127.0.0.1"),
    }
}

/// The CA alone: `ca.crt` (for every member) and `ca.key` (0600, keep it offline), for
/// a consortium whose members make their own keys (`request`).
pub fn ca(out: &Path) -> Result<(), NodeError> {
    std::fs::create_dir_all(out).map_err(|e| NodeError::file(out, format!("cannot create: {e}")))?;
    let key = KeyPair::generate().map_err(certs)?;
    let cert = ca_params()?.self_signed(&key).map_err(certs)?;
    write_new(&out.join("ca.crt"), cert.pem().as_bytes())?;
    write_secret(&out.join("ca.key"), Zeroizing::new(key.serialize_pem()).as_bytes())
}

/// A member makes its key and a certificate signing request for `party-<id>`; returns
/// the CSR's fingerprint.
pub fn request(party: u16, out: &Path) -> Result<String, NodeError> {
    std::fs::create_dir_all(out).map_err(|e| NodeError::file(out, format!("cannot create: {e}")))?;
    let stem = format!("party-{party}");
    let (key_path, csr_path) = (out.join(format!("{stem}.key")), out.join(format!("{stem}.csr")));
    if csr_path.exists() {
        // Checked first: the key is not written when the CSR could not be.
        return Err(NodeError::file(&csr_path, "exists; refusing to overwrite it".into()));
    }
    let key = KeyPair::generate().map_err(certs)?;
    write_secret(&key_path, Zeroizing::new(key.serialize_pem()).as_bytes())?;
    write_csr(party, &key, &csr_path)
}

/// A member renews its certificate: a new CSR for `party-<id>` from its existing key
/// (the key stays; the CA signs the CSR as at first). Returns the CSR's fingerprint.
pub fn renew(party: u16, key: &Path, out: &Path) -> Result<String, NodeError> {
    check_private(key)?;
    let text = Zeroizing::new(read_text(key)?);
    let key_pair = KeyPair::from_pem(&text).map_err(|e| NodeError::file(key, format!("not a private key: {e}")))?;
    write_csr(party, &key_pair, out)
}

fn write_csr(party: u16, key: &KeyPair, path: &Path) -> Result<String, NodeError> {
    let csr = member_params(party)?.serialize_request(key).map_err(certs)?;
    write_new(path, csr.pem().map_err(certs)?.as_bytes())?;
    Ok(csr_fingerprint(csr.der()))
}

/// Refuses a certificate that has expired or is not yet valid, and warns when it
/// expires within [`RENEW_DAYS`]: a node checks its own at start.
pub fn check_validity(path: &Path) -> Result<(), NodeError> {
    let text = read_text(path)?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes())
        .map_err(|e| NodeError::file(path, format!("not a PEM certificate: {e}")))?;
    let cert = pem.parse_x509().map_err(|e| NodeError::file(path, format!("not a certificate: {e}")))?;
    let v = cert.validity();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let (from, until) = (v.not_before.timestamp(), v.not_after.timestamp());
    if now > until {
        return Err(NodeError::file(
            path,
            format!(
                "the certificate expired on {}: renew it (consort certs renew) and have the CA sign it",
                day(until)
            ),
        ));
    }
    if now < from {
        return Err(NodeError::file(path, format!("the certificate is not valid before {}", day(from))));
    }
    let left = (until - now) / 86_400;
    if left < RENEW_DAYS {
        warn!(cert = %path.display(), "the certificate expires in {left} days ({}): renew it with consort certs renew", day(until));
    }
    Ok(())
}

/// The CA signs a member's CSR, after checking it asks for exactly `party-<party>`;
/// returns the CSR's fingerprint and the certificate's.
pub fn sign(ca_cert: &Path, ca_key: &Path, csr: &Path, party: u16, out: &Path) -> Result<(String, String), NodeError> {
    let csr_text = read_text(csr)?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(csr_text.as_bytes())
        .map_err(|e| NodeError::file(csr, format!("not a valid CSR: {e}")))?;
    let fingerprint = csr_fingerprint(&pem.contents);
    let req = CertificateSigningRequestParams::from_pem(&csr_text)
        .map_err(|e| NodeError::file(csr, format!("not a valid CSR: {e}")))?;
    let want = format!("party-{party}");
    let names: Vec<String> = req
        .params
        .subject_alt_names
        .iter()
        .map(|s| match s {
            SanType::DnsName(n) => n.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    if names != [want.clone()] {
        return Err(NodeError::file(csr, format!("the request names {names:?}, expected exactly [\"{want}\"]")));
    }
    check_private(ca_key)?;
    let key_text = Zeroizing::new(read_text(ca_key)?);
    let key = KeyPair::from_pem(&key_text).map_err(|e| NodeError::file(ca_key, format!("not a private key: {e}")))?;
    let issuer = Issuer::from_ca_cert_pem(&read_text(ca_cert)?, key)
        .map_err(|e| NodeError::file(ca_cert, format!("not a CA certificate: {e}")))?;
    // The CA's policy, not the request's, decides usages and validity.
    let signed = CertificateSigningRequestParams { params: member_params(party)?, public_key: req.public_key };
    let cert = signed.signed_by(&issuer).map_err(certs)?;
    write_new(out, cert.pem().as_bytes())?;
    Ok((fingerprint, grouped(&consort_net::cert_fingerprint(cert.der()))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use consort_net::cert_party_ids;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn request_and_sign_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        init(&dir.path().join("c"), &["127.0.0.1:1".into(), "127.0.0.1:2".into()], None).unwrap();
        request(5, &dir.path().join("m")).unwrap();
        let c = dir.path().join("c");
        let out = dir.path().join("m/party-5.crt");
        // Wrong party: refused, nothing written.
        let e = sign(&c.join("ca.crt"), &c.join("ca.key"), &dir.path().join("m/party-5.csr"), 4, &out).unwrap_err();
        assert!(e.to_string().contains("expected exactly [\"party-4\"]"), "{e}");
        assert!(!out.exists());
        sign(&c.join("ca.crt"), &c.join("ca.key"), &dir.path().join("m/party-5.csr"), 5, &out).unwrap();
        let der = CertificateDer::from_pem_file(&out).unwrap();
        assert_eq!(cert_party_ids(&der), vec![consort_net::PartyId(5)]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for f in ["c/ca.key", "c/party-0.key", "m/party-5.key"] {
                let mode = std::fs::metadata(dir.path().join(f)).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
        // Existing keys are never overwritten.
        assert!(request(5, &dir.path().join("m")).is_err());
    }

    /// A self-signed certificate valid from `from` to `until` days from now.
    fn cert_valid(dir: &Path, name: &str, from: i64, until: i64) -> std::path::PathBuf {
        let mut p = member_params(0).unwrap();
        let now = OffsetDateTime::now_utc();
        (p.not_before, p.not_after) = (now + Duration::days(from), now + Duration::days(until));
        let cert = p.self_signed(&KeyPair::generate().unwrap()).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, cert.pem()).unwrap();
        path
    }

    #[test]
    fn a_node_refuses_an_expired_or_future_certificate_and_accepts_one_about_to_expire() {
        let dir = tempfile::tempdir().unwrap();
        let day = |d: i64| {
            let t = OffsetDateTime::now_utc() + Duration::days(d);
            format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
        };
        let old = cert_valid(dir.path(), "old.crt", -30, -2);
        assert_eq!(
            check_validity(&old).unwrap_err().to_string(),
            format!(
                "{}: the certificate expired on {}: renew it (consort certs renew) and have the CA sign it",
                old.display(),
                day(-2)
            )
        );
        let future = cert_valid(dir.path(), "future.crt", 2, 30);
        assert_eq!(
            check_validity(&future).unwrap_err().to_string(),
            format!("{}: the certificate is not valid before {}", future.display(), day(2))
        );
        check_validity(&cert_valid(dir.path(), "soon.crt", -1, 10)).unwrap();
        check_validity(&cert_valid(dir.path(), "fresh.crt", -1, MEMBER_DAYS)).unwrap();
        assert_eq!(expiry(MEMBER_DAYS), day(MEMBER_DAYS));
    }
}
