//! Reader for CIFAR-10 in its binary layout (`cifar-10-batches-bin`): each file holds records of
//! one label byte followed by 3072 pixel bytes (R, G, B planes, 32×32 row-major), which is already
//! the CHW layout of [`Dataset`].

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::dataset::Dataset;

/// Bytes of one image (3 × 32 × 32).
pub const IMAGE_BYTES: usize = 3 * 32 * 32;
/// Bytes of one record: a label byte then the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// The five training files, in order.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test file.
pub const TEST_FILE: &str = "test_batch.bin";
/// The class-name file (one name per line, label `i` on line `i + 1`).
pub const META_FILE: &str = "batches.meta.txt";
/// The ten class names of CIFAR-10, by label.
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Which part of CIFAR-10 to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// `data_batch_1.bin` … `data_batch_5.bin` (50,000 images in the full set).
    Train,
    /// `test_batch.bin` (10,000 images in the full set).
    Test,
}

impl Split {
    /// The files of this split, in reading order.
    pub fn files(self) -> &'static [&'static str] {
        match self {
            Split::Train => &TRAIN_FILES,
            Split::Test => std::slice::from_ref(&TEST_FILE),
        }
    }
}

/// What is wrong with a CIFAR-10 folder; every variant names the file (and record where one is at
/// fault).
#[derive(Debug, thiserror::Error)]
pub enum CifarError {
    #[error("{path}: file not found (expected the CIFAR-10 binary files data_batch_1..5.bin, test_batch.bin, batches.meta.txt)")]
    Missing { path: PathBuf },
    /// The cause is in the message and not also chained as a source, so that `{:#}` says it once.
    #[error("{path}: cannot read: {error}")]
    Io { path: PathBuf, error: io::Error },
    #[error("{path}: truncated: {len} bytes is not a multiple of {RECORD_BYTES}; record {record} is cut short ({partial} of {RECORD_BYTES} bytes)")]
    Truncated {
        path: PathBuf,
        len: u64,
        record: usize,
        partial: usize,
    },
    #[error("{path}: empty file, no records")]
    Empty { path: PathBuf },
    #[error("{path}: record {record} has label {label}, expected 0..=9")]
    BadLabel {
        path: PathBuf,
        record: usize,
        label: u8,
    },
    #[error("{path}: expected 10 class names, one per line, found {found}")]
    BadMeta { path: PathBuf, found: usize },
}

fn io_error(path: &Path, source: io::Error) -> CifarError {
    if source.kind() == io::ErrorKind::NotFound {
        CifarError::Missing {
            path: path.to_owned(),
        }
    } else {
        CifarError::Io {
            path: path.to_owned(),
            error: source,
        }
    }
}

/// Number of records in `path`, checked from its size alone.
fn record_count(path: &Path) -> Result<usize, CifarError> {
    let len = std::fs::metadata(path)
        .map_err(|e| io_error(path, e))?
        .len();
    let rec = RECORD_BYTES as u64;
    if len % rec != 0 {
        return Err(CifarError::Truncated {
            path: path.to_owned(),
            len,
            record: (len / rec) as usize,
            partial: (len % rec) as usize,
        });
    }
    if len == 0 {
        return Err(CifarError::Empty {
            path: path.to_owned(),
        });
    }
    Ok((len / rec) as usize)
}

/// Streams the records of one file into `pixels` and `labels`, checking every label.
fn read_records(
    path: &Path,
    pixels: &mut Vec<u8>,
    labels: &mut Vec<u8>,
) -> Result<usize, CifarError> {
    let count = record_count(path)?;
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut record = vec![0u8; RECORD_BYTES];
    for i in 0..count {
        file.read_exact(&mut record).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                // The file shrank while we read it.
                CifarError::Truncated {
                    path: path.to_owned(),
                    len: (i * RECORD_BYTES) as u64,
                    record: i,
                    partial: 0,
                }
            } else {
                io_error(path, e)
            }
        })?;
        if record[0] > 9 {
            return Err(CifarError::BadLabel {
                path: path.to_owned(),
                record: i,
                label: record[0],
            });
        }
        labels.push(record[0]);
        pixels.extend_from_slice(&record[1..]);
    }
    Ok(count)
}

/// Reads one CIFAR-10 binary file (any whole number of records) with the standard class names.
pub fn read_file(path: &Path) -> Result<Dataset, CifarError> {
    let count = record_count(path)?;
    let mut pixels = Vec::with_capacity(count * IMAGE_BYTES);
    let mut labels = Vec::with_capacity(count);
    read_records(path, &mut pixels, &mut labels)?;
    Ok(build(
        pixels,
        labels,
        CLASSES.iter().map(|s| s.to_string()).collect(),
    ))
}

/// Reads the class names from `batches.meta.txt` (ten non-empty lines).
pub fn read_classes(dir: &Path) -> Result<Vec<String>, CifarError> {
    let path = dir.join(META_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| io_error(&path, e))?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if names.len() != 10 {
        return Err(CifarError::BadMeta {
            path,
            found: names.len(),
        });
    }
    Ok(names)
}

/// Loads a split from a `cifar-10-batches-bin` folder. Memory is allocated once, at the final size.
pub fn load(dir: &Path, split: Split) -> Result<Dataset, CifarError> {
    let classes = read_classes(dir)?;
    let paths: Vec<PathBuf> = split.files().iter().map(|f| dir.join(f)).collect();
    let mut total = 0;
    for p in &paths {
        total += record_count(p)?;
    }
    let mut pixels = Vec::with_capacity(total * IMAGE_BYTES);
    let mut labels = Vec::with_capacity(total);
    for p in &paths {
        read_records(p, &mut pixels, &mut labels)?;
    }
    Ok(build(pixels, labels, classes))
}

/// Checks every file of both splits (sizes, labels, class names) without keeping the pixels;
/// returns the number of (train, test) records.
pub fn check(dir: &Path) -> Result<(usize, usize), CifarError> {
    read_classes(dir)?;
    let mut counts = [0usize; 2];
    for (k, split) in [Split::Train, Split::Test].into_iter().enumerate() {
        for f in split.files() {
            let (mut pixels, mut labels) = (Vec::new(), Vec::new());
            counts[k] += read_records(&dir.join(f), &mut pixels, &mut labels)?;
        }
    }
    Ok((counts[0], counts[1]))
}

fn build(pixels: Vec<u8>, labels: Vec<u8>, classes: Vec<String>) -> Dataset {
    Dataset::new(pixels, labels, classes, (3, 32, 32))
        .expect("records were checked: whole images, labels 0..=9, ten classes")
}

/// Encodes images and labels as CIFAR-10 binary records (for tests and tools).
pub fn encode_records(dataset: &Dataset) -> Vec<u8> {
    let mut out = Vec::with_capacity(dataset.len() * (1 + dataset.image_len()));
    for i in 0..dataset.len() {
        out.push(dataset.label(i));
        out.extend_from_slice(dataset.image(i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_error_is_said_once() {
        let cause = io::Error::new(io::ErrorKind::UnexpectedEof, "failed to fill whole buffer");
        let err = anyhow::Error::from(io_error(Path::new("x/test_batch.bin"), cause));
        assert_eq!(
            format!("{err:#}"),
            "x/test_batch.bin: cannot read: failed to fill whole buffer"
        );
    }

    /// A record whose pixels encode its index, so order can be checked.
    fn record(label: u8, index: usize) -> Vec<u8> {
        let mut r = vec![label];
        r.extend((0..IMAGE_BYTES).map(|p| ((index * 7 + p) % 251) as u8));
        r
    }

    fn write_folder(dir: &Path, per_file: usize) {
        std::fs::write(dir.join(META_FILE), CLASSES.join("\n") + "\n\n").unwrap();
        let mut index = 0;
        for f in TRAIN_FILES.iter().chain([&TEST_FILE]) {
            let mut bytes = Vec::new();
            for _ in 0..per_file {
                bytes.extend(record((index % 10) as u8, index));
                index += 1;
            }
            std::fs::write(dir.join(f), bytes).unwrap();
        }
    }

    #[test]
    fn reads_generated_files_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        write_folder(tmp.path(), 3);
        let train = load(tmp.path(), Split::Train).unwrap();
        let test = load(tmp.path(), Split::Test).unwrap();
        assert_eq!((train.len(), test.len()), (15, 3));
        assert_eq!(train.shape(), (3, 32, 32));
        assert_eq!(train.classes()[6], "frog");
        for i in 0..15 {
            assert_eq!(train.label(i) as usize, i % 10);
            assert_eq!(train.image(i), &record(0, i)[1..]);
        }
        assert_eq!(test.image(2), &record(0, 17)[1..]);
        assert_eq!(check(tmp.path()).unwrap(), (15, 3));
        assert_eq!(
            encode_records(&test),
            std::fs::read(tmp.path().join(TEST_FILE)).unwrap()
        );
    }

    #[test]
    fn missing_file_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        write_folder(tmp.path(), 1);
        std::fs::remove_file(tmp.path().join("data_batch_4.bin")).unwrap();
        let err = load(tmp.path(), Split::Train).unwrap_err();
        assert!(matches!(&err, CifarError::Missing { path } if path.ends_with("data_batch_4.bin")));
        assert!(err.to_string().contains("data_batch_4.bin"));
        std::fs::remove_file(tmp.path().join(META_FILE)).unwrap();
        let err = load(tmp.path(), Split::Test).unwrap_err();
        assert!(err.to_string().contains("batches.meta.txt"), "{err}");
    }

    #[test]
    fn truncated_file_names_the_cut_record() {
        let tmp = tempfile::tempdir().unwrap();
        write_folder(tmp.path(), 3);
        let path = tmp.path().join(TEST_FILE);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..2 * RECORD_BYTES + 100]).unwrap();
        let err = load(tmp.path(), Split::Test).unwrap_err();
        assert!(
            matches!(
                err,
                CifarError::Truncated {
                    record: 2,
                    partial: 100,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("test_batch.bin") && msg.contains("record 2"),
            "{msg}"
        );
        std::fs::write(&path, b"").unwrap();
        assert!(matches!(
            read_file(&path).unwrap_err(),
            CifarError::Empty { .. }
        ));
    }

    #[test]
    fn bad_label_names_file_and_record() {
        let tmp = tempfile::tempdir().unwrap();
        write_folder(tmp.path(), 3);
        let path = tmp.path().join("data_batch_2.bin");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[RECORD_BYTES] = 10;
        std::fs::write(&path, bytes).unwrap();
        let err = load(tmp.path(), Split::Train).unwrap_err();
        assert!(
            matches!(&err, CifarError::BadLabel { record: 1, label: 10, path } if path.ends_with("data_batch_2.bin")),
            "{err:?}"
        );
        assert!(check(tmp.path()).is_err());
    }

    #[test]
    fn meta_file_must_hold_ten_names() {
        let tmp = tempfile::tempdir().unwrap();
        write_folder(tmp.path(), 1);
        std::fs::write(tmp.path().join(META_FILE), "cat\ndog\n").unwrap();
        let err = load(tmp.path(), Split::Test).unwrap_err();
        assert!(
            matches!(err, CifarError::BadMeta { found: 2, .. }),
            "{err:?}"
        );
    }
}
