//! The in-memory dataset shared by every source (CIFAR-10 binaries, image folders, the embedded
//! sample): all images as one contiguous `u8` buffer, CHW per image, so that augmentation reads raw
//! pixels and memory stays at the raw size.

use std::ops::Range;

/// Why a [`Dataset`] could not be built from its parts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DatasetError {
    #[error("image shape {0:?} has a zero dimension")]
    EmptyShape((usize, usize, usize)),
    #[error("{pixels} pixel bytes do not hold {labels} images of {per_image} bytes")]
    LengthMismatch {
        pixels: usize,
        labels: usize,
        per_image: usize,
    },
    #[error("image {index} has label {label}, but there are only {classes} classes")]
    LabelOutOfRange {
        index: usize,
        label: u8,
        classes: usize,
    },
    #[error("datasets with different shapes or classes cannot be joined")]
    Incompatible,
}

/// Images (`u8`, CHW, contiguous), their labels, the class names and the image shape `(c, h, w)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    pixels: Vec<u8>,
    labels: Vec<u8>,
    classes: Vec<String>,
    shape: (usize, usize, usize),
}

impl Dataset {
    /// Checks that the pixel buffer holds exactly one image per label and that every label names a
    /// class.
    pub fn new(
        pixels: Vec<u8>,
        labels: Vec<u8>,
        classes: Vec<String>,
        shape: (usize, usize, usize),
    ) -> Result<Self, DatasetError> {
        let per_image = shape.0 * shape.1 * shape.2;
        if per_image == 0 {
            return Err(DatasetError::EmptyShape(shape));
        }
        if pixels.len() != labels.len() * per_image {
            return Err(DatasetError::LengthMismatch {
                pixels: pixels.len(),
                labels: labels.len(),
                per_image,
            });
        }
        if let Some((index, &label)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l as usize >= classes.len())
        {
            return Err(DatasetError::LabelOutOfRange {
                index,
                label,
                classes: classes.len(),
            });
        }
        Ok(Dataset {
            pixels,
            labels,
            classes,
            shape,
        })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// `(channels, height, width)` of every image.
    pub fn shape(&self) -> (usize, usize, usize) {
        self.shape
    }

    /// Bytes per image (`c·h·w`).
    pub fn image_len(&self) -> usize {
        self.shape.0 * self.shape.1 * self.shape.2
    }

    /// The CHW bytes of image `i`. Panics if `i >= len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// Image `i` as an RGB picture (a one-channel image as grey), for showing it.
    pub fn picture(&self, i: usize) -> image::RgbImage {
        let (c, h, w) = self.shape;
        let img = self.image(i);
        image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
            let at = |ch: usize| img[(ch.min(c - 1) * h + y as usize) * w + x as usize];
            image::Rgb([at(0), at(1), at(2)])
        })
    }

    /// Label of image `i`.
    pub fn label(&self, i: usize) -> u8 {
        self.labels[i]
    }

    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// All pixels, image after image.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Images per class, indexed by label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// A copy of the images in `range` (clamped to the dataset).
    pub fn slice(&self, range: Range<usize>) -> Dataset {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        let n = self.image_len();
        Dataset {
            pixels: self.pixels[start * n..end * n].to_vec(),
            labels: self.labels[start..end].to_vec(),
            classes: self.classes.clone(),
            shape: self.shape,
        }
    }

    /// Splits into the first `n` images and the rest, without copying the first part.
    pub fn split_at(mut self, n: usize) -> (Dataset, Dataset) {
        let n = n.min(self.len());
        let rest = self.slice(n..self.len());
        self.pixels.truncate(n * self.image_len());
        self.labels.truncate(n);
        (self, rest)
    }

    /// Appends `other`, which must have the same shape and classes.
    pub fn append(&mut self, other: &Dataset) -> Result<(), DatasetError> {
        if other.shape != self.shape || other.classes != self.classes {
            return Err(DatasetError::Incompatible);
        }
        self.pixels.extend_from_slice(&other.pixels);
        self.labels.extend_from_slice(&other.labels);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn construction_checks_lengths_labels_and_shape() {
        assert_eq!(
            Dataset::new(vec![0; 7], vec![0, 1], classes(2), (1, 2, 2)),
            Err(DatasetError::LengthMismatch {
                pixels: 7,
                labels: 2,
                per_image: 4
            })
        );
        assert_eq!(
            Dataset::new(vec![0; 8], vec![0, 2], classes(2), (1, 2, 2)),
            Err(DatasetError::LabelOutOfRange {
                index: 1,
                label: 2,
                classes: 2
            })
        );
        assert_eq!(
            Dataset::new(vec![], vec![], classes(2), (3, 0, 2)),
            Err(DatasetError::EmptyShape((3, 0, 2)))
        );
    }

    #[test]
    fn images_slices_splits_and_appends() {
        let d = Dataset::new((0..12).collect(), vec![0, 1, 1], classes(2), (1, 2, 2)).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d.image(1), &[4, 5, 6, 7]);
        assert_eq!(d.class_counts(), vec![1, 2]);
        let (a, b) = d.clone().split_at(1);
        assert_eq!((a.len(), b.len()), (1, 2));
        assert_eq!(b.image(0), &[4, 5, 6, 7]);
        let mut joined = a;
        joined.append(&b).unwrap();
        assert_eq!(joined, d);
        assert_eq!(d.slice(2..10).labels(), &[1]);
    }
}
