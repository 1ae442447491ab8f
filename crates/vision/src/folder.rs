//! Image-folder datasets (`root/<class>/*.png|jpg|jpeg`, classes sorted by name, files sorted by
//! name within a class): either decoded once into the `u8` CHW [`Dataset`] ([`load`]), or listed
//! as [`ImageFiles`] ([`list`]) for a loader that decodes on its worker threads (images of any
//! size, data sets larger than memory).

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use crate::dataset::Dataset;

/// What is wrong with an image folder; every variant names the path at fault.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    // Causes are in the messages and not also chained as sources, so `{:#}` says them once.
    #[error("{path}: cannot list: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: no class folders (expected root/<class>/*.png|jpg)")]
    NoClasses { path: PathBuf },
    #[error("{path}: no .png/.jpg images in any class folder")]
    NoImages { path: PathBuf },
    #[error("{path}: class folder has no .png/.jpg images (remove it or add its images)")]
    EmptyClass { path: PathBuf },
    #[error("{path}: {count} classes, at most 256 are supported")]
    TooManyClasses { path: PathBuf, count: usize },
    #[error("{path}: cannot decode image: {error}")]
    Unreadable {
        path: PathBuf,
        error: image::ImageError,
    },
    #[error("{path}: image is {found:?} (w×h) but earlier images are {expected:?}; pass a size to resize them all")]
    SizeMismatch {
        path: PathBuf,
        found: (u32, u32),
        expected: (u32, u32),
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FolderError + '_ {
    move |error| FolderError::Io {
        path: path.to_owned(),
        error,
    }
}

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
}

/// Sorted entries of `dir` that satisfy `keep`.
fn sorted_entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>, FolderError> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if keep(&path) {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// The files of an image folder with their labels, not decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFiles {
    files: Vec<(PathBuf, u8)>,
    classes: Vec<String>,
}

impl ImageFiles {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Path of image `i`. Panics if `i >= len()`, like slice indexing.
    pub fn path(&self, i: usize) -> &Path {
        &self.files[i].0
    }

    /// Label of image `i`.
    pub fn label(&self, i: usize) -> u8 {
        self.files[i].1
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Decodes image `i` as RGB.
    pub fn decode(&self, i: usize) -> Result<image::RgbImage, FolderError> {
        let path = self.path(i);
        Ok(image::open(path)
            .map_err(|error| FolderError::Unreadable {
                path: path.to_owned(),
                error,
            })?
            .into_rgb8())
    }
}

/// Lists every image under `root/<class>/` (classes and files sorted by name) without decoding.
pub fn list(root: &Path) -> Result<ImageFiles, FolderError> {
    let class_dirs = sorted_entries(root, |p| p.is_dir())?;
    if class_dirs.is_empty() {
        return Err(FolderError::NoClasses {
            path: root.to_owned(),
        });
    }
    if class_dirs.len() > 256 {
        return Err(FolderError::TooManyClasses {
            path: root.to_owned(),
            count: class_dirs.len(),
        });
    }
    let mut files = Vec::new();
    for (label, dir) in class_dirs.iter().enumerate() {
        for path in sorted_entries(dir, |p| p.is_file() && is_image(p))? {
            files.push((path, label as u8));
        }
    }
    if files.is_empty() {
        return Err(FolderError::NoImages {
            path: root.to_owned(),
        });
    }
    // A class without images would be a label the model never sees.
    if let Some(empty) = (0..class_dirs.len()).find(|&k| !files.iter().any(|f| f.1 == k as u8)) {
        return Err(FolderError::EmptyClass {
            path: class_dirs[empty].clone(),
        });
    }
    let classes = class_dirs
        .iter()
        .map(|d| {
            d.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    Ok(ImageFiles { files, classes })
}

/// Loads every image under `root/<class>/` as RGB. With `size = Some((width, height))` images are
/// resized (bilinear) to it; without, all images must share the size of the first one.
pub fn load(root: &Path, size: Option<(u32, u32)>) -> Result<Dataset, FolderError> {
    let ImageFiles { files, classes } = list(root)?;
    let mut expected = size;
    let mut pixels = Vec::new();
    let mut labels = Vec::with_capacity(files.len());
    for (path, label) in &files {
        let unreadable = |error| FolderError::Unreadable {
            path: path.clone(),
            error,
        };
        let mut rgb = image::open(path).map_err(unreadable)?.into_rgb8();
        let found = rgb.dimensions();
        match (size, expected) {
            (Some((w, h)), _) if found != (w, h) => {
                rgb = image::imageops::resize(&rgb, w, h, FilterType::Triangle);
            }
            (None, Some(e)) if found != e => {
                return Err(FolderError::SizeMismatch {
                    path: path.clone(),
                    found,
                    expected: e,
                });
            }
            _ => {}
        }
        let (w, h) = rgb.dimensions();
        expected = Some((w, h));
        if pixels.is_empty() {
            pixels.reserve(files.len() * 3 * (w * h) as usize);
        }
        // HWC (interleaved) to CHW (planes).
        let raw = rgb.as_raw();
        for c in 0..3 {
            pixels.extend(raw.iter().skip(c).step_by(3));
        }
        labels.push(*label);
    }
    let (w, h) = expected.expect("at least one image");
    Ok(
        Dataset::new(pixels, labels, classes, (3, h as usize, w as usize))
            .expect("one CHW image per label, labels below the class count"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    /// A w×h image whose pixel (x, y) is (x, y, seed).
    fn picture(w: u32, h: u32, seed: u8) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([x as u8, y as u8, seed]))
    }

    fn save(root: &Path, class: &str, name: &str, img: &RgbImage) {
        std::fs::create_dir_all(root.join(class)).unwrap();
        img.save(root.join(class).join(name)).unwrap();
    }

    #[test]
    fn classes_sorted_by_name_and_pixels_in_chw() {
        let tmp = tempfile::tempdir().unwrap();
        save(tmp.path(), "dog", "b.png", &picture(3, 2, 20));
        save(tmp.path(), "dog", "a.png", &picture(3, 2, 10));
        save(tmp.path(), "cat", "x.PNG", &picture(3, 2, 30));
        std::fs::write(tmp.path().join("cat").join("notes.txt"), "ignored").unwrap();
        let d = load(tmp.path(), None).unwrap();
        assert_eq!(d.classes(), &["cat".to_string(), "dog".to_string()]);
        assert_eq!(d.labels(), &[0, 1, 1]);
        assert_eq!(d.shape(), (3, 2, 3));
        // R plane = x, G plane = y, B plane = seed; "a.png" comes before "b.png".
        assert_eq!(
            d.image(1),
            &[0, 1, 2, 0, 1, 2, 0, 0, 0, 1, 1, 1, 10, 10, 10, 10, 10, 10]
        );
        assert_eq!(d.image(2)[12], 20);
    }

    #[test]
    fn listing_gives_the_files_and_labels_without_decoding() {
        let tmp = tempfile::tempdir().unwrap();
        save(tmp.path(), "dog", "b.png", &picture(3, 2, 20));
        save(tmp.path(), "cat", "x.png", &picture(5, 7, 30));
        std::fs::write(tmp.path().join("dog").join("a.png"), b"not a png").unwrap();
        let files = list(tmp.path()).unwrap();
        assert_eq!(files.classes(), &["cat".to_string(), "dog".to_string()]);
        assert_eq!(files.len(), 3);
        assert_eq!((files.label(0), files.label(1)), (0, 1));
        assert!(files.path(1).ends_with("dog/a.png"));
        assert_eq!(files.decode(0).unwrap().dimensions(), (5, 7));
        let err = files.decode(1).unwrap_err();
        assert!(err.to_string().contains("a.png"), "{err}");
    }

    #[test]
    fn jpeg_images_are_read() {
        let tmp = tempfile::tempdir().unwrap();
        save(
            tmp.path(),
            "a",
            "1.jpg",
            &RgbImage::from_pixel(8, 8, Rgb([200, 100, 50])),
        );
        let d = load(tmp.path(), None).unwrap();
        assert_eq!(d.shape(), (3, 8, 8));
        assert!(d.image(0)[..64].iter().all(|&v| v.abs_diff(200) <= 3));
    }

    #[test]
    fn mixed_sizes_are_an_error_naming_the_file_unless_resized() {
        let tmp = tempfile::tempdir().unwrap();
        save(tmp.path(), "a", "1.png", &picture(4, 4, 0));
        save(tmp.path(), "b", "2.png", &picture(6, 5, 0));
        let err = load(tmp.path(), None).unwrap_err();
        assert!(
            matches!(
                &err,
                FolderError::SizeMismatch {
                    found: (6, 5),
                    expected: (4, 4),
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("2.png"), "{err}");
        let d = load(tmp.path(), Some((5, 3))).unwrap();
        assert_eq!((d.len(), d.shape()), (2, (3, 3, 5)));
    }

    #[test]
    fn unreadable_image_is_an_error_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        save(tmp.path(), "a", "1.png", &picture(4, 4, 0));
        std::fs::write(tmp.path().join("a").join("2.png"), b"not a png").unwrap();
        let err = load(tmp.path(), None).unwrap_err();
        assert!(matches!(&err, FolderError::Unreadable { path, .. } if path.ends_with("a/2.png")));
        assert!(err.to_string().contains("2.png"));
    }

    #[test]
    fn empty_or_missing_folders_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(
            load(tmp.path(), None),
            Err(FolderError::NoClasses { .. })
        ));
        std::fs::create_dir(tmp.path().join("a")).unwrap();
        assert!(matches!(
            load(tmp.path(), None),
            Err(FolderError::NoImages { .. })
        ));
        save(tmp.path(), "b", "x.png", &picture(2, 2, 0));
        let err = load(tmp.path(), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: class folder has no .png/.jpg images (remove it or add its images)",
                tmp.path().join("a").display()
            )
        );
        let missing = tmp.path().join("nope");
        let err = load(&missing, None).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
