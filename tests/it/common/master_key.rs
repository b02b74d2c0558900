//! The master key of every test's personal data: one for the whole test binary, in a file, so
//! that the in-process service and the real binary started on the same database (a second
//! process, a CLI command) seal and open with the same keys, as every process on one database
//! must.

use std::path::PathBuf;
use std::sync::LazyLock;

use foldbank::privacy::MasterKey;

struct KeyFile {
    /// Deleted when the test binary ends.
    _dir: tempfile::TempDir,
    path: PathBuf,
    key: MasterKey,
}

static KEY_FILE: LazyLock<KeyFile> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("a directory for the master key");
    let path = dir.path().join("master.key");
    let key = MasterKey::generate().expect("a master key");
    key.write_new(&path).expect("the master key file");
    KeyFile { _dir: dir, path, key }
});

/// The tests' master key.
pub fn master_key() -> MasterKey {
    KEY_FILE.key.clone()
}

/// The file that holds it, for `--master-key-file`.
pub fn master_key_file() -> String {
    KEY_FILE.path.display().to_string()
}
