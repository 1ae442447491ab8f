//! Where a command's data comes from: the embedded sample by default, else a CIFAR-10 binary
//! folder or an image folder with `train/` and `valid/` (or `val/`, `test/`) class folders.

use std::path::Path;

use crate::cifar::{self, CifarError, Split};
use crate::dataset::Dataset;
use crate::folder::{self, FolderError, ImageFiles};
use crate::sample;

/// Why no data could be read from a path.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Cifar(#[from] CifarError),
    #[error(transparent)]
    Folder(#[from] FolderError),
    #[error("{0}: neither a CIFAR-10 binary folder (data_batch_1.bin …) nor an image folder with train/ and valid/ (or val/, test/) class folders")]
    Unknown(std::path::PathBuf),
    #[error("{0}: the training data has one class ({1}); classification needs at least 2")]
    OneClass(std::path::PathBuf, String),
    #[error("{0}: its class folders differ from those of train/")]
    ClassMismatch(std::path::PathBuf),
}

/// Training and validation images as [`open`] finds them.
#[derive(Debug)]
pub enum Images {
    /// Decoded in memory at one shape (the embedded sample, CIFAR-10 binaries).
    Decoded(Dataset, Dataset),
    /// Image folders, listed: decoded on the loader's workers, images of any size.
    Files(ImageFiles, ImageFiles),
}

impl Images {
    /// The class names (the same for training and validation).
    pub fn classes(&self) -> &[String] {
        match self {
            Images::Decoded(train, _) => train.classes(),
            Images::Files(train, _) => train.classes(),
        }
    }
}

/// Like [`train_valid`], but image folders are only listed, for the ImageNet-style recipe that
/// decodes and crops each image on the loader's workers.
pub fn open(path: Option<&Path>) -> Result<Images, SourceError> {
    let folders = match path {
        Some(p) if p.join("train").is_dir() && !p.join(cifar::TRAIN_FILES[0]).is_file() => {
            ["valid", "val", "test"]
                .iter()
                .map(|v| p.join(v))
                .find(|v| v.is_dir())
                .map(|valid| (p.join("train"), valid))
        }
        _ => None,
    };
    match folders {
        Some((train, valid)) => {
            let train_files = folder::list(&train)?;
            one_class(&train, train_files.classes())?;
            let (train, valid_files) = (train_files, folder::list(&valid)?);
            if valid_files.classes() != train.classes() {
                return Err(SourceError::ClassMismatch(valid));
            }
            Ok(Images::Files(train, valid_files))
        }
        None => {
            let (train, valid) = train_valid(path)?;
            Ok(Images::Decoded(train, valid))
        }
    }
}

/// A classifier needs two classes at least; one is a folder layout mistake (`root/images/*.png`).
fn one_class(path: &Path, classes: &[String]) -> Result<(), SourceError> {
    match classes {
        [only] => Err(SourceError::OneClass(path.to_owned(), only.clone())),
        _ => Ok(()),
    }
}

/// Training and validation data: `None` gives the embedded sample (3,500 / 500 images); a folder
/// holding `data_batch_1.bin` gives CIFAR-10 train / test; a folder with `train/` and one of
/// `valid/`, `val/`, `test/` gives image-folder datasets (validation classes must match).
pub fn train_valid(path: Option<&Path>) -> Result<(Dataset, Dataset), SourceError> {
    let Some(path) = path else {
        return Ok(sample::cifar10_sample());
    };
    if path.join(cifar::TRAIN_FILES[0]).is_file() {
        let train = cifar::load(path, Split::Train)?;
        one_class(path, train.classes())?;
        return Ok((train, cifar::load(path, Split::Test)?));
    }
    let valid = ["valid", "val", "test"]
        .iter()
        .map(|v| path.join(v))
        .find(|p| p.is_dir());
    match (path.join("train"), valid) {
        (train, Some(valid)) if train.is_dir() => {
            let train_data = folder::load(&train, None)?;
            one_class(&train, train_data.classes())?;
            let train = train_data;
            let (_, h, w) = train.shape();
            let valid_data = folder::load(&valid, Some((w as u32, h as u32)))?;
            if valid_data.classes() != train.classes() {
                return Err(SourceError::ClassMismatch(valid));
            }
            Ok((train, valid_data))
        }
        _ => Err(SourceError::Unknown(path.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_embedded_sample() {
        let (train, valid) = train_valid(None).unwrap();
        assert_eq!((train.len(), valid.len()), (3500, 500));
    }

    #[test]
    fn image_folders_with_train_and_valid() {
        let tmp = tempfile::tempdir().unwrap();
        for (split, n) in [("train", 3), ("valid", 1)] {
            for class in ["a", "b"] {
                let dir = tmp.path().join(split).join(class);
                std::fs::create_dir_all(&dir).unwrap();
                for i in 0..n {
                    image::RgbImage::new(4, 4)
                        .save(dir.join(format!("{i}.png")))
                        .unwrap();
                }
            }
        }
        let (train, valid) = train_valid(Some(tmp.path())).unwrap();
        assert_eq!((train.len(), valid.len()), (6, 2));
        assert_eq!(train.classes(), valid.classes());
    }

    #[test]
    fn open_lists_image_folders_and_decodes_the_rest() {
        assert!(matches!(open(None).unwrap(), Images::Decoded(t, _) if t.len() == 3500));
        let tmp = tempfile::tempdir().unwrap();
        for (split, n) in [("train", 2), ("val", 1)] {
            for class in ["a", "b", "c"] {
                let dir = tmp.path().join(split).join(class);
                std::fs::create_dir_all(&dir).unwrap();
                for i in 0..n {
                    image::RgbImage::new(5 + i, 4)
                        .save(dir.join(format!("{i}.png")))
                        .unwrap();
                }
            }
        }
        let images = open(Some(tmp.path())).unwrap();
        assert_eq!(images.classes(), &["a", "b", "c"]);
        assert!(matches!(&images, Images::Files(t, v) if t.len() == 6 && v.len() == 3));
        std::fs::remove_dir_all(tmp.path().join("val").join("c")).unwrap();
        let err = open(Some(tmp.path())).unwrap_err();
        assert!(matches!(err, SourceError::ClassMismatch(_)), "{err}");
    }

    #[test]
    fn one_class_is_an_error_naming_the_folder() {
        let tmp = tempfile::tempdir().unwrap();
        for split in ["train", "valid"] {
            let dir = tmp.path().join(split).join("cats");
            std::fs::create_dir_all(&dir).unwrap();
            image::RgbImage::new(4, 4).save(dir.join("0.png")).unwrap();
        }
        let expected = format!(
            "{}: the training data has one class (cats); classification needs at least 2",
            tmp.path().join("train").display()
        );
        assert_eq!(
            train_valid(Some(tmp.path())).unwrap_err().to_string(),
            expected
        );
        assert_eq!(open(Some(tmp.path())).unwrap_err().to_string(), expected);
    }

    #[test]
    fn an_unrecognised_folder_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let err = train_valid(Some(tmp.path())).unwrap_err();
        assert!(err.to_string().contains(&*tmp.path().to_string_lossy()));
    }
}
