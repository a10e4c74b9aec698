//! Writing files so that a failure leaves nothing half-written: every file
//! goes to a temporary file in its target's folder first and is renamed into
//! place only when all of them were written.

use std::fs::{self, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;

use super::CertsError;

/// Mode of private-key files.
pub(crate) const KEY_MODE: u32 = 0o600;
/// Mode of certificate and config files.
pub(crate) const PUBLIC_MODE: u32 = 0o644;
/// Mode of folders this module creates.
pub(crate) const DIR_MODE: u32 = 0o700;

/// Creates `dir` (and missing parents) with mode 0700; an existing folder is
/// left as it is. Fails when the path exists but is not a folder.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), CertsError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir).map_err(CertsError::io("create directory", dir))
}

/// Fails with [`CertsError::Exists`] on the first path that exists, unless `force`.
pub(crate) fn refuse_existing(paths: &[&Path], force: bool) -> Result<(), CertsError> {
    if force {
        return Ok(());
    }
    match paths.iter().find(|p| p.symlink_metadata().is_ok()) {
        Some(p) => Err(CertsError::Exists { path: p.to_path_buf() }),
        None => Ok(()),
    }
}

/// Files written to temporary names, renamed into place by [`Staged::commit`].
/// Dropping it uncommitted removes the temporary files.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    files: Vec<(PathBuf, PathBuf)>,
}

impl Staged {
    pub(crate) fn new() -> Self {
        Staged::default()
    }

    /// Writes `contents` with `mode` to a new temporary file beside `target`.
    pub(crate) fn add(&mut self, target: &Path, contents: &[u8], mode: u32) -> Result<(), CertsError> {
        let temp = temp_path(target);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
            .map_err(CertsError::io("create a file in", parent_of(target)))?;
        self.files.push((temp.clone(), target.to_path_buf()));
        file.set_permissions(Permissions::from_mode(mode)).map_err(CertsError::io("set permissions on", &temp))?;
        file.write_all(contents).map_err(CertsError::io("write", &temp))?;
        file.sync_all().map_err(CertsError::io("write", &temp))?;
        Ok(())
    }

    /// Renames every file into place, in the order added.
    pub(crate) fn commit(mut self) -> Result<(), CertsError> {
        let files = std::mem::take(&mut self.files);
        let mut remaining = files.iter();
        for (temp, target) in remaining.by_ref() {
            if let Err(error) = fs::rename(temp, target) {
                let _ = fs::remove_file(temp);
                for (rest, _) in remaining {
                    let _ = fs::remove_file(rest);
                }
                return Err(CertsError::Io { action: "move a new file into place at", path: target.clone(), error });
            }
        }
        if let Some((_, target)) = files.first()
            && let Ok(dir) = fs::File::open(parent_of(target))
        {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (temp, _) in &self.files {
            let _ = fs::remove_file(temp);
        }
    }
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn temp_path(target: &Path) -> PathBuf {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tag = rand::rngs::OsRng.next_u64();
    parent_of(target).join(format!(".{name}.{}.{tag:016x}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_files_appear_only_on_commit_with_their_modes() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.key");
        let b = dir.path().join("b.pem");
        let mut staged = Staged::new();
        staged.add(&a, b"secret", KEY_MODE).unwrap();
        staged.add(&b, b"public", PUBLIC_MODE).unwrap();
        assert!(!a.exists() && !b.exists());
        staged.commit().unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"secret");
        assert_eq!(fs::metadata(&a).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(&b).unwrap().permissions().mode() & 0o777, 0o644);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "no temporary file left");
    }

    #[test]
    fn dropping_uncommitted_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut staged = Staged::new();
        staged.add(&dir.path().join("x.key"), b"secret", KEY_MODE).unwrap();
        drop(staged);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn created_folders_are_private_and_files_are_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("one/two");
        ensure_dir(&nested).unwrap();
        assert_eq!(fs::metadata(&nested).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(fs::metadata(dir.path().join("one")).unwrap().permissions().mode() & 0o777, 0o700);

        let file = nested.join("f");
        fs::write(&file, "x").unwrap();
        assert!(matches!(refuse_existing(&[&file], false), Err(CertsError::Exists { .. })));
        assert!(refuse_existing(&[&file], true).is_ok());
        let err = ensure_dir(&file.join("below")).unwrap_err();
        assert!(err.to_string().starts_with("cannot create directory"), "{err}");
    }
}
