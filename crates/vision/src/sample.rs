//! The embedded default data: records 0–3999 of CIFAR-10's `data_batch_1.bin` (bit-exact
//! originals), shipped losslessly as one PNG sprite plus a label file, so every command works on a
//! fresh machine without a download. See `assets/README.md` for provenance and regeneration.

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ColorType, ImageEncoder};

use crate::cifar::CLASSES;
use crate::dataset::Dataset;

/// Images in the embedded sample.
pub const RECORDS: usize = 4000;
/// The first `TRAIN` images form the training part, the rest the validation part.
pub const TRAIN: usize = 3500;
/// Images per row of the sprite.
const COLUMNS: usize = 50;
/// Side of a CIFAR image.
const SIDE: usize = 32;

static SPRITE: &[u8] = include_bytes!("../assets/cifar10_sample.png.bin");
static LABELS: &[u8] = include_bytes!("../assets/cifar10_sample_labels.bin");

/// Why a sample sprite could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("sprite: {0}")]
    Image(#[from] image::ImageError),
    #[error("sprite is {found:?} (w×h), {labels} labels need {expected:?}")]
    Size {
        found: (u32, u32),
        expected: (u32, u32),
        labels: usize,
    },
    #[error("the sample holds 3×32×32 CIFAR images, got {0:?}")]
    Shape((usize, usize, usize)),
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
}

/// Sprite size `(width, height)` in pixels for `n` images.
fn sprite_size(n: usize) -> (u32, u32) {
    let rows = n.div_ceil(COLUMNS);
    ((COLUMNS * SIDE) as u32, (rows * SIDE) as u32)
}

/// Encodes 3×32×32 images as an RGB PNG sprite (`COLUMNS` images per row, row-major) and their
/// labels as one byte each. The PNG filter makes this the smallest of the lossless forms we tried.
pub fn encode(data: &Dataset) -> Result<(Vec<u8>, Vec<u8>), SampleError> {
    if data.shape() != (3, SIDE, SIDE) {
        return Err(SampleError::Shape(data.shape()));
    }
    let (w, h) = sprite_size(data.len());
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    for i in 0..data.len() {
        let img = data.image(i);
        let (gy, gx) = (i / COLUMNS * SIDE, i % COLUMNS * SIDE);
        for y in 0..SIDE {
            for x in 0..SIDE {
                let dst = (((gy + y) * w as usize) + gx + x) * 3;
                for c in 0..3 {
                    rgb[dst + c] = img[(c * SIDE + y) * SIDE + x];
                }
            }
        }
    }
    let mut png = Vec::new();
    PngEncoder::new_with_quality(&mut png, CompressionType::Best, FilterType::Adaptive)
        .write_image(&rgb, w, h, ColorType::Rgb8)?;
    Ok((png, data.labels().to_vec()))
}

/// Decodes a sprite and label bytes written by [`encode`] into CIFAR-10 images (CHW).
pub fn decode(png: &[u8], labels: &[u8]) -> Result<Dataset, SampleError> {
    let rgb = image::load_from_memory_with_format(png, image::ImageFormat::Png)?.into_rgb8();
    let expected = sprite_size(labels.len());
    if rgb.dimensions() != expected {
        return Err(SampleError::Size {
            found: rgb.dimensions(),
            expected,
            labels: labels.len(),
        });
    }
    let (w, raw) = (expected.0 as usize, rgb.as_raw());
    let mut pixels = Vec::with_capacity(labels.len() * 3 * SIDE * SIDE);
    for i in 0..labels.len() {
        let (gy, gx) = (i / COLUMNS * SIDE, i % COLUMNS * SIDE);
        for c in 0..3 {
            for y in 0..SIDE {
                let row = ((gy + y) * w + gx) * 3;
                pixels.extend((0..SIDE).map(|x| raw[row + x * 3 + c]));
            }
        }
    }
    let classes = CLASSES.iter().map(|s| s.to_string()).collect();
    Ok(Dataset::new(
        pixels,
        labels.to_vec(),
        classes,
        (3, SIDE, SIDE),
    )?)
}

/// All 4,000 embedded images, in their original order.
pub fn cifar10_sample_all() -> Dataset {
    decode(SPRITE, LABELS).expect("the embedded sample decodes (checked by tests)")
}

/// The embedded sample as (train: first 3,500 images, valid: last 500 images).
pub fn cifar10_sample() -> (Dataset, Dataset) {
    cifar10_sample_all().split_at(TRAIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_sample_has_the_documented_split_and_classes() {
        let (train, valid) = cifar10_sample();
        assert_eq!((train.len(), valid.len()), (TRAIN, RECORDS - TRAIN));
        assert_eq!(train.shape(), (3, 32, 32));
        assert_eq!(
            train.label(0),
            6,
            "the first CIFAR-10 training image is a frog"
        );
        assert_eq!(train.classes()[6], "frog");
        assert!(train.class_counts().iter().all(|&c| c > 250));
    }

    #[test]
    fn encode_then_decode_is_lossless_also_for_a_partial_last_row() {
        let mut rng = onecycle::rng::Rng::from_keys(&[1]);
        let n = COLUMNS + 3;
        let pixels = (0..n * 3072).map(|_| rng.below(256) as u8).collect();
        let labels = (0..n).map(|i| (i % 10) as u8).collect();
        let classes = CLASSES.iter().map(|s| s.to_string()).collect();
        let data = Dataset::new(pixels, labels, classes, (3, 32, 32)).unwrap();
        let (png, labels) = encode(&data).unwrap();
        assert_eq!(decode(&png, &labels).unwrap(), data);
        assert!(matches!(
            decode(&png, &labels[..3]),
            Err(SampleError::Size { .. })
        ));
        assert!(decode(b"junk", &labels).is_err());
    }
}
