//! Download of the official CIFAR-10 binary archive: stream to a temporary file beside the target
//! folder while computing its md5, unpack into a temporary folder, validate every file, write a
//! marker, then rename the folder into place, so the target is either absent or complete and
//! verified. A verified target makes the call a no-op.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use md5::{Digest, Md5};

use crate::cifar::{self, CifarError};

/// The official archive.
pub const CIFAR10_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
/// Its published md5.
pub const CIFAR10_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
/// The folder inside the archive that holds the files.
const ARCHIVE_FOLDER: &str = "cifar-10-batches-bin";
/// Written last into a verified copy; holds the archive's md5.
pub const MARKER: &str = ".verified-md5";

/// Why a download did not produce a verified copy. Nothing is left in the target folder.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// Connection or HTTP failure; `message` names the URL.
    #[error("{message}")]
    Http { url: String, message: String },
    #[error("{url}: download cut short: received {received} of {expected} bytes")]
    Truncated {
        url: String,
        received: u64,
        expected: u64,
    },
    #[error("{url}: md5 mismatch: expected {expected}, got {found} (corrupted or different file)")]
    Checksum {
        url: String,
        expected: String,
        found: String,
    },
    #[error("{url}: not a valid CIFAR-10 archive: {message}")]
    Archive { url: String, message: String },
    #[error("unpacked archive failed validation: {0}")]
    Invalid(#[from] CifarError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} exists but is not a verified CIFAR-10 copy (no {MARKER}); remove it or choose another folder")]
    Exists { path: PathBuf },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io {
        path: path.to_owned(),
        source,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `dir` holds a copy verified against `md5` (marker present and every file there).
pub fn is_verified(dir: &Path, md5: &str) -> bool {
    let marker_ok = std::fs::read_to_string(dir.join(MARKER))
        .is_ok_and(|m| m.trim().eq_ignore_ascii_case(md5.trim()));
    marker_ok
        && cifar::TRAIN_FILES
            .iter()
            .chain([&cifar::TEST_FILE, &cifar::META_FILE])
            .all(|f| dir.join(f).is_file())
}

/// Refuses a `dir` that holds anything (a download never mixes with other files); `Ok(true)`
/// when it exists and is empty, `Ok(false)` when it does not exist.
pub fn check_target(dir: &Path) -> Result<bool, DownloadError> {
    let dir_is_empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io_at(dir)(e)),
    };
    if !dir_is_empty {
        return Err(DownloadError::Exists {
            path: dir.to_owned(),
        });
    }
    Ok(true)
}

/// Makes `dir` a verified copy of CIFAR-10 (the files of `cifar-10-batches-bin`) downloaded from
/// `url` and checked against `md5`; returns `dir`. A no-op when `dir` is already verified.
pub fn cifar10(dir: &Path, url: &str, md5: &str) -> Result<PathBuf, DownloadError> {
    if is_verified(dir, md5) {
        return Ok(dir.to_owned());
    }
    let dir_is_empty = check_target(dir)?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(io_at(parent))?;
    // Everything is staged here and removed on every exit path (drop).
    let staging = tempfile::Builder::new()
        .prefix(".cifar10-download-")
        .tempdir_in(parent)
        .map_err(io_at(parent))?;
    let archive = staging.path().join("cifar-10-binary.tar.gz");
    fetch(url, &archive, md5)?;
    let unpacked = staging.path().join("unpacked");
    unpack(url, &archive, &unpacked)?;
    let files = unpacked.join(ARCHIVE_FOLDER);
    cifar::check(&files)?;
    let marker = files.join(MARKER);
    std::fs::write(&marker, format!("{md5}\n")).map_err(io_at(&marker))?;
    if dir_is_empty {
        std::fs::remove_dir(dir).map_err(io_at(dir))?;
    }
    if let Err(e) = std::fs::rename(&files, dir) {
        // Another process may have finished the same download first.
        if !is_verified(dir, md5) {
            return Err(io_at(dir)(e));
        }
    }
    Ok(dir.to_owned())
}

/// Streams `url` into `path`, checking the length against Content-Length and the md5.
fn fetch(url: &str, path: &Path, md5: &str) -> Result<(), DownloadError> {
    let http = |message: String| DownloadError::Http {
        url: url.to_owned(),
        message,
    };
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(30))
        .timeout_read(Duration::from_secs(60))
        .build();
    let response = agent.get(url).call().map_err(|e| http(e.to_string()))?;
    let expected: Option<u64> = response
        .header("Content-Length")
        .and_then(|v| v.trim().parse().ok());
    let progress = if io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(expected.unwrap_or(0));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar.set_message("cifar-10-binary.tar.gz");
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut body = response.into_reader();
    let mut file = File::create(path).map_err(io_at(path))?;
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut received = 0u64;
    let truncated = |received| DownloadError::Truncated {
        url: url.to_owned(),
        received,
        expected: expected.unwrap_or(0),
    };
    loop {
        let n = match body.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(match expected {
                    Some(len) if received < len => truncated(received),
                    _ => http(format!(
                        "{url}: connection failed after {received} bytes: {e}"
                    )),
                })
            }
        };
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).map_err(io_at(path))?;
        received += n as u64;
        progress.set_position(received);
    }
    progress.finish_and_clear();
    if expected.is_some_and(|len| received != len) {
        return Err(truncated(received));
    }
    file.sync_all().map_err(io_at(path))?;
    let found = hex(&hasher.finalize());
    if !found.eq_ignore_ascii_case(md5.trim()) {
        return Err(DownloadError::Checksum {
            url: url.to_owned(),
            expected: md5.to_owned(),
            found,
        });
    }
    Ok(())
}

/// Unpacks the regular files and folders under `cifar-10-batches-bin/` into `into`.
fn unpack(url: &str, archive: &Path, into: &Path) -> Result<(), DownloadError> {
    let bad = |message: String| DownloadError::Archive {
        url: url.to_owned(),
        message,
    };
    std::fs::create_dir_all(into).map_err(io_at(into))?;
    let file = File::open(archive).map_err(io_at(archive))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(file)));
    for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let path = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let inside = path.components().next() == Some(Component::Normal(ARCHIVE_FOLDER.as_ref()))
            && path.components().all(|c| matches!(c, Component::Normal(_)));
        let kind = entry.header().entry_type();
        if !inside || !(kind.is_file() || kind.is_dir()) {
            return Err(bad(format!("unexpected entry {}", path.display())));
        }
        entry
            .unpack_in(into)
            .map_err(|e| bad(format!("{}: {e}", path.display())))?;
    }
    if !into.join(ARCHIVE_FOLDER).is_dir() {
        return Err(bad(format!("no {ARCHIVE_FOLDER}/ folder")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::net::TcpListener;
    use std::time::Instant;

    /// How the test server answers.
    #[derive(Clone)]
    enum Reply {
        /// 200 with this body.
        Body(Vec<u8>),
        /// 200 announcing `claimed` bytes, then sends the body and closes.
        Short { body: Vec<u8>, claimed: usize },
        /// Reads the request and closes without answering.
        Hangup,
    }

    /// Serves `reply` on 127.0.0.1 to at most `connections` clients, stopping by itself after
    /// them or after 20 s. Returns the URL.
    fn serve(reply: Reply, connections: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut served = 0;
            while served < connections && Instant::now() < deadline {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                served += 1;
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = io::BufReader::new(stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut stream = reader.into_inner();
                let (body, claimed) = match &reply {
                    Reply::Body(b) => (b.clone(), b.len()),
                    Reply::Short { body, claimed } => (body.clone(), *claimed),
                    Reply::Hangup => continue,
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {claimed}\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        format!("http://127.0.0.1:{port}/cifar-10-binary.tar.gz")
    }

    /// A tar.gz laid out like the official one, with `records` records per file; `label` is the
    /// label of every record.
    fn archive(records: usize, label: u8) -> (Vec<u8>, String) {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        let mut add = |name: &str, data: &[u8]| {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, format!("{ARCHIVE_FOLDER}/{name}"), data)
                .unwrap();
        };
        add(cifar::META_FILE, cifar::CLASSES.join("\n").as_bytes());
        for (k, f) in cifar::TRAIN_FILES
            .iter()
            .chain([&cifar::TEST_FILE])
            .enumerate()
        {
            let mut data = Vec::new();
            for r in 0..records {
                data.push(label);
                data.extend((0..cifar::IMAGE_BYTES).map(|p| (p + r + k) as u8));
            }
            add(f, &data);
        }
        let bytes = tar.into_inner().unwrap().finish().unwrap();
        let md5 = hex(&Md5::digest(&bytes));
        (bytes, md5)
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn good_archive_is_unpacked_verified_and_not_fetched_again() {
        let (bytes, md5) = archive(3, 7);
        let url = serve(Reply::Body(bytes), 1);
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data").join("cifar10");
        assert_eq!(cifar10(&dir, &url, &md5).unwrap(), dir);
        assert!(is_verified(&dir, &md5));
        assert_eq!(entries(&root.path().join("data")), vec!["cifar10"]);
        let test = cifar::load(&dir, cifar::Split::Test).unwrap();
        assert_eq!((test.len(), test.label(2)), (3, 7));
        assert_eq!(cifar::load(&dir, cifar::Split::Train).unwrap().len(), 15);
        // The server is gone (it served one client); a second call must not need it.
        let unreachable = "http://127.0.0.1:9/cifar-10-binary.tar.gz";
        assert_eq!(cifar10(&dir, unreachable, &md5).unwrap(), dir);
    }

    #[test]
    fn an_existing_empty_folder_is_filled() {
        let (bytes, md5) = archive(1, 0);
        let url = serve(Reply::Body(bytes), 1);
        let root = tempfile::tempdir().unwrap();
        cifar10(root.path(), &url, &md5).unwrap();
        assert!(is_verified(root.path(), &md5));
    }

    /// Runs a download expected to fail and checks that nothing was left behind.
    fn fails(reply: Reply, md5: Option<&str>) -> DownloadError {
        let (_, good_md5) = archive(2, 1);
        let url = serve(reply, 1);
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cifar10");
        let err = cifar10(&dir, &url, md5.unwrap_or(&good_md5)).unwrap_err();
        assert!(
            entries(root.path()).is_empty(),
            "left behind: {:?}",
            entries(root.path())
        );
        err
    }

    #[test]
    fn corrupted_bytes_fail_the_md5_check_and_leave_nothing() {
        let (mut bytes, _) = archive(2, 1);
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        let err = fails(Reply::Body(bytes), None);
        assert!(matches!(err, DownloadError::Checksum { .. }), "{err:?}");
        assert!(err.to_string().contains("md5 mismatch"), "{err}");
    }

    #[test]
    fn a_truncated_body_is_an_error_and_leaves_nothing() {
        let (bytes, _) = archive(2, 1);
        let claimed = bytes.len();
        let body = bytes[..claimed / 2].to_vec();
        let err = fails(Reply::Short { body, claimed }, None);
        assert!(
            matches!(err, DownloadError::Truncated { expected, .. } if expected == claimed as u64),
            "{err:?}"
        );
    }

    #[test]
    fn a_dropped_connection_is_an_error_and_leaves_nothing() {
        let err = fails(Reply::Hangup, None);
        assert!(matches!(err, DownloadError::Http { .. }), "{err:?}");
    }

    #[test]
    fn a_matching_md5_with_bad_contents_is_rejected_by_validation() {
        let (bytes, md5) = archive(2, 12);
        let err = fails(Reply::Body(bytes), Some(&md5));
        assert!(
            matches!(err, DownloadError::Invalid(CifarError::BadLabel { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn a_foreign_folder_is_not_overwritten() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("notes.txt"), "mine").unwrap();
        let err = cifar10(root.path(), "http://127.0.0.1:9/x", CIFAR10_MD5).unwrap_err();
        assert!(matches!(err, DownloadError::Exists { .. }), "{err:?}");
        assert_eq!(entries(root.path()), vec!["notes.txt"]);
    }
}
