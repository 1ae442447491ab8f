//! Augmentation on raw `u8` CHW pixels, written as normalised `f32` straight into a batch buffer:
//! an optional bilinear resize (progressive resizing), pad (zero or reflect) + random crop to an
//! output size, horizontal flip, cutout, then per-channel normalisation through a 256-entry lookup
//! table. One code path serves every image size, and all randomness comes from the [`Rng`] the
//! caller passes, so results are reproducible. [`FolderCrop`] is the ImageNet-style recipe for
//! decoded image files of any size: random-resized crop + flip for training, resize + centre crop
//! for validation.

use image::imageops::{self, FilterType};
use image::RgbImage;

use onecycle::rng::Rng;

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

    /// ImageNet statistics (torchvision's and fast.ai's `imagenet_stats`).
    pub fn imagenet() -> Self {
        Normalize {
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        }
    }

    /// Maps `v/255` to `v/255` (the `ToTensor` range `0..=1`) without mean/std.
    pub fn unit(channels: usize) -> Self {
        Normalize {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        }
    }

    /// Checks the statistics against a channel count.
    pub fn check(&self, channels: usize) -> Result<(), AugmentError> {
        if self.mean.len() != channels || self.std.len() != channels {
            return Err(AugmentError::Channels {
                mean: self.mean.len(),
                std: self.std.len(),
                channels,
            });
        }
        if let Some(&s) = self.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(AugmentError::BadStd(s));
        }
        Ok(())
    }

    /// One lookup table per channel: `u8` value → normalised `f32`.
    pub(crate) fn table(&self) -> Vec<[f32; 256]> {
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
    #[error("resize target {0:?} has a zero side")]
    EmptyResize((usize, usize)),
    #[error("{0}")]
    Crop(String),
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
    /// Shape of the source images; differs from `input` when they are resized first.
    source: (usize, usize, usize),
    /// Shape the augmentation works on (after the resize).
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
        Transform::resizing(input, None, augment, normalize)
    }

    /// Like [`new`](Self::new), with every image first resized (bilinear) from `source = (c, h,
    /// w)` to `resize = (height, width)`; the augmentation then works at that size.
    pub fn resizing(
        source: (usize, usize, usize),
        resize: Option<(usize, usize)>,
        augment: Option<Augment>,
        normalize: &Normalize,
    ) -> Result<Self, AugmentError> {
        let input = match resize {
            Some((0, _) | (_, 0)) => return Err(AugmentError::EmptyResize(resize.unwrap())),
            Some((h, w)) => (source.0, h, w),
            None => source,
        };
        let (c, h, w) = input;
        normalize.check(c)?;
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
            source,
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
        let (sc, sh, sw) = self.source;
        assert_eq!(src.len(), sc * sh * sw, "source image size");
        let resized;
        let src = if self.source == self.input {
            src
        } else {
            resized = resize_bilinear(src, self.source, (h, w));
            &resized[..]
        };
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

/// Resizes a CHW `u8` image of shape `(c, h, w)` to `(out_h, out_w)` by bilinear interpolation
/// with half-pixel centres and no antialiasing: PyTorch's `interpolate(mode="bilinear",
/// align_corners=False)`, rounded to the nearest integer.
pub fn resize_bilinear(
    src: &[u8],
    (c, h, w): (usize, usize, usize),
    (out_h, out_w): (usize, usize),
) -> Vec<u8> {
    assert_eq!(src.len(), c * h * w, "source image size");
    // For each output coordinate: the two source indices and the weight of the second.
    let taps = |n_in: usize, n_out: usize| -> Vec<(usize, usize, f32)> {
        let scale = n_in as f64 / n_out as f64;
        (0..n_out)
            .map(|o| {
                let x = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (x.floor() as usize).min(n_in - 1);
                let i1 = (i0 + 1).min(n_in - 1);
                (i0, i1, (x - i0 as f64) as f32)
            })
            .collect()
    };
    let (ys, xs) = (taps(h, out_h), taps(w, out_w));
    let mut out = Vec::with_capacity(c * out_h * out_w);
    for plane in src.chunks_exact(h * w) {
        for &(y0, y1, fy) in &ys {
            let (r0, r1) = (&plane[y0 * w..(y0 + 1) * w], &plane[y1 * w..(y1 + 1) * w]);
            for &(x0, x1, fx) in &xs {
                let top = r0[x0] as f32 * (1.0 - fx) + r0[x1] as f32 * fx;
                let bottom = r1[x0] as f32 * (1.0 - fx) + r1[x1] as f32 * fx;
                out.push((top * (1.0 - fy) + bottom * fy).round() as u8);
            }
        }
    }
    out
}

/// How a decoded image file of any size becomes a square `size × size` image: the ImageNet
/// recipe (torchvision's `RandomResizedCrop` + `RandomHorizontalFlip` for training, `Resize` +
/// `CenterCrop` for validation), resampled with the `image` crate's antialiased bilinear filter.
#[derive(Clone, Debug, PartialEq)]
pub enum FolderCrop {
    /// A random crop covering `scale` of the area with aspect ratio in `ratio` (log-uniform),
    /// resized to `size`, flipped horizontally with probability ½ when `flip`.
    RandomResized {
        size: usize,
        scale: (f64, f64),
        ratio: (f64, f64),
        flip: bool,
    },
    /// Shorter side resized to `resize`, then the centred `size × size` crop.
    Centre { size: usize, resize: usize },
}

impl FolderCrop {
    /// fast.ai's DAWNBench training crop: scale (0.35, 1), ratio (3/4, 4/3), random flip.
    pub fn train(size: usize) -> Self {
        FolderCrop::RandomResized {
            size,
            scale: (0.35, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
            flip: true,
        }
    }

    /// The validation crop: shorter side to `size / 0.875` (256 for 224), centre crop `size`.
    pub fn valid(size: usize) -> Self {
        FolderCrop::Centre {
            size,
            resize: (size as f64 / 0.875).round() as usize,
        }
    }

    /// Side of the square output.
    pub fn size(&self) -> usize {
        match self {
            FolderCrop::RandomResized { size, .. } | FolderCrop::Centre { size, .. } => *size,
        }
    }

    /// Checks the parameters.
    pub fn check(&self) -> Result<(), AugmentError> {
        let bad = |m: String| Err(AugmentError::Crop(m));
        match *self {
            FolderCrop::RandomResized { size: 0, .. } | FolderCrop::Centre { size: 0, .. } => {
                bad("crop size must be at least 1".into())
            }
            FolderCrop::RandomResized { scale, ratio, .. } => {
                if !(scale.0 > 0.0 && scale.0 <= scale.1 && scale.1 <= 1.0) {
                    return bad(format!(
                        "crop scale must satisfy 0 < min ≤ max ≤ 1, got {scale:?}"
                    ));
                }
                if !(ratio.0 > 0.0 && ratio.0 <= ratio.1 && ratio.1.is_finite()) {
                    return bad(format!(
                        "crop ratio must satisfy 0 < min ≤ max, got {ratio:?}"
                    ));
                }
                Ok(())
            }
            FolderCrop::Centre { size, resize } if resize < size => bad(format!(
                "centre crop {size} is larger than the resized shorter side {resize}"
            )),
            FolderCrop::Centre { .. } => Ok(()),
        }
    }

    /// Writes `img` cropped, resized and (maybe) flipped into `out` (3·size·size `f32`, CHW),
    /// normalised through `table` (one lookup table per channel).
    pub(crate) fn apply(
        &self,
        img: &RgbImage,
        rng: &mut Rng,
        table: &[[f32; 256]],
        out: &mut [f32],
    ) {
        let size = self.size() as u32;
        let (w, h) = img.dimensions();
        let (picture, flip) = match *self {
            FolderCrop::RandomResized {
                scale, ratio, flip, ..
            } => {
                let (left, top, cw, ch) = random_resized_window(w, h, scale, ratio, rng);
                let crop = imageops::crop_imm(img, left, top, cw, ch).to_image();
                let picture = imageops::resize(&crop, size, size, FilterType::Triangle);
                (picture, flip && rng.coin())
            }
            FolderCrop::Centre { resize, .. } => {
                let resize = resize as u32;
                let (rw, rh) = if w <= h {
                    (resize, (h as u64 * resize as u64 / w as u64) as u32)
                } else {
                    ((w as u64 * resize as u64 / h as u64) as u32, resize)
                };
                let resized = imageops::resize(img, rw, rh, FilterType::Triangle);
                let top = ((rh - size) as f64 / 2.0).round() as u32;
                let left = ((rw - size) as f64 / 2.0).round() as u32;
                (
                    imageops::crop_imm(&resized, left, top, size, size).to_image(),
                    false,
                )
            }
        };
        let n = size as usize;
        assert_eq!(out.len(), 3 * n * n, "output buffer size");
        let raw = picture.as_raw();
        for (c, (plane, table)) in out.chunks_exact_mut(n * n).zip(table).enumerate() {
            for (y, row) in plane.chunks_exact_mut(n).enumerate() {
                for (x, o) in row.iter_mut().enumerate() {
                    let sx = if flip { n - 1 - x } else { x };
                    *o = table[raw[(y * n + sx) * 3 + c] as usize];
                }
            }
        }
    }
}

/// A uniform draw in `[0, 1)` with 53 random bits.
fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// torchvision's `RandomResizedCrop.get_params`: `(left, top, width, height)` of a window covering
/// a `scale` fraction of the area with log-uniform aspect ratio in `ratio`, ten tries, then the
/// whole image clamped to the ratio range, centred.
fn random_resized_window(
    w: u32,
    h: u32,
    scale: (f64, f64),
    ratio: (f64, f64),
    rng: &mut Rng,
) -> (u32, u32, u32, u32) {
    let area = w as f64 * h as f64;
    let (lo, hi) = (ratio.0.ln(), ratio.1.ln());
    for _ in 0..10 {
        let target = area * (scale.0 + (scale.1 - scale.0) * unit(rng));
        let aspect = (lo + (hi - lo) * unit(rng)).exp();
        let cw = (target * aspect).sqrt().round() as u32;
        let ch = (target / aspect).sqrt().round() as u32;
        if 0 < cw && cw <= w && 0 < ch && ch <= h {
            let top = rng.up_to((h - ch) as usize) as u32;
            let left = rng.up_to((w - cw) as usize) as u32;
            return (left, top, cw, ch);
        }
    }
    let in_ratio = w as f64 / h as f64;
    let (cw, ch) = if in_ratio < ratio.0 {
        (w, ((w as f64 / ratio.0).round() as u32).clamp(1, h))
    } else if in_ratio > ratio.1 {
        (((h as f64 * ratio.1).round() as u32).clamp(1, w), h)
    } else {
        (w, h)
    };
    ((w - cw) / 2, (h - ch) / 2, cw, ch)
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
    fn bilinear_resize_halves_by_averaging_and_keeps_a_flat_image_flat() {
        // 1×2×4 → 1×1×2: each output pixel averages a 2×2 block (half-pixel centres).
        let src = [0u8, 10, 100, 200, 20, 30, 50, 51];
        assert_eq!(resize_bilinear(&src, (1, 2, 4), (1, 2)), vec![15, 100]);
        // Upsampling a constant image, or keeping the size, changes nothing.
        assert_eq!(resize_bilinear(&[7; 12], (3, 2, 2), (3, 5)), vec![7; 45]);
        assert_eq!(resize_bilinear(&src, (1, 2, 4), (2, 4)), src.to_vec());
        // Upsampling 1×2 → 1×4 interpolates between the two pixels and clamps at the edges.
        assert_eq!(
            resize_bilinear(&[0, 100], (1, 1, 2), (1, 4)),
            vec![0, 25, 75, 100]
        );
    }

    #[test]
    fn a_resizing_transform_augments_at_the_new_size() {
        let a = Augment {
            pad: 2,
            ..Augment::cifar()
        };
        let t = Transform::resizing((3, 32, 32), Some((16, 16)), Some(a), &Normalize::cifar10())
            .unwrap();
        assert_eq!(t.output_shape(), (3, 16, 16));
        let mut out = vec![f32::NAN; t.output_len()];
        t.apply_random(&[90u8; 3 * 32 * 32], &mut Rng::from_keys(&[2]), &mut out);
        assert!(out.iter().all(|v| v.is_finite()));
        let plain =
            Transform::resizing((1, 4, 4), Some((2, 2)), None, &Normalize::identity(1)).unwrap();
        let mut out = vec![0.0; 4];
        let src: Vec<u8> = (0..16).map(|v| v * 10).collect();
        plain.apply(&src, &plain.draw(&mut Rng::from_keys(&[0])), &mut out);
        assert_eq!(out, vec![25.0, 45.0, 105.0, 125.0]);
        assert_eq!(
            Transform::resizing((1, 4, 4), Some((0, 2)), None, &Normalize::identity(1))
                .unwrap_err(),
            AugmentError::EmptyResize((0, 2))
        );
    }

    /// A w×h image whose red channel is the column and green channel the row.
    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 0]))
    }

    #[test]
    fn random_resized_windows_stay_inside_and_cover_the_scale_range() {
        let mut rng = Rng::from_keys(&[5]);
        let (scale, ratio) = ((0.35, 1.0), (3.0 / 4.0, 4.0 / 3.0));
        let mut areas = Vec::new();
        for _ in 0..500 {
            let (left, top, w, h) = random_resized_window(60, 40, scale, ratio, &mut rng);
            assert!(w > 0 && h > 0 && left + w <= 60 && top + h <= 40);
            areas.push((w * h) as f64 / 2400.0);
        }
        let (lo, hi) = areas
            .iter()
            .fold((1.0f64, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
        assert!(lo < 0.4 && hi > 0.8, "areas {lo}..{hi}");
        // An image far outside the ratio range falls back to the centred, ratio-clamped window.
        let (left, top, w, h) = random_resized_window(100, 10, (0.99, 1.0), ratio, &mut rng);
        assert_eq!((left, top, w, h), (43, 0, 13, 10));
    }

    #[test]
    fn folder_crops_give_size_squares_and_the_centre_crop_is_centred() {
        let table = Normalize::identity(3).table();
        let img = gradient(64, 48);
        let valid = FolderCrop::valid(32);
        assert_eq!(
            valid,
            FolderCrop::Centre {
                size: 32,
                resize: 37
            }
        );
        let mut out = vec![f32::NAN; 3 * 32 * 32];
        valid.apply(&img, &mut Rng::from_keys(&[0]), &table, &mut out);
        // Shorter side 48 → 37, width 64 → 49: the crop's centre column is the image's centre.
        let red_mid = (out[16] + out[15]) / 2.0;
        assert!((red_mid - 31.5).abs() < 1.5, "{red_mid}");
        let train = FolderCrop::train(24);
        let mut out = vec![f32::NAN; 3 * 24 * 24];
        let mut rng = Rng::from_keys(&[1]);
        let mut flipped = 0;
        for _ in 0..40 {
            train.apply(&img, &mut rng, &table, &mut out);
            assert!(out.iter().all(|v| v.is_finite()));
            flipped += usize::from(out[0] > out[23]);
        }
        assert!((5..35).contains(&flipped), "{flipped} of 40 flipped");
        assert!(FolderCrop::Centre { size: 8, resize: 4 }.check().is_err());
        assert!(FolderCrop::RandomResized {
            size: 8,
            scale: (0.5, 1.5),
            ratio: (1.0, 1.0),
            flip: false
        }
        .check()
        .is_err());
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
