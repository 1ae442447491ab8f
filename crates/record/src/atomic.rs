//! Atomic writes: a file of the run folder is either the old one or the whole new one, never a
//! partial write (temporary file in the same folder, fsync, rename, fsync of the folder).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("partial");
    let result = (|| -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(anyhow!("writing {}: {e}", path.display()));
    }
    sync_dir(path);
    Ok(())
}

/// For files that a library writes to a path itself (plotters' PNG backend): `write` gets a
/// temporary path in the same folder with the same extension; the file then replaces `path`.
/// On failure the temporary file is removed and `path` is left as it was.
pub fn write_via_temp(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = temp_path(path);
    let result = write(&tmp)
        .and_then(|()| Ok(fs::File::open(&tmp)?.sync_all()?))
        .and_then(|()| Ok(fs::rename(&tmp, path)?));
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e.context(format!("writing {}", path.display())));
    }
    sync_dir(path);
    Ok(())
}

/// `dir/name.ext` → `dir/name.partial.ext`: beside the file, with its extension kept (libraries
/// choose the format by it).
fn temp_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(Default::default, |s| s.to_os_string());
    let mut name = stem;
    name.push(".partial");
    if let Some(ext) = path.extension() {
        name.push(".");
        name.push(ext);
    }
    path.with_file_name(name)
}

/// Makes a rename in `path`'s folder durable (best effort: not every platform can).
fn sync_dir(path: &Path) {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Creates `path`'s folder if it has one and it is missing.
pub fn create_parent(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temporary_path_keeps_the_extension() {
        assert_eq!(
            temp_path(Path::new("a/b/chart.png")),
            Path::new("a/b/chart.partial.png")
        );
        assert_eq!(temp_path(Path::new("x")), Path::new("x.partial"));
    }
}
