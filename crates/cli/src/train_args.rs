//! The data, model and optimizer flags that `fit` and `lr-find` share, applied to a
//! [`FitConfig`] on top of its values.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use onecycle::amp::Precision;
use onecycle::device::DeviceSpec;
use recipe::{FitConfig, Opt};
use vision::models::ModelName;

#[derive(Debug, Clone, Default, Args)]
pub struct TrainArgs {
    /// CIFAR-10 binary folder or image folder (train/ + valid/) [default: the embedded sample]
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Model: resnet20, resnet32, resnet44, resnet56, resnet110, resnet9, wrn22, small-cnn,
    /// resnet50, speedrun [default: resnet20]
    #[arg(long)]
    pub model: Option<ModelName>,
    /// Images per batch [default: 128]
    #[arg(long)]
    pub batch: Option<usize>,
    /// Gradient accumulation: batches per optimizer step (effective batch = batch × N; the
    /// schedule and the range test count optimizer steps) [default: 1]
    #[arg(long, value_name = "N")]
    pub accumulate: Option<usize>,
    /// Optimizer [default: sgd]
    #[arg(long, value_enum)]
    pub opt: Option<OptName>,
    /// Decoupled weight decay (fastai's true_wd; AdamW always decouples)
    #[arg(long)]
    pub true_wd: bool,
    /// No weight decay on batch-norm and bias parameters
    #[arg(long)]
    pub no_bn_wd: bool,
    /// Nesterov momentum (sgd)
    #[arg(long)]
    pub nesterov: bool,
    /// Train on the first N training images only
    #[arg(long, value_name = "N")]
    pub limit_train: Option<usize>,
    /// Validate on the first N validation images only
    #[arg(long, value_name = "N")]
    pub limit_valid: Option<usize>,
    /// Train without augmentation (pad-crop and flip are on by default)
    #[arg(long)]
    pub no_augment: bool,
    /// Plain NCHW memory order instead of channels-last
    #[arg(long)]
    pub no_channels_last: bool,
    /// Loader worker threads [default: 1]
    #[arg(long)]
    pub workers: Option<usize>,
    /// Seed of the weights, the data order and the augmentation [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where to train: auto (a GPU if CUDA is available), cpu, cuda or cuda:N [default: auto]
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<DeviceSpec>,
    /// Forward-pass arithmetic: fp32, bf16 or fp16 (autocast; fp16 with dynamic loss scaling)
    /// [default: fp32]
    #[arg(long, value_name = "PRECISION")]
    pub precision: Option<Precision>,
    /// Turn off cuDNN's benchmark mode (the search for the fastest convolution algorithms)
    #[arg(long)]
    pub no_cudnn_benchmark: bool,
    #[command(flatten)]
    pub dist: crate::launch::DistArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptName {
    Sgd,
    Adam,
    Adamw,
}

impl TrainArgs {
    /// Sets every value given on the command line; the others stay as `c` has them.
    pub fn apply(&self, c: &mut FitConfig) {
        if let Some(d) = &self.data {
            c.data = Some(d.clone());
        }
        set(&mut c.model, self.model);
        set(&mut c.batch, self.batch);
        set(&mut c.accumulate, self.accumulate);
        if let Some(o) = self.opt {
            c.opt = match o {
                OptName::Sgd => Opt::Sgd,
                OptName::Adam => Opt::Adam,
                OptName::Adamw => Opt::Adamw,
            };
        }
        c.true_wd |= self.true_wd;
        c.no_bn_wd |= self.no_bn_wd;
        c.nesterov |= self.nesterov;
        if self.limit_train.is_some() {
            c.limit_train = self.limit_train;
        }
        if self.limit_valid.is_some() {
            c.limit_valid = self.limit_valid;
        }
        c.augment &= !self.no_augment;
        c.channels_last &= !self.no_channels_last;
        set(&mut c.workers, self.workers);
        set(&mut c.seed, self.seed);
        set(&mut c.device, self.device);
        set(&mut c.precision, self.precision);
        c.cudnn_benchmark &= !self.no_cudnn_benchmark;
        c.sync_bn |= self.dist.sync_bn;
    }
}

/// Overwrites `slot` when a value was given.
pub fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}
