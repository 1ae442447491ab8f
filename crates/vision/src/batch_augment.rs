//! Augmentation of whole batches already in a tensor on the training device (airbench's way, no
//! per-image loader work): random translation with reflect padding, and flips that are random or
//! *alternating* (each image flipped in every other epoch from a random start, so that any two
//! consecutive epochs show it both ways). Every choice is a pure function of `(seed, epoch, item)`,
//! so a batch is augmented alike whatever the batch size, device or resume point.
//! [`DeviceImages`] holds a data set as tensors on the device and serves shuffled, augmented
//! batches as the Learner's data.

use anyhow::{bail, Result};
use onecycle::data::{Batch, Batches, Data};
use onecycle::rng::Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// How training images are flipped horizontally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flip {
    None,
    /// Each image with probability ½ in every epoch.
    Random,
    /// Each image in every other epoch, starting flipped or not at random (airbench).
    Alternating,
}

/// Batch augmentation: translation by up to `translate` pixels each way (reflect padding), then
/// the flip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchAugment {
    pub translate: usize,
    pub flip: Flip,
}

/// Keys that keep the draws for different purposes apart.
const FLIP_KEY: u64 = 1;
const TRANSLATE_KEY: u64 = 2;
const ORDER_KEY: u64 = 3;

impl BatchAugment {
    /// Whether data-set item `item` is flipped in `epoch`.
    pub fn flipped(&self, seed: u64, epoch: usize, item: i64) -> bool {
        match self.flip {
            Flip::None => false,
            Flip::Random => Rng::from_keys(&[seed, FLIP_KEY, epoch as u64, item as u64]).coin(),
            Flip::Alternating => {
                Rng::from_keys(&[seed, FLIP_KEY, item as u64]).coin() ^ (epoch % 2 == 1)
            }
        }
    }

    /// The `(dy, dx)` shift of item `item` in `epoch`, each in `-translate..=translate`.
    pub fn shift(&self, seed: u64, epoch: usize, item: i64) -> (i64, i64) {
        let t = self.translate;
        let mut rng = Rng::from_keys(&[seed, TRANSLATE_KEY, epoch as u64, item as u64]);
        let (dy, dx) = (rng.up_to(2 * t), rng.up_to(2 * t));
        (dy as i64 - t as i64, dx as i64 - t as i64)
    }

    /// `images` (N, C, H, W, floating point), whose rows are the data set's items `items`,
    /// augmented for `epoch`. Images sharing a shift are cropped together from the padded batch.
    pub fn apply(&self, images: &Tensor, items: &[i64], epoch: usize, seed: u64) -> Result<Tensor> {
        let size = images.size();
        if size.len() != 4 || size[0] as usize != items.len() {
            bail!(
                "batch augmentation needs (N, C, H, W) images for {} items, got {size:?}",
                items.len()
            );
        }
        let (h, w, t) = (size[2], size[3], self.translate as i64);
        if t >= h.min(w) {
            bail!("a translation of {t} pixels needs images larger than {h}×{w}");
        }
        let device = images.device();
        let mut out = if t == 0 {
            images.shallow_clone()
        } else {
            let padded = images.f_reflection_pad2d([t, t, t, t])?;
            let mut out = images.f_empty_like()?;
            let mut groups: Vec<((i64, i64), Vec<i64>)> = Vec::new();
            for (row, &item) in items.iter().enumerate() {
                let s = self.shift(seed, epoch, item);
                match groups.iter_mut().find(|(k, _)| *k == s) {
                    Some((_, rows)) => rows.push(row as i64),
                    None => groups.push((s, vec![row as i64])),
                }
            }
            for ((dy, dx), rows) in groups {
                let index = Tensor::from_slice(&rows).to_device(device);
                let crop = padded
                    .f_index_select(0, &index)?
                    .f_narrow(2, t + dy, h)?
                    .f_narrow(3, t + dx, w)?;
                let _ = out.f_index_copy_(0, &index, &crop)?;
            }
            out
        };
        let rows: Vec<i64> = (0..items.len() as i64)
            .filter(|&r| self.flipped(seed, epoch, items[r as usize]))
            .collect();
        if !rows.is_empty() {
            let index = Tensor::from_slice(&rows).to_device(device);
            let flipped = out.f_index_select(0, &index)?.f_flip([3])?;
            if t == 0 {
                out = out.copy();
            }
            let _ = out.f_index_copy_(0, &index, &flipped)?;
        }
        Ok(out)
    }
}

/// A data set held as tensors on the training device: shuffled every epoch, each training batch
/// augmented as a whole; validation in order, unaugmented.
pub struct DeviceImages {
    /// Training images (N, C, H, W) as the model takes them (normalised floats) and labels (N).
    pub train: (Tensor, Tensor),
    pub valid: Option<(Tensor, Tensor)>,
    pub batch_size: usize,
    pub augment: BatchAugment,
    pub seed: u64,
}

impl DeviceImages {
    /// Moves `train` and `valid` to `device` (images as `Float`).
    pub fn new(
        train: (Tensor, Tensor),
        valid: Option<(Tensor, Tensor)>,
        batch_size: usize,
        augment: BatchAugment,
        seed: u64,
        device: Device,
    ) -> Result<DeviceImages> {
        if batch_size == 0 {
            bail!("the batch size must be at least 1");
        }
        let put = |(x, y): (Tensor, Tensor)| -> Result<(Tensor, Tensor)> {
            Ok((
                x.f_to_device(device)?.f_to_kind(Kind::Float)?,
                y.f_to_device(device)?,
            ))
        };
        Ok(DeviceImages {
            train: put(train)?,
            valid: valid.map(put).transpose()?,
            batch_size,
            augment,
            seed,
        })
    }

    fn rows(t: &Tensor) -> usize {
        t.size()[0] as usize
    }

    /// The training items of `epoch` in the order they are served.
    pub fn order(&self, epoch: usize) -> Vec<i64> {
        let mut order: Vec<i64> = (0..Self::rows(&self.train.0) as i64).collect();
        Rng::from_keys(&[self.seed, ORDER_KEY, epoch as u64]).shuffle(&mut order);
        order
    }
}

impl Data for DeviceImages {
    fn train_batches(&self) -> usize {
        Self::rows(&self.train.0).div_ceil(self.batch_size)
    }

    fn train_items(&self) -> usize {
        Self::rows(&self.train.0)
    }

    fn train_epoch(&self, epoch: usize, skip: usize) -> Result<Batches> {
        let (x, y) = (self.train.0.shallow_clone(), self.train.1.shallow_clone());
        let (augment, seed) = (self.augment, self.seed);
        let chunks: Vec<Vec<i64>> = self
            .order(epoch)
            .chunks(self.batch_size)
            .skip(skip)
            .map(<[i64]>::to_vec)
            .collect();
        Ok(Box::new(chunks.into_iter().map(move |items| {
            let index = Tensor::from_slice(&items).to_device(x.device());
            let images = x.f_index_select(0, &index)?;
            Ok(Batch {
                inputs: augment.apply(&images, &items, epoch, seed)?,
                targets: y.f_index_select(0, &index)?,
            })
        })))
    }

    fn valid(&self) -> Result<Batches> {
        let Some((x, y)) = &self.valid else {
            return Ok(Box::new(std::iter::empty()));
        };
        let n = Self::rows(x) as i64;
        let (x, y, bs) = (x.shallow_clone(), y.shallow_clone(), self.batch_size as i64);
        Ok(Box::new((0..n).step_by(bs as usize).map(move |start| {
            let len = bs.min(n - start);
            Ok(Batch {
                inputs: x.f_narrow(0, start, len)?,
                targets: y.f_narrow(0, start, len)?,
            })
        })))
    }

    fn valid_batches(&self) -> usize {
        self.valid
            .as_ref()
            .map_or(0, |(x, _)| Self::rows(x).div_ceil(self.batch_size))
    }
}
