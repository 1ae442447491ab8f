//! The fit config: everything a training run needs, saved as the run folder's `config.toml` so
//! that `onecycle fit --config runs/NAME/config.toml` repeats it and `--resume` continues it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use onecycle::amp::Precision;
use onecycle::device::DeviceSpec;
use onecycle::learner::TrainConfig;
use onecycle::lookahead::LookaheadConfig;
use onecycle::optim::{OptKind, WdMode};
use schedule::{OneCycleParams, Policy};
use serde::{Deserialize, Serialize};
use vision::models::ModelName;
use vision::{BatchAugment, DataOptions, SizePhase};

/// The largest image side `sizes` may ask for: a batch of 128 images of 1024² px is already
/// 1.6 GB of fp32 input; larger sizes are a typo far more often than a wish.
pub const MAX_SIZE: usize = 1024;

/// The most epochs a config may ask for (Smith's longest baselines take a few hundred).
pub const MAX_EPOCHS: usize = 100_000;

/// The peak learning rate of the default 1cycle, when neither a flag nor a config gives one.
pub const DEFAULT_MAX_LR: f64 = 0.4;

/// The settings a resumed run may change: where the data lives, where and on how many loader
/// threads it trains, and the test-time augmentation after training. Any other change would make
/// the rest of the run a different run from the one its folder records.
pub const RESUMABLE: [&str; 7] = [
    "data",
    "workers",
    "device",
    "cudnn_benchmark",
    "tta",
    "tta_beta",
    "tta_views",
];

/// Which views test-time augmentation averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TtaViews {
    /// The image and its mirror, blended by `tta_beta` (fastai's TTA).
    #[default]
    Flip,
    /// Six views: the image, its one-pixel shifts down-right and up-left, and their mirrors
    /// (airbench's; `tta_beta` unused, see [`crate::tta_blend`]).
    MirrorTranslate,
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
    /// Gradient accumulation: batches per optimizer step (the effective batch is
    /// `batch × accumulate`; the schedule counts optimizer steps).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub accumulate: usize,
    pub opt: Opt,
    /// Momentum (β1 for Adam) when the schedule does not cycle it.
    pub momentum: f64,
    pub nesterov: bool,
    pub wd: f64,
    /// Decoupled weight decay (fastai's `true_wd`; always on for AdamW).
    pub true_wd: bool,
    /// Skip weight decay on batch-norm and bias parameters.
    pub no_bn_wd: bool,
    /// BatchNorm biases step at this multiple of the LR, their weight decay divided by it.
    #[serde(default = "one_f64", skip_serializing_if = "is_one_f64")]
    pub bn_bias_lr_scale: f64,
    /// Pull the weights to their running average every few steps (airbench's lookahead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookahead: Option<LookaheadConfig>,
    /// The first layer group trains for this many epochs, then stays frozen (the speed-run
    /// net's whitening bias).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_group_epochs: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<f64>,
    pub label_smoothing: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_train: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_valid: Option<usize>,
    pub augment: bool,
    /// Augment whole training batches held on the device (translate, flip) instead of each
    /// image on the loader's workers; `augment` must then be false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_augment: Option<BatchAugment>,
    /// Progressive resizing: the training image side of each phase, in order; the last is also the
    /// validation size. Empty: no resizing (image folders then use [`vision::image_data::DEFAULT_FOLDER_SIZE`]).
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
    #[serde(default, skip_serializing_if = "is_default")]
    pub tta_views: TtaViews,
    pub seed: u64,
    pub schedule: Policy,
}

impl Default for FitConfig {
    /// `onecycle fit` with no flags: ResNet-20 on the embedded sample, 1cycle to [`DEFAULT_MAX_LR`].
    fn default() -> FitConfig {
        FitConfig::new(Policy::OneCycle(OneCycleParams {
            max_lr: DEFAULT_MAX_LR,
            ..OneCycleParams::default()
        }))
    }
}

impl FitConfig {
    /// The defaults of `onecycle fit` with this schedule: ResNet-20 on the embedded sample.
    pub fn new(schedule: Policy) -> FitConfig {
        FitConfig {
            data: None,
            model: ModelName::ResNet20,
            epochs: 3,
            batch: 128,
            accumulate: 1,
            opt: Opt::Sgd,
            momentum: 0.9,
            nesterov: false,
            wd: 5e-4,
            true_wd: false,
            no_bn_wd: false,
            bn_bias_lr_scale: 1.0,
            lookahead: None,
            first_group_epochs: None,
            clip: None,
            label_smoothing: 0.0,
            limit_train: None,
            limit_valid: None,
            augment: true,
            batch_augment: None,
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
            tta_views: TtaViews::Flip,
            seed: 0,
            schedule,
        }
    }

    /// The schedule over steps: epoch counts in `milestones`, `cycle_len` and step sizes become
    /// step counts.
    pub fn schedule_in_steps(&self, batches_per_epoch: usize) -> Policy {
        self.schedule.epochs_to_steps(batches_per_epoch)
    }

    /// The settings that differ from `before`, each as `key (old → new)` (`key` alone for
    /// tables such as the schedule), in key order.
    pub fn changes_from(&self, before: &FitConfig) -> Result<Vec<(String, String)>> {
        let (old, new) = (toml::Table::try_from(before)?, toml::Table::try_from(self)?);
        let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
        keys.sort();
        keys.dedup();
        let show = |v: Option<&toml::Value>| match v {
            None => "none".to_string(),
            Some(toml::Value::Table(_)) => String::new(),
            Some(v) => v.to_string(),
        };
        Ok(keys
            .into_iter()
            .filter(|k| old.get(*k) != new.get(*k))
            .map(|k| {
                let (a, b) = (show(old.get(k)), show(new.get(k)));
                let change = if a.is_empty() || b.is_empty() {
                    k.clone()
                } else {
                    format!("{k} ({a} → {b})")
                };
                (k.clone(), change)
            })
            .collect())
    }

    /// Builds the schedule over `epochs × batches_per_epoch` steps to check it. An error names
    /// what gave that many steps (`images` training images in batches of `batch`, `epochs`), and
    /// lengths counted in epochs are reported in epochs, as the user typed them.
    pub fn check_schedule(&self, batches_per_epoch: usize, images: usize) -> Result<()> {
        let nb = batches_per_epoch;
        let steps = self.epochs.saturating_mul(nb);
        let Err(in_steps) = self.schedule_in_steps(nb).build(steps) else {
            return Ok(());
        };
        if self.schedule.counts_epochs() {
            self.schedule.build(self.epochs).with_context(|| {
                format!(
                    "the {} schedule over {} epochs (its lengths count epochs)",
                    self.schedule.name(),
                    self.epochs
                )
            })?;
        }
        let per_step = match self.accumulate {
            1 => String::new(),
            n => format!(", {n} a step"),
        };
        Err(in_steps).with_context(|| {
            format!(
                "the {} schedule over {steps} steps ({images} training images in batches of {}{per_step} \
                 give {nb} per epoch, × {} epochs)",
                self.schedule.name(),
                self.batch,
                self.epochs
            )
        })
    }

    /// The optimizer settings the Learner takes.
    pub fn train_config(&self) -> TrainConfig {
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
            accumulate: self.accumulate,
            bn_bias_lr_scale: self.bn_bias_lr_scale,
            lookahead: self.lookahead,
            ..TrainConfig::default()
        }
    }

    /// Checks values that no library call would reject clearly.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            bail!("epochs must be at least 1, got 0");
        }
        if self.epochs > MAX_EPOCHS {
            bail!("epochs must be at most {MAX_EPOCHS}, got {}", self.epochs);
        }
        if self.batch == 0 {
            bail!("batch must be at least 1, got 0");
        }
        if self.accumulate == 0 {
            bail!("accumulate must be at least 1 batch per step, got 0");
        }
        if !(self.wd >= 0.0 && self.wd.is_finite()) {
            bail!("wd must be a finite number ≥ 0, got {}", self.wd);
        }
        if let Some(clip) = self.clip {
            if !(clip.is_finite() && clip > 0.0) {
                bail!("clip must be a finite number > 0, got {clip}");
            }
        }
        if self.nesterov && self.opt != Opt::Sgd {
            bail!(
                "nesterov is for SGD only, got opt {}; drop nesterov or use opt sgd",
                match self.opt {
                    Opt::Sgd => "sgd",
                    Opt::Adam => "adam",
                    Opt::Adamw => "adamw",
                }
            );
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
        if !(self.bn_bias_lr_scale.is_finite() && self.bn_bias_lr_scale > 0.0) {
            bail!(
                "bn_bias_lr_scale must be a finite number > 0, got {}",
                self.bn_bias_lr_scale
            );
        }
        if let Some(lookahead) = &self.lookahead {
            lookahead.validate()?;
        }
        if self.batch_augment.is_some() {
            if self.augment {
                bail!("batch_augment replaces the loader's augmentation: set augment = false");
            }
            if !self.sizes.is_empty() {
                bail!("batch_augment does not combine with progressive resizing (sizes)");
            }
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
        self.check_sizes()?;
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

    /// Every `sizes` value fits the model and stays below [`MAX_SIZE`].
    fn check_sizes(&self) -> Result<()> {
        let min = self.model.min_size().max(1);
        if let Some(&s) = self.sizes.iter().find(|&&s| s < min) {
            bail!(
                "sizes: {s} px is too small for {}, which needs images of at least {min} px",
                self.model
            );
        }
        if let Some(&s) = self.sizes.iter().find(|&&s| s > MAX_SIZE) {
            bail!("sizes: {s} px is above the {MAX_SIZE} px this recipe trains at");
        }
        Ok(())
    }

    /// The loader settings of this config.
    pub fn data_options(&self) -> DataOptions {
        DataOptions {
            batch: self.batch,
            workers: self.workers,
            augment: self.augment,
            limit_train: self.limit_train,
            limit_valid: self.limit_valid,
            seed: self.seed,
        }
    }
}

fn default_true() -> bool {
    true
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

fn one_f64() -> f64 {
    1.0
}

fn is_one_f64(x: &f64) -> bool {
    *x == 1.0
}

fn is_default<T: Default + PartialEq>(x: &T) -> bool {
    *x == T::default()
}

/// Reads a `config.toml` (a run folder's, or one written by hand with the same keys).
pub fn read_config(path: &Path) -> Result<FitConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_config(&text, &path.display().to_string())
}

/// Parses a fit config from TOML text; `origin` names it in the error. Keys the text leaves out
/// keep `onecycle fit`'s defaults (a missing `schedule` is the default 1cycle).
pub fn parse_config(text: &str, origin: &str) -> Result<FitConfig> {
    let table: toml::Table =
        toml::from_str(text).with_context(|| format!("{origin} is not a valid TOML file"))?;
    overlay(&FitConfig::default(), table)
        .with_context(|| format!("{origin} is not a valid fit config"))
}

/// `base` with each key of `table` in place of its own: a config file, a preset or an
/// experiment arm gives only what differs. A `schedule` table replaces the whole schedule.
pub fn overlay(base: &FitConfig, table: toml::Table) -> Result<FitConfig> {
    let mut merged = toml::Table::try_from(base).context("a fit config as TOML")?;
    merged.extend(table);
    Ok(toml::Value::Table(merged).try_into()?)
}
