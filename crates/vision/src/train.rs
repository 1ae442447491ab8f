//! Training an image classifier from one config: data (the embedded sample by default), model,
//! schedule and optimizer, into a run folder (`config.toml`, `steps.csv`, `epochs.csv`,
//! checkpoints), resumable after a crash. `onecycle fit` is a thin shell over [`fit`].

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use onecycle::amp::Precision;
use onecycle::callbacks::Checkpointer;
use onecycle::checkpoint::Position;
use onecycle::data::Shard;
use onecycle::data::{Batch, Batches, Data};
use onecycle::device::DeviceSpec;
use onecycle::dist::{self, Ddp, ProcessGroup};
use onecycle::history::RunLog;
use onecycle::learner::{cross_entropy, FitSummary, Learner, TrainConfig};
use onecycle::metrics::accuracy;
use onecycle::optim::{OptKind, WdMode};
use onecycle::progress::Progress;
use record::run_dir::LR_FIND;
use record::RunDir;
use schedule::Policy;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind};

use crate::augment::{Augment, FolderCrop, Normalize};
use crate::dataset::Dataset;
use crate::folder::ImageFiles;
use crate::loader::{Loader, LoaderOptions};
use crate::models::{self, ModelName};
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
}

impl ImageData {
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
        })
    }

    /// Data parallelism: train on `shard`'s rows of every global batch. Every rank loads (decodes,
    /// augments) only its rows, exactly as they are in the whole batch, so the ranks together
    /// train on the batches one process would.
    pub fn set_shard(&mut self, shard: Shard) {
        self.shard = Some(shard);
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
        self.train.len()
    }
    fn train_items(&self) -> usize {
        self.train.items()
    }
    fn train_epoch(&self, epoch: usize, skip: usize) -> Result<Batches> {
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

/// Which update rule `fit` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Opt {
    #[default]
    Sgd,
    Adam,
    Adamw,
}

/// Everything a training run needs; saved as the run folder's `config.toml`, so that
/// `onecycle fit --config runs/NAME/config.toml` repeats it. Schedule lengths given in steps by
/// `onecycle schedule` (milestones, cycle_len, step sizes) count **epochs** here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FitConfig {
    /// CIFAR-10 binary folder or image folder; absent: the embedded CIFAR-10 sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    pub model: ModelName,
    pub epochs: usize,
    pub batch: usize,
    pub opt: Opt,
    /// Momentum (β1 for Adam) when the schedule does not cycle it.
    pub momentum: f64,
    pub nesterov: bool,
    pub wd: f64,
    /// Decoupled weight decay (fastai's `true_wd`; always on for AdamW).
    pub true_wd: bool,
    /// Skip weight decay on batch-norm and bias parameters.
    pub no_bn_wd: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<f64>,
    pub label_smoothing: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_train: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_valid: Option<usize>,
    pub augment: bool,
    /// Progressive resizing: the training image side of each phase, in order; the last is also the
    /// validation size. Empty: no resizing (image folders then use [`DEFAULT_FOLDER_SIZE`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<usize>,
    /// The fraction of the epochs each `sizes` phase takes (summing to 1); empty: equal shares.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub size_fractions: Vec<f64>,
    /// Keep weights and batches in channels-last memory order (faster convolutions on CPU).
    pub channels_last: bool,
    pub workers: usize,
    /// `auto` (a GPU when CUDA is available), `cpu`, `cuda` or `cuda:N`.
    #[serde(default)]
    pub device: DeviceSpec,
    /// Forward pass in `fp32`, `bf16` or `fp16` (autocast; fp16 with dynamic loss scaling).
    #[serde(default)]
    pub precision: Precision,
    /// cuDNN's benchmark mode on a GPU (picks the fastest convolution algorithms).
    #[serde(default = "default_true")]
    pub cudnn_benchmark: bool,
    /// Data parallelism: batch-norm statistics of the global batch (synchronised across ranks).
    #[serde(default)]
    pub sync_bn: bool,
    /// Test-time augmentation: also report accuracy averaged over flips, blended by `tta_beta`.
    pub tta: bool,
    pub tta_beta: f64,
    pub seed: u64,
    pub schedule: Policy,
}

impl FitConfig {
    /// The defaults of `onecycle fit`: ResNet-20 on the embedded sample, 1cycle to 0.8.
    pub fn new(schedule: Policy) -> FitConfig {
        FitConfig {
            data: None,
            model: ModelName::ResNet20,
            epochs: 3,
            batch: 128,
            opt: Opt::Sgd,
            momentum: 0.9,
            nesterov: false,
            wd: 5e-4,
            true_wd: false,
            no_bn_wd: false,
            clip: None,
            label_smoothing: 0.0,
            limit_train: None,
            limit_valid: None,
            augment: true,
            sizes: Vec::new(),
            size_fractions: Vec::new(),
            channels_last: true,
            workers: 1,
            device: DeviceSpec::Auto,
            precision: Precision::Fp32,
            cudnn_benchmark: true,
            sync_bn: false,
            tta: false,
            tta_beta: 0.25,
            seed: 0,
            schedule,
        }
    }

    /// The schedule over steps: epoch counts in `milestones`, `cycle_len` and step sizes become
    /// step counts.
    pub fn schedule_in_steps(&self, batches_per_epoch: usize) -> Policy {
        self.schedule.epochs_to_steps(batches_per_epoch)
    }

    fn train_config(&self) -> TrainConfig {
        let opt = match self.opt {
            Opt::Sgd => OptKind::Sgd {
                nesterov: self.nesterov,
            },
            Opt::Adam | Opt::Adamw => OptKind::adam(),
        };
        let decoupled = self.true_wd || self.opt == Opt::Adamw;
        TrainConfig {
            opt,
            wd: self.wd,
            wd_mode: if decoupled {
                WdMode::Decoupled
            } else {
                WdMode::L2
            },
            bn_wd: !self.no_bn_wd,
            momentum: self.momentum,
            clip: self.clip,
            ..TrainConfig::default()
        }
    }

    /// Checks values that no library call would reject clearly.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            bail!("epochs must be at least 1, got 0");
        }
        if self.batch == 0 {
            bail!("batch must be at least 1, got 0");
        }
        if !(self.wd >= 0.0 && self.wd.is_finite()) {
            bail!("wd must be a finite number ≥ 0, got {}", self.wd);
        }
        if !(0.0..1.0).contains(&self.momentum) {
            bail!("momentum must be in [0, 1), got {}", self.momentum);
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            bail!(
                "label_smoothing must be in [0, 1), got {}",
                self.label_smoothing
            );
        }
        if !(0.0..=1.0).contains(&self.tta_beta) {
            bail!("tta_beta must be in [0, 1], got {}", self.tta_beta);
        }
        if self.limit_train == Some(0) || self.limit_valid == Some(0) {
            bail!("limits must be at least 1");
        }
        self.size_phases()?;
        Ok(())
    }

    /// The progressive-resizing phases: `sizes` over whole epochs, phase `k` taking
    /// `round(size_fractions[k] · epochs)` epochs and the last one the rest. Empty without `sizes`.
    pub fn size_phases(&self) -> Result<Vec<SizePhase>> {
        let (sizes, fractions) = (&self.sizes, &self.size_fractions);
        if sizes.is_empty() {
            if !fractions.is_empty() {
                bail!("size_fractions needs sizes (one fraction per size)");
            }
            return Ok(Vec::new());
        }
        if let Some(k) = sizes.iter().position(|&s| s == 0) {
            bail!("sizes must be positive, got 0 at position {k}");
        }
        let fractions = if fractions.is_empty() {
            vec![1.0 / sizes.len() as f64; sizes.len()]
        } else {
            fractions.clone()
        };
        if fractions.len() != sizes.len() {
            bail!(
                "size_fractions has {} values but sizes has {}; give one fraction per size",
                fractions.len(),
                sizes.len()
            );
        }
        if let Some(f) = fractions.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
            bail!("size_fractions must be positive, got {f}");
        }
        let sum: f64 = fractions.iter().sum();
        if (sum - 1.0).abs() > 1e-6 {
            bail!("size_fractions must sum to 1, got {sum}");
        }
        let mut phases = Vec::with_capacity(sizes.len());
        let mut start = 0;
        for (k, (&size, f)) in sizes.iter().zip(&fractions).enumerate() {
            let end = if k + 1 == sizes.len() {
                self.epochs
            } else {
                (start + (f * self.epochs as f64).round() as usize).min(self.epochs)
            };
            if end <= start {
                bail!(
                    "sizes: phase {k} (size {size}) gets no epoch of the {}; every phase needs at \
                     least one (use more epochs, fewer sizes or other size_fractions)",
                    self.epochs
                );
            }
            phases.push(SizePhase {
                size,
                epochs: start..end,
            });
            start = end;
        }
        Ok(phases)
    }
}

/// What a finished `fit` reports: the run folder's `summary.json`, one type for writing it and
/// for reading it back (reports, experiments).
pub type FitReport = record::Summary;

/// A Learner for `config`, with its data, model and metrics.
pub fn learner(config: &FitConfig) -> Result<Learner<ImageData>> {
    config.validate()?;
    let images = source::open(config.data.as_deref()).context("reading the training data")?;
    let classes = images.classes().len() as i64;
    let options = DataOptions {
        batch: config.batch,
        workers: config.workers,
        augment: config.augment,
        limit_train: config.limit_train,
        limit_valid: config.limit_valid,
        seed: config.seed,
    };
    let phases = config.size_phases()?;
    let data = match images {
        Images::Decoded(train, valid) => ImageData::decoded(train, valid, &options, &phases)?,
        Images::Files(train, valid) if phases.is_empty() => {
            let whole = [SizePhase {
                size: DEFAULT_FOLDER_SIZE,
                epochs: 0..config.epochs,
            }];
            ImageData::folders(train, valid, &options, &whole)?
        }
        Images::Files(train, valid) => ImageData::folders(train, valid, &options, &phases)?,
    };
    let mut learner = model_learner(config.model, classes, data, config, config.seed)?;
    if config.channels_last {
        learner.use_channels_last();
    }
    learner.add_metric(Box::new(accuracy()));
    Ok(learner)
}

fn default_true() -> bool {
    true
}

/// A Learner for model `name` with `classes` outputs on any data, with the loss, optimizer,
/// device and precision settings of `config`; weights initialised from `seed` (on the CPU, then
/// moved, so that every device starts from the same weights).
pub fn model_learner<D: Data>(
    name: ModelName,
    classes: i64,
    data: D,
    config: &FitConfig,
    seed: u64,
) -> Result<Learner<D>> {
    // Before the first seeding: libtorch looks for CUDA once (see onecycle::device).
    let device = config.device.resolve()?;
    if device.is_cuda() {
        onecycle::device::set_cudnn_benchmark(config.cudnn_benchmark);
    }
    // libtorch's RNG is global: hold it from seeding to the last initialised weight, so that
    // models built on other threads at the same time cannot change these weights.
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let (mut vs, model) = {
        let _rng = INIT.lock().unwrap_or_else(|e| e.into_inner());
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(Device::Cpu);
        let model = models::build(name, &vs.root(), classes);
        (vs, model)
    };
    if device != Device::Cpu {
        vs.set_device(device);
    }
    Learner::builder(vs, model, data)
        .loss(cross_entropy(config.label_smoothing))
        .groups(models::group_count(name), move |var| {
            models::group_of(name, var)
        })
        .config(config.train_config())
        .precision(config.precision)
        .build()
}

/// Trains `config` into `run_dir` (created; `config.toml` written first).
pub fn fit(config: &FitConfig, run_dir: &Path, quiet: bool) -> Result<FitReport> {
    fit_learner(learner(config)?, config, run_dir, quiet)
}

/// [`fit`] with a Learner already built for `config`.
fn fit_learner(
    mut learner: Learner<ImageData>,
    config: &FitConfig,
    run_dir: &Path,
    quiet: bool,
) -> Result<FitReport> {
    // Refuse a bad schedule before the run folder exists.
    let nb = learner.data().train_batches();
    config
        .schedule_in_steps(nb)
        .build(config.epochs * nb)
        .context("the schedule's parameters")?;
    std::fs::create_dir_all(run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let toml = toml::to_string(config).context("writing config.toml")?;
    record::write_atomic(&RunDir::new(run_dir).config(), toml.as_bytes())?;
    let fp16 = config.precision == Precision::Fp16;
    learner.add_callback(Box::new(Checkpointer::new(run_dir)));
    learner.add_callback(Box::new(RunLog::create_with(run_dir, fp16)?));
    run(learner, config, run_dir, Position::default(), quiet)
}

/// Continues the run in `run_dir` from its last checkpoint, with the config saved there.
pub fn resume(run_dir: &Path, quiet: bool) -> Result<FitReport> {
    let folder = RunDir::new(run_dir);
    let config = read_config(&folder.config())?;
    let mut learner = learner(&config)?;
    let at = learner.load_checkpoint(&folder.checkpoint())?;
    learner.add_callback(Box::new(Checkpointer::new(run_dir)));
    learner.add_callback(Box::new(RunLog::resume(run_dir, at.step, at.epoch)?));
    run(learner, &config, run_dir, at, quiet)
}

/// Reads a `config.toml` (a run folder's, or one written by hand with the same keys).
pub fn read_config(path: &Path) -> Result<FitConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_config(&text, &path.display().to_string())
}

/// Parses a fit config from TOML text; `origin` names it in the error.
pub fn parse_config(text: &str, origin: &str) -> Result<FitConfig> {
    toml::from_str(text).with_context(|| format!("{origin} is not a valid fit config"))
}

fn run(
    mut learner: Learner<ImageData>,
    config: &FitConfig,
    run_dir: &Path,
    at: Position,
    quiet: bool,
) -> Result<FitReport> {
    learner.add_callback(Box::new(Progress::new(quiet)));
    let policy = config.schedule_in_steps(learner.data().train_batches());
    let summary: FitSummary = learner.fit_from(config.epochs, &policy, at)?;
    use report::RunChart;
    report::run_charts(run_dir, "png", &[RunChart::Schedule, RunChart::Training])
        .context("drawing the run's charts")?;
    let (valid_loss, metrics) = match summary.epochs.last() {
        Some(e) => (e.valid_loss, e.metrics.clone()),
        None => learner.validate()?,
    };
    let accuracy = metrics
        .iter()
        .find(|(n, _)| n == "accuracy")
        .map_or(f64::NAN, |m| m.1);
    let tta_accuracy = if config.tta {
        Some(tta_accuracy(&learner, config.tta_beta)?)
    } else {
        None
    };
    let report = FitReport {
        run_dir: run_dir.to_path_buf(),
        epochs: summary.epochs.len(),
        steps: summary.steps,
        seconds: summary.seconds,
        images_per_sec: summary.items as f64 / summary.seconds.max(1e-9),
        valid_loss,
        accuracy,
        tta_accuracy,
        stopped: summary.stopped,
    };
    // summary.json (images/s, TTA accuracy) feeds report.html alongside the CSVs.
    report.write(&RunDir::new(run_dir).summary())?;
    report::write_run_report(run_dir).context("writing the run's report.html")?;
    Ok(report)
}

/// Accuracy of `beta`·plain + (1 − beta)·(mean over the horizontally flipped image) predictions
/// — fastai's TTA blend with flips as the augmentation.
pub fn tta_accuracy(learner: &Learner<ImageData>, beta: f64) -> Result<f64> {
    let (plain, targets) = learner.predict_valid(|x| x.shallow_clone())?;
    let (flipped, _) = learner.predict_valid(|x| x.flip([3]))?;
    let blended = plain * beta + flipped * (1.0 - beta);
    let hits = blended
        .argmax(-1, false)
        .eq_tensor(&targets)
        .to_kind(Kind::Float);
    Ok(hits.mean(Kind::Float).double_value(&[]))
}

/// The LR that a range test on `config`'s model and data suggests by `rule` (fastai's defaults:
/// 1e-7 to 10 over 100 iterations, at the config's weight decay), with a sentence saying why;
/// `lr_find.csv` and `lr_find.png` go to `run_dir`. For `onecycle fit --max-lr auto`.
pub fn suggest_max_lr(
    config: &FitConfig,
    rule: schedule::Rule,
    run_dir: &Path,
) -> Result<(f64, String)> {
    suggest_with(learner(config)?, rule, run_dir, true)
}

/// [`suggest_max_lr`] with a Learner already built; the range test is saved when `save` is set.
fn suggest_with(
    mut learner: Learner<ImageData>,
    rule: schedule::Rule,
    run_dir: &Path,
    save: bool,
) -> Result<(f64, String)> {
    let found = learner.lr_find(&onecycle::lr_find::LrFindOptions::default())?;
    if save {
        report::lr_find::save_run(&found, run_dir, LR_FIND, "range test")?;
    }
    let s = found
        .suggest(rule)
        .context("the range test gave no usable curve; pass --max-lr")?;
    let why = format!(
        "max_lr {:.3e}: the {rule} suggestion of a {}-iteration range test ({}), see {}",
        s.lr,
        found.rows.len(),
        rule.explain(),
        RunDir::new(run_dir).lr_find_png().display()
    );
    Ok((s.lr, why))
}

/// Makes `learner` (built for `config`) train data-parallel in `group` (see [`onecycle::dist`]):
/// each rank trains on its rows of every global batch of `config.batch`, starting from rank 0's
/// weights, with the loss and gradients averaged over ranks every step.
pub fn data_parallel(
    learner: &mut Learner<ImageData>,
    config: &FitConfig,
    group: Rc<ProcessGroup>,
) -> Result<()> {
    let world = group.world_size();
    let items = learner.data().train.items();
    let last = items % config.batch;
    if config.batch < world || (last != 0 && last < world) {
        bail!(
            "{world} processes need at least {world} images in every global batch: batch {} over {items} training images leaves a last batch of {}",
            config.batch,
            if config.batch < world { config.batch } else { last }
        );
    }
    learner.data_mut().set_shard(Shard {
        rank: group.rank(),
        world,
    });
    let ddp = Ddp::new(group, learner.var_store(), config.sync_bn)?;
    learner.set_strategy(ddp);
    Ok(())
}

/// `config` as this rank of `group` trains it: on GPUs, each rank on its own
/// ([`dist::local_gpu`]); on the CPU, unchanged.
pub fn rank_config(config: &FitConfig, group: &ProcessGroup) -> Result<FitConfig> {
    let mut config = config.clone();
    if config.device.resolve()?.is_cuda() {
        config.device = DeviceSpec::Cuda(dist::local_gpu(group.rank())?);
    }
    Ok(config)
}

/// Data-parallel [`fit`]: every rank of `group` trains its shard of each global batch; rank 0
/// writes the run folder and returns the report, the others train silently and return `None`.
pub fn fit_parallel(
    config: &FitConfig,
    run_dir: &Path,
    quiet: bool,
    group: Rc<ProcessGroup>,
) -> Result<Option<FitReport>> {
    let mut learner = learner(&rank_config(config, &group)?)?;
    data_parallel(&mut learner, config, group.clone())?;
    if group.rank() == 0 {
        return fit_learner(learner, config, run_dir, quiet).map(Some);
    }
    let policy = config.schedule_in_steps(learner.data().train_batches());
    learner.fit_from(config.epochs, &policy, Position::default())?;
    Ok(None)
}

/// Data-parallel [`resume`]: every rank reads the checkpoint in `run_dir` (a folder all of them
/// can read); rank 0 carries on writing the run folder.
pub fn resume_parallel(
    run_dir: &Path,
    quiet: bool,
    group: Rc<ProcessGroup>,
) -> Result<Option<FitReport>> {
    let folder = RunDir::new(run_dir);
    let config = read_config(&folder.config())?;
    let mut learner = learner(&rank_config(&config, &group)?)?;
    let at = learner.load_checkpoint(&folder.checkpoint())?;
    data_parallel(&mut learner, &config, group.clone())?;
    if group.rank() == 0 {
        learner.add_callback(Box::new(Checkpointer::new(run_dir)));
        learner.add_callback(Box::new(RunLog::resume(run_dir, at.step, at.epoch)?));
        return run(learner, &config, run_dir, at, quiet).map(Some);
    }
    let policy = config.schedule_in_steps(learner.data().train_batches());
    learner.fit_from(config.epochs, &policy, at)?;
    Ok(None)
}

/// Data-parallel [`suggest_max_lr`]: every rank runs the range test (the losses, and so the stop
/// step and the suggestion, are the same on all ranks); rank 0 saves it.
pub fn suggest_max_lr_parallel(
    config: &FitConfig,
    rule: schedule::Rule,
    run_dir: &Path,
    group: Rc<ProcessGroup>,
) -> Result<(f64, String)> {
    let mut learner = learner(&rank_config(config, &group)?)?;
    data_parallel(&mut learner, config, group.clone())?;
    suggest_with(learner, rule, run_dir, group.rank() == 0)
}
