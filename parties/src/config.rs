//! The node configuration (one per member, written by `consort certs init` or by hand):
//! who this member is, where it listens, its key and certificate, the CA, the roster.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use consort_net::PartyId;
use serde::{Deserialize, Serialize};

use crate::error::NodeError;
use crate::files::read_text;

/// One member as listed in every node's roster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub party: u16,
    /// `host:port` where the member listens (UDP).
    pub address: String,
}

/// A node configuration file (TOML). Paths are relative to the file's directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This member's id; its certificate must name `party-<id>`.
    pub party: u16,
    /// Local `ip:port` to bind.
    pub listen: String,
    /// PEM private key of this member (mode 0600).
    pub key: PathBuf,
    /// PEM certificate of this member, signed by the consortium CA.
    pub cert: PathBuf,
    /// PEM certificate of the consortium CA.
    pub ca: PathBuf,
    /// Seconds to wait at start-up for every member to connect.
    #[serde(default = "default_connect")]
    pub connect_timeout_secs: u64,
    /// Seconds any receive waits before naming the silent member.
    #[serde(default = "default_recv")]
    pub recv_timeout_secs: u64,
    /// Seconds of silence after which a peer's connection counts as lost.
    #[serde(default = "default_idle")]
    pub idle_timeout_secs: u64,
    /// Every member, this one included.
    pub members: Vec<Member>,
    /// SHA-256 fingerprints (64 hex digits, spaces allowed) of certificates to refuse
    /// although the CA signed them: a revoked member, a replaced certificate. `certs
    /// sign` and `certs show` print a certificate's fingerprint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked_certs: Vec<String>,
}

fn default_connect() -> u64 {
    60
}
fn default_recv() -> u64 {
    60
}
fn default_idle() -> u64 {
    10
}

/// A loaded node configuration with paths resolved.
#[derive(Clone, Debug)]
pub struct Node {
    pub config: NodeConfig,
    pub path: PathBuf,
    pub dir: PathBuf,
}

impl Node {
    pub fn load(path: &Path) -> Result<Node, NodeError> {
        let text = read_text(path)?;
        let config: NodeConfig =
            toml::from_str(&text).map_err(|e| NodeError::file(path, format!("invalid node config: {e}")))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let node = Node { config, path: path.to_path_buf(), dir };
        node.roster()?;
        node.listen()?;
        node.revoked()?;
        Ok(node)
    }

    /// `revoked_certs`, parsed.
    pub fn revoked(&self) -> Result<Vec<[u8; 32]>, NodeError> {
        self.config
            .revoked_certs
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let digits: String = f.chars().filter(|c| !c.is_whitespace()).collect();
                let bytes = hex::decode(&digits).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
                bytes.ok_or_else(|| {
                    NodeError::file(
                        &self.path,
                        format!("revoked_certs[{i}] '{f}' is not a SHA-256 fingerprint (64 hex digits)"),
                    )
                })
            })
            .collect()
    }

    pub fn me(&self) -> PartyId {
        PartyId(self.config.party)
    }

    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() { p.to_path_buf() } else { self.dir.join(p) }
    }

    pub fn listen(&self) -> Result<SocketAddr, NodeError> {
        self.config
            .listen
            .parse()
            .map_err(|e| NodeError::file(&self.path, format!("listen address '{}': {e}", self.config.listen)))
    }

    /// The roster as ids and socket addresses, checked: ids 0..n each once, this member in it.
    pub fn roster(&self) -> Result<Vec<(PartyId, SocketAddr)>, NodeError> {
        let mut out = Vec::new();
        for m in &self.config.members {
            let addr = resolve_addr(&m.address)
                .map_err(|e| NodeError::file(&self.path, format!("member {}: {e}", m.party)))?;
            out.push((PartyId(m.party), addr));
        }
        out.sort_by_key(|(p, _)| *p);
        let n = out.len();
        if n < 2 {
            return Err(NodeError::file(&self.path, "the roster needs at least two members".into()));
        }
        for (i, (p, _)) in out.iter().enumerate() {
            if usize::from(p.0) != i {
                return Err(NodeError::file(
                    &self.path,
                    format!("member ids must be 0..{} each once (found {} at position {i})", n - 1, p.0),
                ));
            }
        }
        if usize::from(self.config.party) >= n {
            return Err(NodeError::file(&self.path, format!("party {} is not in the roster", self.config.party)));
        }
        Ok(out)
    }

    pub fn timeouts(&self) -> (Duration, Duration, Duration) {
        (
            Duration::from_secs(self.config.connect_timeout_secs),
            Duration::from_secs(self.config.recv_timeout_secs),
            Duration::from_secs(self.config.idle_timeout_secs.max(1)),
        )
    }
}

fn resolve_addr(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    s.to_socket_addrs()
        .map_err(|e| format!("address '{s}': {e}"))?
        .next()
        .ok_or_else(|| format!("address '{s}' resolves to nothing"))
}
