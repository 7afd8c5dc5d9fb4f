//! Writing files safely: secrets owner-only, results atomically, never over an input.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::NodeError;

fn create_error(path: &Path, e: std::io::Error) -> NodeError {
    match e.kind() {
        std::io::ErrorKind::AlreadyExists => NodeError::file(path, "exists; refusing to overwrite it".into()),
        _ => NodeError::file(path, format!("cannot create: {e}")),
    }
}

/// Writes a private key or other secret with mode 0600, refusing to replace an existing
/// file (an existing key is someone's identity).
pub fn write_secret(path: &Path, contents: &[u8]) -> Result<(), NodeError> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| create_error(path, e))?;
    f.write_all(contents).map_err(|e| NodeError::file(path, format!("cannot write: {e}")))?;
    f.sync_all().map_err(|e| NodeError::file(path, format!("cannot sync: {e}")))
}

/// Writes a public file (certificate, config), refusing to replace an existing one.
pub fn write_new(path: &Path, contents: &[u8]) -> Result<(), NodeError> {
    let mut f = fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| create_error(path, e))?;
    f.write_all(contents).map_err(|e| NodeError::file(path, format!("cannot write: {e}")))
}

/// Writes a result atomically (temp file + rename), so a crash never leaves half a file.
/// Refuses to write over any of `inputs`.
pub fn write_result(path: &Path, contents: &[u8], inputs: &[&Path]) -> Result<(), NodeError> {
    let target = normalize(path);
    if inputs.iter().any(|i| normalize(i) == target) {
        return Err(NodeError::file(path, "refusing to write the result over an input file".to_string()));
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| NodeError::file(path, format!("cannot create a temporary file beside it: {e}")))?;
    tmp.write_all(contents).map_err(|e| NodeError::file(path, format!("cannot write: {e}")))?;
    tmp.persist(path).map_err(|e| NodeError::file(path, format!("cannot write: {}", e.error)))?;
    Ok(())
}

fn normalize(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Reads a text file, naming it in the error.
pub fn read_text(path: &Path) -> Result<String, NodeError> {
    fs::read_to_string(path).map_err(|e| NodeError::file(path, format!("cannot read: {e}")))
}

/// Refuses a private key file (TLS key, CA key, key share) that other users can read
/// or write: a key that may have been copied is no longer this member's secret.
pub fn check_private(path: &Path) -> Result<(), NodeError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            fs::metadata(path).map_err(|e| NodeError::file(path, format!("cannot read: {e}")))?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(NodeError::file(
                path,
                format!(
                    "a private key readable by other users (mode {:o}); run: chmod 600 {}",
                    mode & 0o777,
                    path.display()
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
