//! What a watched file looked like when last read, for the pollers that
//! reload files when they change (TLS material, policy files).

use std::path::Path;
use std::time::SystemTime;

/// Enough of a file's metadata to notice a replacement (a new inode after an
/// atomic rename or a symlink swap) or an edit in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

/// The file's stamp now; `None` when it cannot be read (missing, say).
pub(crate) fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp { modified: meta.modified().ok(), len: meta.len(), inode })
}
