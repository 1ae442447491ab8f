//! Images as the Learner's [`Data`]: a CIFAR-10 binary folder, an image folder or the embedded
//! sample, loaded with the fit recipe's augmentation and progressive resizing, each rank of a
//! data-parallel run loading only its rows.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use onecycle::data::{Batch, Batches, Data, Shard};
use tch::{Device, Tensor};

use crate::augment::{Augment, FolderCrop, Normalize};
use crate::batch_augment::{BatchAugment, DeviceImages};
use crate::dataset::Dataset;
use crate::folder::ImageFiles;
use crate::loader::{Loader, LoaderOptions};
use crate::source::{self, Images};

/// The image side image folders are trained and validated at when `sizes` is empty (torchvision's
/// and fast.ai's ImageNet size).
pub const DEFAULT_FOLDER_SIZE: usize = 224;

/// Training and validation loaders as the Learner's [`Data`]. With progressive resizing the
/// training loader depends on the epoch ([`train_loader`](Self::train_loader)); batches of every
/// phase count the same items, so the steps per epoch never change.
pub struct ImageData {
    /// The training loader of the last (or only) size phase.
    pub train: Loader,
    /// The training loaders of the earlier size phases, each with the epoch it ends before.
    earlier: Vec<(usize, Loader)>,
    /// Validation, at the last phase's size.
    pub valid: Loader,
    /// Data parallelism: this process's rows of every training batch (see [`ImageData::set_shard`]).
    shard: Option<Shard>,
    /// The class names, by label.
    classes: Vec<String>,
    /// Training batches served from the device instead of the loader (see
    /// [`ImageData::augment_batches`]).
    on_device: Option<DeviceImages>,
}

impl ImageData {
    /// The images at `data` (a CIFAR-10 binary folder or an image folder; `None`: the embedded
    /// sample) with `phases` of progressive resizing (empty: none; image folders then use
    /// [`DEFAULT_FOLDER_SIZE`] for all `epochs`), and the number of classes.
    pub fn open(
        data: Option<&Path>,
        options: &DataOptions,
        phases: &[SizePhase],
        epochs: usize,
    ) -> Result<(ImageData, usize)> {
        // The error names the file at fault, training or validation.
        let images = source::open(data).context("reading the data set")?;
        let classes = images.classes().len();
        let data = match images {
            Images::Decoded(train, valid) => ImageData::decoded(train, valid, options, phases)?,
            Images::Files(train, valid) if phases.is_empty() => {
                let whole = [SizePhase {
                    size: DEFAULT_FOLDER_SIZE,
                    epochs: 0..epochs,
                }];
                ImageData::folders(train, valid, options, &whole)?
            }
            Images::Files(train, valid) => ImageData::folders(train, valid, options, phases)?,
        };
        Ok((data, classes))
    }

    /// In-memory images at their own size with the CIFAR augmentation (pad 4, crop, flip).
    pub fn new(train: Dataset, valid: Dataset, options: &DataOptions) -> Result<ImageData> {
        ImageData::decoded(train, valid, options, &[])
    }

    /// In-memory images trained at the size of each of `phases` (empty: their own size): resized
    /// (bilinear) to that height, then padded (4 pixels scaled to the size, reflect), randomly
    /// cropped and flipped; validated at the last phase's size.
    pub fn decoded(
        train: Dataset,
        valid: Dataset,
        options: &DataOptions,
        phases: &[SizePhase],
    ) -> Result<ImageData> {
        let (_, h, w) = train.shape();
        let classes = train.classes().to_vec();
        let (train, valid) = (Arc::new(train), Arc::new(valid));
        // Side `s` means height `s`, the width scaled to keep the aspect ratio.
        let resize = |s: usize| (s != h).then(|| (s, (s * w + h / 2) / h));
        let train_loader = |size: Option<usize>| -> Result<Loader> {
            let augment = options.augment.then(|| {
                let base = Augment::cifar();
                let pad = size.map_or(base.pad, |s| (base.pad * s + h / 2) / h);
                Augment { pad, ..base }
            });
            let opts = LoaderOptions {
                augment,
                resize: size.and_then(resize),
                ..train_options(options)
            };
            Ok(Loader::new(train.clone(), opts)?)
        };
        let last = phases.last().map(|p| p.size);
        let valid_opts = LoaderOptions {
            resize: last.and_then(resize),
            ..valid_options(options)
        };
        Ok(ImageData {
            train: train_loader(last)?,
            earlier: earlier(phases, |s| train_loader(Some(s)))?,
            valid: Loader::new(valid, valid_opts)?,
            shard: None,
            classes,
            on_device: None,
        })
    }

    /// Image folders with the ImageNet recipe, decoded on the loader's workers: training images
    /// are random-resized crops (scale 0.35–1) with flips at each phase's size (without
    /// augmentation: the validation crop), validation images are resized to `size / 0.875` and
    /// centre-cropped to the last phase's size; ImageNet normalisation. `phases` must not be empty.
    pub fn folders(
        train: ImageFiles,
        valid: ImageFiles,
        options: &DataOptions,
        phases: &[SizePhase],
    ) -> Result<ImageData> {
        let Some(last) = phases.last() else {
            bail!("image folders need at least one size phase");
        };
        let classes = train.classes().to_vec();
        let (train, valid) = (Arc::new(train), Arc::new(valid));
        let train_loader = |size: usize| -> Result<Loader> {
            let crop = if options.augment {
                FolderCrop::train(size)
            } else {
                FolderCrop::valid(size)
            };
            let opts = LoaderOptions {
                augment: None,
                normalize: Normalize::imagenet(),
                ..train_options(options)
            };
            Ok(Loader::from_files(train.clone(), crop, opts)?)
        };
        let valid_opts = LoaderOptions {
            normalize: Normalize::imagenet(),
            ..valid_options(options)
        };
        Ok(ImageData {
            train: train_loader(last.size)?,
            earlier: earlier(phases, train_loader)?,
            valid: Loader::from_files(valid, FolderCrop::valid(last.size), valid_opts)?,
            shard: None,
            classes,
            on_device: None,
        })
    }

    /// The class names, by label.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Data parallelism: train on `shard`'s rows of every global batch. Every rank loads (decodes,
    /// augments) only its rows, exactly as they are in the whole batch, so the ranks together
    /// train on the batches one process would.
    pub fn set_shard(&mut self, shard: Shard) {
        self.shard = Some(shard);
    }

    /// The first `n` training images (all, when there are fewer) as the model is validated on
    /// them: resized and normalised, not augmented; an (n, c, h, w) tensor on the CPU.
    pub fn train_inputs(&self, n: usize) -> Result<Tensor> {
        let count = n.min(self.train.items());
        let inputs = (0..count)
            .map(|i| Ok(self.valid.input(&self.train.picture(i)?)?))
            .collect::<Result<Vec<_>>>()?;
        if inputs.is_empty() {
            bail!("there are no training images");
        }
        Ok(Tensor::cat(&inputs, 0))
    }

    /// Trains on every training image held normalised in one tensor on `device`, shuffled by
    /// `seed` and augmented a whole batch at a time by `augment` (airbench's way: no per-image
    /// loader work); validation keeps its loader. For in-memory data sets without progressive
    /// resizing or sharding.
    pub fn augment_batches(
        &mut self,
        augment: BatchAugment,
        seed: u64,
        device: Device,
    ) -> Result<()> {
        let Some(dataset) = self.train.dataset() else {
            bail!("batch augmentation holds the images in memory: it needs a decoded data set such as CIFAR-10, not an image folder");
        };
        if !self.earlier.is_empty() {
            bail!("batch augmentation does not combine with progressive resizing (sizes)");
        }
        if self.shard.is_some() {
            bail!("batch augmentation does not combine with data-parallel training");
        }
        let n = self.train.items();
        let labels: Vec<i64> = dataset.labels()[..n].iter().map(|&l| l as i64).collect();
        let images = self.train_inputs(n)?;
        let batch = self.train.options().batch_size;
        let train = (images, Tensor::from_slice(&labels));
        self.on_device = Some(DeviceImages::new(
            train, None, batch, augment, seed, device,
        )?);
        Ok(())
    }

    /// The training loader of epoch `epoch` (the size phase it falls in).
    pub fn train_loader(&self, epoch: usize) -> &Loader {
        self.earlier
            .iter()
            .find(|(end, _)| epoch < *end)
            .map_or(&self.train, |(_, loader)| loader)
    }
}

/// The loaders of every phase but the last, each with the epoch it ends before.
fn earlier(
    phases: &[SizePhase],
    loader: impl Fn(usize) -> Result<Loader>,
) -> Result<Vec<(usize, Loader)>> {
    let n = phases.len().saturating_sub(1);
    phases[..n]
        .iter()
        .map(|p| Ok((p.epochs.end, loader(p.size)?)))
        .collect()
}

fn train_options(options: &DataOptions) -> LoaderOptions {
    LoaderOptions {
        workers: options.workers,
        limit: options.limit_train,
        seed: options.seed,
        drop_last: false,
        ..LoaderOptions::train(options.batch)
    }
}

fn valid_options(options: &DataOptions) -> LoaderOptions {
    LoaderOptions {
        workers: options.workers,
        limit: options.limit_valid,
        ..LoaderOptions::valid(options.batch)
    }
}

/// One phase of progressive resizing: training images of side `size` during `epochs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizePhase {
    pub size: usize,
    pub epochs: Range<usize>,
}

/// The loader settings of a fit.
#[derive(Debug, Clone)]
pub struct DataOptions {
    pub batch: usize,
    pub workers: usize,
    pub augment: bool,
    pub limit_train: Option<usize>,
    pub limit_valid: Option<usize>,
    pub seed: u64,
}

fn batches(epoch: crate::loader::Epoch) -> Batches {
    Box::new(epoch.map(|b| {
        let b = b?;
        Ok(Batch {
            inputs: b.images,
            targets: b.labels,
        })
    }))
}

impl Data for ImageData {
    fn train_batches(&self) -> usize {
        match &self.on_device {
            Some(images) => images.train_batches(),
            None => self.train.len(),
        }
    }
    fn train_items(&self) -> usize {
        self.train.items()
    }
    fn train_epoch(&self, epoch: usize, skip: usize) -> Result<Batches> {
        if let Some(images) = &self.on_device {
            return images.train_epoch(epoch, skip);
        }
        let loader = self.train_loader(epoch);
        Ok(batches(match self.shard {
            Some(shard) => loader.epoch_shard(epoch as u64, skip, shard),
            None => loader.epoch_from(epoch as u64, skip),
        }))
    }
    fn valid(&self) -> Result<Batches> {
        Ok(batches(self.valid.epoch(0)))
    }
    fn valid_share(&self, shard: Shard) -> Result<Batches> {
        let mine = batches(self.valid.epoch_shard(0, 0, shard));
        Ok(Box::new(
            mine.filter(|b| b.as_ref().map_or(true, |b| !b.is_empty())),
        ))
    }
    fn valid_batches(&self) -> usize {
        self.valid.len()
    }
}
