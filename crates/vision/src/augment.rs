//! Augmentation on raw `u8` CHW pixels, written as normalised `f32` straight into a batch buffer:
//! pad (zero or reflect) + random crop to an output size, horizontal flip, cutout, then per-channel
//! normalisation through a 256-entry lookup table. One code path serves every image size, and all
//! randomness comes from the [`Rng`] the caller passes, so results are reproducible.

use crate::rng::Rng;

/// How pixels outside the image are filled before cropping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Black pixels (value 0 before normalisation), as torchvision's `RandomCrop(padding=p)`.
    Zero,
    /// Mirror without repeating the edge (`…c b | a b c … | b a…`), as `padding_mode="reflect"`.
    Reflect,
}

/// Random training augmentation; [`Transform`] applies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Augment {
    /// Pixels added on every side before the random crop.
    pub pad: usize,
    pub padding: Padding,
    /// Output `(height, width)` of the random crop; `None` keeps the input size.
    pub crop: Option<(usize, usize)>,
    /// Flip horizontally with probability ½.
    pub flip: bool,
    /// Side of a square set to zero after normalisation (the channel mean), centred uniformly in
    /// the output and clipped at its borders; 0 disables it.
    pub cutout: usize,
}

impl Augment {
    /// The standard CIFAR recipe: pad 4 (reflect), random 32×32 crop, random flip, no cutout.
    pub fn cifar() -> Self {
        Augment {
            pad: 4,
            padding: Padding::Reflect,
            crop: None,
            flip: true,
            cutout: 0,
        }
    }
}

/// Per-channel normalisation `(v/255 − mean) / std`.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalize {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Normalize {
    /// CIFAR-10 training-set statistics (the values used by most CIFAR recipes).
    pub fn cifar10() -> Self {
        Normalize {
            mean: vec![0.4914, 0.4822, 0.4465],
            std: vec![0.2470, 0.2435, 0.2616],
        }
    }

    /// Leaves pixel values as they are (`0.0..=255.0`), for tests and inspection.
    pub fn identity(channels: usize) -> Self {
        Normalize {
            mean: vec![0.0; channels],
            std: vec![1.0 / 255.0; channels],
        }
    }

    /// Maps `v/255` to `v/255` (the `ToTensor` range `0..=1`) without mean/std.
    pub fn unit(channels: usize) -> Self {
        Normalize {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        }
    }

    fn table(&self) -> Vec<[f32; 256]> {
        self.mean
            .iter()
            .zip(&self.std)
            .map(|(&m, &s)| {
                let mut t = [0f32; 256];
                for (v, out) in t.iter_mut().enumerate() {
                    *out = ((v as f64 / 255.0 - m) / s) as f32;
                }
                t
            })
            .collect()
    }
}

/// Why a [`Transform`] cannot be built for an image shape.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AugmentError {
    #[error("crop {crop:?} does not fit in the padded image {padded:?}")]
    CropTooLarge {
        crop: (usize, usize),
        padded: (usize, usize),
    },
    #[error("normalisation has {mean} means and {std} stds, the images have {channels} channels")]
    Channels {
        mean: usize,
        std: usize,
        channels: usize,
    },
    #[error("normalisation std must be positive and finite, got {0}")]
    BadStd(f64),
}

/// The random choices for one image, in output coordinates of the padded frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Draw {
    /// Top-left corner of the crop in the padded image.
    pub top: usize,
    pub left: usize,
    pub flip: bool,
    /// Centre `(y, x)` of the cutout square in the output.
    pub cutout: Option<(usize, usize)>,
}

/// A ready-to-run augmentation (or plain conversion when `augment` is `None`) for one input shape.
#[derive(Clone, Debug)]
pub struct Transform {
    augment: Option<Augment>,
    table: Vec<[f32; 256]>,
    input: (usize, usize, usize),
    output: (usize, usize),
}

impl Transform {
    /// Validates the crop and normalisation against `input = (c, h, w)`. Without augmentation the
    /// output is the input size.
    pub fn new(
        input: (usize, usize, usize),
        augment: Option<Augment>,
        normalize: &Normalize,
    ) -> Result<Self, AugmentError> {
        let (c, h, w) = input;
        if normalize.mean.len() != c || normalize.std.len() != c {
            return Err(AugmentError::Channels {
                mean: normalize.mean.len(),
                std: normalize.std.len(),
                channels: c,
            });
        }
        if let Some(&s) = normalize.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(AugmentError::BadStd(s));
        }
        let output = match &augment {
            Some(a) => {
                let padded = (h + 2 * a.pad, w + 2 * a.pad);
                let crop = a.crop.unwrap_or((h, w));
                if crop.0 == 0 || crop.1 == 0 || crop.0 > padded.0 || crop.1 > padded.1 {
                    return Err(AugmentError::CropTooLarge { crop, padded });
                }
                crop
            }
            None => (h, w),
        };
        Ok(Transform {
            augment,
            table: normalize.table(),
            input,
            output,
        })
    }

    /// `(c, h, w)` of the images this transform writes.
    pub fn output_shape(&self) -> (usize, usize, usize) {
        (self.input.0, self.output.0, self.output.1)
    }

    /// `f32` values written per image.
    pub fn output_len(&self) -> usize {
        self.input.0 * self.output.0 * self.output.1
    }

    /// Draws the random choices for one image (none without augmentation).
    pub fn draw(&self, rng: &mut Rng) -> Draw {
        let Some(a) = &self.augment else {
            return Draw {
                top: 0,
                left: 0,
                flip: false,
                cutout: None,
            };
        };
        let (_, h, w) = self.input;
        let (oh, ow) = self.output;
        let top = rng.up_to(h + 2 * a.pad - oh);
        let left = rng.up_to(w + 2 * a.pad - ow);
        let flip = a.flip && rng.coin();
        let cutout = (a.cutout > 0).then(|| (rng.up_to(oh - 1), rng.up_to(ow - 1)));
        Draw {
            top,
            left,
            flip,
            cutout,
        }
    }

    /// Writes image `src` (CHW `u8`) transformed by `draw` into `out` (CHW `f32`,
    /// [`output_len`](Self::output_len) values).
    pub fn apply(&self, src: &[u8], draw: &Draw, out: &mut [f32]) {
        let (c, h, w) = self.input;
        let (oh, ow) = self.output;
        assert_eq!(src.len(), c * h * w, "source image size");
        assert_eq!(out.len(), c * oh * ow, "output buffer size");
        let (pad, padding) = match &self.augment {
            Some(a) => (a.pad, a.padding),
            None => (0, Padding::Zero),
        };
        // Source row of every output row (`None`: a zero row) and source column of every output
        // column, where column `w` is a zero pixel appended to a copy of the row.
        let ys: Vec<Option<usize>> = (0..oh)
            .map(|y| source_index(draw.top + y, pad, h, padding))
            .collect();
        let xs: Vec<usize> = (0..ow)
            .map(|x| {
                let x = if draw.flip { ow - 1 - x } else { x };
                source_index(draw.left + x, pad, w, padding).unwrap_or(w)
            })
            .collect();
        let mut row = vec![0u8; w + 1];
        for (ch, table) in self.table.iter().enumerate() {
            let plane = &src[ch * h * w..(ch + 1) * h * w];
            let out_plane = &mut out[ch * oh * ow..(ch + 1) * oh * ow];
            for (out_row, sy) in out_plane.chunks_exact_mut(ow).zip(&ys) {
                match sy {
                    None => out_row.fill(table[0]),
                    Some(sy) => {
                        row[..w].copy_from_slice(&plane[sy * w..(sy + 1) * w]);
                        for (o, &sx) in out_row.iter_mut().zip(&xs) {
                            *o = table[row[sx] as usize];
                        }
                    }
                }
            }
        }
        if let (Some((cy, cx)), Some(a)) = (draw.cutout, &self.augment) {
            let (y0, y1) = clipped_span(cy, a.cutout, oh);
            let (x0, x1) = clipped_span(cx, a.cutout, ow);
            for ch in 0..c {
                for y in y0..y1 {
                    let row = (ch * oh + y) * ow;
                    out[row + x0..row + x1].fill(0.0);
                }
            }
        }
    }

    /// Draws and applies in one call.
    pub fn apply_random(&self, src: &[u8], rng: &mut Rng, out: &mut [f32]) {
        let draw = self.draw(rng);
        self.apply(src, &draw, out);
    }
}

/// Index in `0..n` read for position `p` of the frame padded by `pad`, or `None` for a zero pixel.
fn source_index(p: usize, pad: usize, n: usize, padding: Padding) -> Option<usize> {
    let i = p as isize - pad as isize;
    if (0..n as isize).contains(&i) {
        return Some(i as usize);
    }
    match padding {
        Padding::Zero => None,
        Padding::Reflect if n == 1 => Some(0),
        Padding::Reflect => {
            // Mirror about the edges (period 2(n−1)), also for pads wider than the image.
            let period = 2 * (n as isize - 1);
            let m = i.rem_euclid(period);
            Some(if m < n as isize { m } else { period - m } as usize)
        }
    }
}

/// `[centre − side/2, centre − side/2 + side)` clipped to `0..n`.
fn clipped_span(centre: usize, side: usize, n: usize) -> (usize, usize) {
    let start = centre as isize - (side / 2) as isize;
    let end = start + side as isize;
    (start.max(0) as usize, (end.max(0) as usize).min(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×3×4 image with pixel value `10·row + col + 1`.
    fn tiny() -> Vec<u8> {
        (0..3)
            .flat_map(|y| (0..4).map(move |x| (10 * y + x + 1) as u8))
            .collect()
    }

    fn run(augment: Augment, draw: Draw) -> Vec<Vec<f32>> {
        let t = Transform::new((1, 3, 4), Some(augment), &Normalize::identity(1)).unwrap();
        let (_, oh, ow) = t.output_shape();
        let mut out = vec![f32::NAN; oh * ow];
        t.apply(&tiny(), &draw, &mut out);
        out.chunks(ow).map(|r| r.to_vec()).collect()
    }

    fn at(top: usize, left: usize, flip: bool) -> Draw {
        Draw {
            top,
            left,
            flip,
            cutout: None,
        }
    }

    fn aug(pad: usize, padding: Padding, crop: (usize, usize)) -> Augment {
        Augment {
            pad,
            padding,
            crop: Some(crop),
            flip: true,
            cutout: 0,
        }
    }

    #[test]
    fn crop_without_padding_reads_the_window() {
        let rows = run(aug(0, Padding::Zero, (2, 2)), at(1, 2, false));
        assert_eq!(rows, vec![vec![13.0, 14.0], vec![23.0, 24.0]]);
    }

    #[test]
    fn zero_padding_fills_black_around_the_image() {
        let rows = run(aug(1, Padding::Zero, (3, 4)), at(0, 0, false));
        assert_eq!(
            rows,
            vec![
                vec![0.0, 0.0, 0.0, 0.0],
                vec![0.0, 1.0, 2.0, 3.0],
                vec![0.0, 11.0, 12.0, 13.0],
            ]
        );
    }

    #[test]
    fn reflect_padding_mirrors_without_repeating_the_edge() {
        let rows = run(aug(2, Padding::Reflect, (3, 8)), at(0, 0, false));
        assert_eq!(
            rows,
            vec![
                vec![23.0, 22.0, 21.0, 22.0, 23.0, 24.0, 23.0, 22.0],
                vec![13.0, 12.0, 11.0, 12.0, 13.0, 14.0, 13.0, 12.0],
                vec![3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0],
            ]
        );
    }

    #[test]
    fn flip_mirrors_the_cropped_window() {
        let rows = run(aug(1, Padding::Zero, (2, 3)), at(1, 2, true));
        // Window rows 0..2, columns 1..4 of the image, then mirrored.
        assert_eq!(rows, vec![vec![4.0, 3.0, 2.0], vec![14.0, 13.0, 12.0]]);
    }

    #[test]
    fn cutout_zeroes_a_clipped_square_in_every_channel() {
        let a = Augment {
            pad: 0,
            padding: Padding::Zero,
            crop: None,
            flip: false,
            cutout: 2,
        };
        let t = Transform::new((2, 3, 4), Some(a), &Normalize::identity(2)).unwrap();
        let src: Vec<u8> = (1..=24).collect();
        let mut out = vec![0.0; 24];
        let draw = Draw {
            top: 0,
            left: 0,
            flip: false,
            cutout: Some((0, 3)),
        };
        t.apply(&src, &draw, &mut out);
        let mut expected: Vec<f32> = (1..=24).map(|v| v as f32).collect();
        for i in [2, 3, 14, 15] {
            expected[i] = 0.0;
        }
        assert_eq!(out, expected);
    }

    #[test]
    fn normalisation_uses_per_channel_mean_and_std() {
        let n = Normalize {
            mean: vec![0.5, 0.0],
            std: vec![0.5, 2.0],
        };
        let t = Transform::new((2, 1, 2), None, &n).unwrap();
        let mut out = vec![0.0; 4];
        t.apply(
            &[0, 255, 51, 255],
            &t.draw(&mut Rng::from_keys(&[0])),
            &mut out,
        );
        let expected = [-1.0, 1.0, 0.1, 0.5];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 1e-6, "{out:?}");
        }
    }

    #[test]
    fn no_augmentation_copies_the_image() {
        let t = Transform::new((1, 3, 4), None, &Normalize::identity(1)).unwrap();
        let mut out = vec![0.0; 12];
        t.apply_random(&tiny(), &mut Rng::from_keys(&[1]), &mut out);
        let expected: Vec<f32> = tiny().iter().map(|&v| v as f32).collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn draws_are_deterministic_per_seed_and_stay_in_range() {
        let t = Transform::new(
            (3, 32, 32),
            Some(Augment {
                cutout: 8,
                ..Augment::cifar()
            }),
            &Normalize::cifar10(),
        )
        .unwrap();
        let draws = |seed| {
            let mut rng = Rng::from_keys(&[seed]);
            (0..200).map(|_| t.draw(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draws(3), draws(3));
        assert_ne!(draws(3), draws(4));
        let d = draws(3);
        assert!(d.iter().all(|d| d.top <= 8 && d.left <= 8));
        assert!(d.iter().any(|d| d.top == 0) && d.iter().any(|d| d.top == 8));
        let flips = d.iter().filter(|d| d.flip).count();
        assert!((60..140).contains(&flips), "{flips}");
    }

    #[test]
    fn any_image_size_and_crop_size_work() {
        let a = Augment {
            crop: Some((24, 20)),
            ..Augment::cifar()
        };
        let t = Transform::new((3, 40, 17), Some(a), &Normalize::cifar10()).unwrap();
        assert_eq!(t.output_shape(), (3, 24, 20));
        let src = vec![128u8; 3 * 40 * 17];
        let mut out = vec![f32::NAN; t.output_len()];
        let mut rng = Rng::from_keys(&[0]);
        for _ in 0..50 {
            t.apply_random(&src, &mut rng, &mut out);
            assert!(out.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn invalid_settings_are_errors() {
        let big = aug(1, Padding::Zero, (6, 4));
        assert_eq!(
            Transform::new((1, 3, 4), Some(big), &Normalize::identity(1)).unwrap_err(),
            AugmentError::CropTooLarge {
                crop: (6, 4),
                padded: (5, 6)
            }
        );
        assert!(matches!(
            Transform::new((3, 3, 4), None, &Normalize::identity(1)),
            Err(AugmentError::Channels { channels: 3, .. })
        ));
        let zero_std = Normalize {
            mean: vec![0.0],
            std: vec![0.0],
        };
        assert!(Transform::new((1, 3, 4), None, &zero_std).is_err());
    }

    #[test]
    fn reflect_index_handles_pads_wider_than_the_image() {
        let idx: Vec<_> = (0..9)
            .map(|p| source_index(p, 3, 3, Padding::Reflect).unwrap())
            .collect();
        assert_eq!(idx, vec![1, 2, 1, 0, 1, 2, 1, 0, 1]);
        assert_eq!(source_index(0, 2, 1, Padding::Reflect), Some(0));
    }
}
