//! Consortium identities: a CA, and per member a key and a certificate naming
//! `party-<id>`. `init` makes a whole test consortium on one machine; `request` and
//! `sign` are the real-world split, where each member's key never leaves its machine.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use crate::config::{Member, NodeConfig};
use crate::error::NodeError;
use crate::files::{read_text, write_new, write_secret};

fn certs(e: impl std::fmt::Display) -> NodeError {
    NodeError::Certs(e.to_string())
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
    p.not_after = now + Duration::days(3650);
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
    p.not_after = now + Duration::days(825);
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

/// A member makes its key and a certificate signing request for `party-<id>`.
pub fn request(party: u16, out: &Path) -> Result<(), NodeError> {
    std::fs::create_dir_all(out).map_err(|e| NodeError::file(out, format!("cannot create: {e}")))?;
    let key = KeyPair::generate().map_err(certs)?;
    let csr = member_params(party)?.serialize_request(&key).map_err(certs)?;
    let stem = format!("party-{party}");
    write_secret(&out.join(format!("{stem}.key")), Zeroizing::new(key.serialize_pem()).as_bytes())?;
    write_new(&out.join(format!("{stem}.csr")), csr.pem().map_err(certs)?.as_bytes())?;
    Ok(())
}

/// The CA signs a member's CSR, after checking it asks for exactly `party-<party>`.
pub fn sign(ca_cert: &Path, ca_key: &Path, csr: &Path, party: u16, out: &Path) -> Result<(), NodeError> {
    let csr_text = read_text(csr)?;
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
    let key_text = Zeroizing::new(read_text(ca_key)?);
    let key = KeyPair::from_pem(&key_text).map_err(|e| NodeError::file(ca_key, format!("not a private key: {e}")))?;
    let issuer = Issuer::from_ca_cert_pem(&read_text(ca_cert)?, key)
        .map_err(|e| NodeError::file(ca_cert, format!("not a CA certificate: {e}")))?;
    // The CA's policy, not the request's, decides usages and validity.
    let signed = CertificateSigningRequestParams { params: member_params(party)?, public_key: req.public_key };
    let cert = signed.signed_by(&issuer).map_err(certs)?;
    write_new(out, cert.pem().as_bytes())
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
}
