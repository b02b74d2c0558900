//! Files that hold a secret (the chain's signing key, the master key of personal data): written
//! once, readable by their owner only, and read with a warning when others may read them too,
//! as `ssh` does with its keys. What the secret is and how it is encoded is its owner's
//! business, not this module's.

use std::io::Write;
use std::path::Path;

/// Why a secret file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("cannot read the {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the {what} {path}: {source}")]
    Write {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
}

/// The text of the `what` at `path`; warns when others than its owner may read it.
pub fn read(path: &Path, what: &'static str) -> Result<String, SecretFileError> {
    let shown = path.display().to_string();
    #[cfg(unix)]
    if let Ok(metadata) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %shown,
                mode = format!("{:o}", mode & 0o777),
                "the {what} may be read or changed by others than its owner; chmod 600 it"
            );
        }
    }
    std::fs::read_to_string(path).map_err(|source| SecretFileError::Read {
        what,
        path: shown,
        source,
    })
}

/// Writes `contents` to a new file at `path`, readable by its owner only, and syncs it and its
/// directory; never over an existing file (a lost key cannot be made again). A file that could
/// not be written whole is removed, so that the path can be written again.
pub fn write_new(path: &Path, contents: &[u8], what: &'static str) -> Result<(), SecretFileError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let write = || {
        let mut file = options.open(path)?;
        let written = file.write_all(contents).and_then(|()| file.sync_all());
        if written.is_err() {
            let _ = std::fs::remove_file(path);
        }
        written?;
        // The new name survives a crash only once its directory is synced too.
        #[cfg(unix)]
        {
            let directory = match path.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent,
                _ => Path::new("."),
            };
            std::fs::File::open(directory)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|source| SecretFileError::Write {
        what,
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_written_once_for_its_owner_only_and_read_back() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("secret");
        write_new(&path, b"s3cret", "test secret").expect("written");
        assert_eq!(read(&path, "test secret").expect("read"), "s3cret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = write_new(&path, b"other", "test secret");
        assert!(matches!(again, Err(SecretFileError::Write { .. })), "{again:?}");
        assert_eq!(read(&path, "test secret").expect("read"), "s3cret");
    }

    #[test]
    fn a_missing_secret_is_a_read_error_naming_it() {
        let error = read(Path::new("/nonexistent/secret"), "master key").expect_err("missing");
        assert!(
            error
                .to_string()
                .starts_with("cannot read the master key /nonexistent/secret")
        );
    }
}
