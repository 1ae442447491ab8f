//! Training an image classifier from one config: data (the embedded sample by default), model,
//! schedule and optimizer, into a run folder (`config.toml`, `steps.csv`, `epochs.csv`,
//! checkpoints), resumable after a crash. `onecycle fit` is a thin shell over [`fit`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use onecycle::data::{Batch, Batches, Data};
use onecycle::history::RunLog;
use onecycle::learner::{cross_entropy, FitSummary, Learner, Position, TrainConfig};
use onecycle::metrics::accuracy;
use onecycle::optim::{OptKind, WdMode};
use onecycle::progress::Progress;
use schedule::Policy;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Kind};

use crate::dataset::Dataset;
use crate::loader::{Loader, LoaderOptions};
use crate::models::{self, ModelName};
use crate::source;

/// Training and validation loaders as the Learner's [`Data`].
pub struct ImageData {
    pub train: Loader,
    pub valid: Loader,
}

impl ImageData {
    pub fn new(train: Dataset, valid: Dataset, options: &DataOptions) -> Result<ImageData> {
        let train_opts = LoaderOptions {
            workers: options.workers,
            limit: options.limit_train,
            seed: options.seed,
            drop_last: false,
            augment: options.augment.then(crate::augment::Augment::cifar),
            ..LoaderOptions::train(options.batch)
        };
        let valid_opts = LoaderOptions {
            workers: options.workers,
            limit: options.limit_valid,
            ..LoaderOptions::valid(options.batch)
        };
        Ok(ImageData {
            train: Loader::new(Arc::new(train), train_opts)?,
            valid: Loader::new(Arc::new(valid), valid_opts)?,
        })
    }
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
        Ok(batches(self.train.epoch_from(epoch as u64, skip)))
    }
    fn valid(&self) -> Result<Batches> {
        Ok(batches(self.valid.epoch(0)))
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
    /// Keep weights and batches in channels-last memory order (faster convolutions on CPU).
    pub channels_last: bool,
    pub workers: usize,
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
            channels_last: true,
            workers: 1,
            tta: false,
            tta_beta: 0.25,
            seed: 0,
            schedule,
        }
    }

    /// The schedule over steps: epoch counts in `milestones`, `cycle_len` and step sizes become
    /// step counts.
    pub fn schedule_in_steps(&self, batches_per_epoch: usize) -> Policy {
        let nb = batches_per_epoch;
        let mut policy = self.schedule.clone();
        match &mut policy {
            Policy::Steps(p) => p.milestones.iter_mut().for_each(|m| *m *= nb),
            Policy::Sgdr(p) => p.cycle_len *= nb,
            Policy::Cyclic(p) => {
                p.step_size_up *= nb;
                if let Some(down) = p.step_size_down.as_mut() {
                    *down *= nb;
                }
            }
            _ => {}
        }
        policy
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
        Ok(())
    }
}

/// What a finished `fit` reports.
#[derive(Debug, Clone, Serialize)]
pub struct FitReport {
    pub run_dir: PathBuf,
    pub epochs: usize,
    pub steps: usize,
    pub seconds: f64,
    pub images_per_sec: f64,
    pub valid_loss: f64,
    pub accuracy: f64,
    pub tta_accuracy: Option<f64>,
    pub stopped: Option<String>,
}

/// A Learner for `config`, with its data, model and metrics.
pub fn learner(config: &FitConfig) -> Result<Learner<ImageData>> {
    config.validate()?;
    let (train, valid) =
        source::train_valid(config.data.as_deref()).context("reading the training data")?;
    let classes = train.classes().len() as i64;
    let options = DataOptions {
        batch: config.batch,
        workers: config.workers,
        augment: config.augment,
        limit_train: config.limit_train,
        limit_valid: config.limit_valid,
        seed: config.seed,
    };
    let data = ImageData::new(train, valid, &options)?;
    let mut learner = model_learner(config.model, classes, data, config, config.seed)?;
    if config.channels_last {
        learner.use_channels_last();
    }
    learner.add_metric(Box::new(accuracy()));
    Ok(learner)
}

/// A Learner for model `name` with `classes` outputs on any data, with the loss and optimizer
/// settings of `config`; weights initialised from `seed`.
pub fn model_learner<D: Data>(
    name: ModelName,
    classes: i64,
    data: D,
    config: &FitConfig,
    seed: u64,
) -> Result<Learner<D>> {
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = models::build(name, &vs.root(), classes);
    Learner::new(
        vs,
        Box::new(model),
        data,
        cross_entropy(config.label_smoothing),
        models::group_count(name),
        move |var| models::group_of(name, var),
        config.train_config(),
    )
}

/// Trains `config` into `run_dir` (created; `config.toml` written first).
pub fn fit(config: &FitConfig, run_dir: &Path, quiet: bool) -> Result<FitReport> {
    let mut learner = learner(config)?;
    // Refuse a bad schedule before the run folder exists.
    let nb = learner.data.train_batches();
    config
        .schedule_in_steps(nb)
        .build(config.epochs * nb)
        .context("the schedule's parameters")?;
    std::fs::create_dir_all(run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let toml = toml::to_string(config).context("writing config.toml")?;
    onecycle::checkpoint::write_atomic(&run_dir.join("config.toml"), toml.as_bytes())?;
    learner.add_callback(Box::new(RunLog::create(run_dir)?));
    run(learner, config, run_dir, Position::default(), quiet)
}

/// Continues the run in `run_dir` from its last checkpoint, with the config saved there.
pub fn resume(run_dir: &Path, quiet: bool) -> Result<FitReport> {
    let config = read_config(&run_dir.join("config.toml"))?;
    let mut learner = learner(&config)?;
    let at = learner.load_checkpoint(&run_dir.join("checkpoints").join("last.safetensors"))?;
    learner.add_callback(Box::new(RunLog::resume(run_dir, at.step, at.epoch)?));
    run(learner, &config, run_dir, at, quiet)
}

/// Reads a `config.toml` (a run folder's, or one written by hand with the same keys).
pub fn read_config(path: &Path) -> Result<FitConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid fit config", path.display()))
}

fn run(
    mut learner: Learner<ImageData>,
    config: &FitConfig,
    run_dir: &Path,
    at: Position,
    quiet: bool,
) -> Result<FitReport> {
    learner.add_callback(Box::new(Progress::new(quiet)));
    learner.checkpoint_to(run_dir);
    let policy = config.schedule_in_steps(learner.data.train_batches());
    let summary: FitSummary = learner.fit_from(config.epochs, &policy, at)?;
    onecycle::plot::run_charts(run_dir, "png").context("drawing the run's charts")?;
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
    Ok(FitReport {
        run_dir: run_dir.to_path_buf(),
        epochs: summary.epochs.len(),
        steps: summary.steps,
        seconds: summary.seconds,
        images_per_sec: summary.items as f64 / summary.seconds.max(1e-9),
        valid_loss,
        accuracy,
        tta_accuracy,
        stopped: summary.stopped,
    })
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
    let mut learner = learner(config)?;
    let found = learner.lr_find(&onecycle::lr_find::LrFindOptions::default())?;
    onecycle::lr_find::save_run(&found, run_dir, "lr_find", "range test")?;
    let s = found
        .suggest(rule)
        .context("the range test gave no usable curve; pass --max-lr")?;
    let why = format!(
        "max_lr {:.3e}: the {rule} suggestion of a {}-iteration range test ({}), see {}",
        s.lr,
        found.rows.len(),
        rule.explain(),
        run_dir.join("lr_find.png").display()
    );
    Ok((s.lr, why))
}
