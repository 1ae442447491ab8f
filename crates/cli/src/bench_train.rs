//! `onecycle bench train`: images per second of full training steps for a model.

use std::rc::Rc;

use anyhow::{bail, Result};
use clap::Args;
use onecycle::amp::Precision;
use onecycle::bench::{infer_throughput, train_throughput, TrainBench};
use onecycle::data::TensorData;
use onecycle::device::DeviceSpec;
use onecycle::dist::ProcessGroup;
use onecycle::learner::Learner;
use recipe::{model_learner, FitConfig};
use schedule::{ConstantParams, Policy};
use tch::{Device, Kind, Tensor};
use vision::models::ModelName;

use crate::out::say;

/// Time SGD training steps (forward, loss, backward, update) on synthetic 32×32 batches.
#[derive(Debug, Args)]
pub struct BenchTrainArgs {
    /// Model to train
    #[arg(long, default_value = "resnet20")]
    pub model: ModelName,
    /// Images per batch
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Channels-last (NHWC) memory order for weights and inputs
    #[arg(long)]
    pub channels_last: bool,
    /// Image side in pixels
    #[arg(long, default_value_t = 32)]
    pub size: i64,
    /// Seconds to time, after the warm-up
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Untimed steps first
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Where to train: auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// Forward-pass arithmetic: fp32, bf16 or fp16
    #[arg(long, default_value = "fp32")]
    pub precision: Precision,
    /// Turn off cuDNN's benchmark mode
    #[arg(long)]
    pub no_cudnn_benchmark: bool,
    /// libtorch intra-op threads [default: all cores]
    #[arg(long)]
    pub threads: Option<i32>,
    /// Time exactly this many steps instead of --seconds (data-parallel runs need it: every
    /// rank must take the same steps)
    #[arg(long, value_name = "N")]
    pub steps: Option<usize>,
    /// Print one JSON object instead of a sentence
    #[arg(long)]
    pub json: bool,
    /// Data parallel (e.g. under `onecycle launch`): --batch is the global batch, and rank 0
    /// reports the images per second of all ranks together
    #[command(flatten)]
    pub dist: crate::launch::DistArgs,
}

pub fn run(args: BenchTrainArgs) -> Result<()> {
    if let Some(t) = args.threads {
        tch::set_num_threads(t);
    }
    let config = bench_config(&args);
    let data = one_row_data(&args);
    let group = args.dist.join()?;
    let world = group.as_ref().map_or(1, |g| g.world_size());
    check_dist_args(&args, group.is_some(), world)?;
    let mut learner = bench_learner(&args, &config, data, group.as_ref())?;
    // Each rank steps on its share; the ranks step together, so the global rate is the sum.
    let rank = group.as_ref().map_or(0, |g| g.rank());
    let share = onecycle::data::Shard { rank, world }
        .range(args.batch)
        .len();
    let (seconds, min_steps) = match args.steps {
        Some(n) => (0.0, n.max(1)),
        None => (args.seconds, 5),
    };
    let mut r = train_throughput(
        &mut learner,
        args.channels_last,
        (3, args.size, args.size),
        10,
        share,
        args.warmup,
        seconds,
        min_steps,
    )?;
    r.batch = args.batch;
    r.images_per_sec = (r.steps * args.batch) as f64 / r.seconds;
    if rank != 0 {
        return Ok(());
    }
    print_result(&args, &r, world)
}

/// `bench infer`: forward passes in evaluation mode without gradients, with the same flags (one
/// process; `--steps` fixes the number of passes).
pub fn run_infer(args: BenchTrainArgs) -> Result<()> {
    if let Some(t) = args.threads {
        tch::set_num_threads(t);
    }
    if args.dist.join()?.is_some() {
        bail!("bench infer measures one process; run it without launch");
    }
    let config = bench_config(&args);
    let mut learner = bench_learner(&args, &config, one_row_data(&args), None)?;
    let (seconds, min_steps) = match args.steps {
        Some(n) => (0.0, n.max(1)),
        None => (args.seconds, 5),
    };
    let r = infer_throughput(
        &mut learner,
        args.channels_last,
        (3, args.size, args.size),
        args.batch,
        args.warmup,
        seconds,
        min_steps,
    )?;
    print_result(&args, &r, 1)
}

/// Constant-LR SGD on the requested device and precision (the LR does not change the timing).
fn bench_config(args: &BenchTrainArgs) -> FitConfig {
    let mut config = FitConfig::new(Policy::Constant(ConstantParams {
        lr: 0.01,
        momentum: None,
    }));
    config.device = args.device;
    config.precision = args.precision;
    config.cudnn_benchmark = !args.no_cudnn_benchmark;
    config
}

/// The learner needs a data source; the benchmark feeds its own batch, so one row suffices.
fn one_row_data(args: &BenchTrainArgs) -> TensorData {
    TensorData {
        train: (
            Tensor::zeros([1, 3, args.size, args.size], (Kind::Float, Device::Cpu)),
            Tensor::zeros([1], (Kind::Int64, Device::Cpu)),
        ),
        valid: None,
        batch_size: args.batch,
        shuffle: false,
        seed: 0,
    }
}

/// Data-parallel runs must time a fixed number of steps and give every rank an image.
fn check_dist_args(args: &BenchTrainArgs, distributed: bool, world: usize) -> Result<()> {
    if distributed && args.steps.is_none() {
        bail!("a data-parallel benchmark needs --steps N (every rank must take the same steps)");
    }
    if args.batch < world {
        bail!(
            "--batch {} cannot give each of {world} ranks an image",
            args.batch
        );
    }
    Ok(())
}

/// The model's learner; in a process group, with this rank's config and gradients all-reduced.
fn bench_learner(
    args: &BenchTrainArgs,
    config: &FitConfig,
    data: TensorData,
    group: Option<&Rc<ProcessGroup>>,
) -> Result<Learner<TensorData>> {
    // A whitening layer needs filters. From random images they whiten the synthetic batch to unit
    // variance, as real filters do real images; the placeholder row's zero covariance would scale
    // them by 1/√eps, and GELU costs up to 3× more on such large inputs.
    let whitening = args
        .model
        .whitens()
        .then(|| Tensor::randn([256, 3, args.size, args.size], (Kind::Float, Device::Cpu)));
    let whitening = whitening.as_ref();
    Ok(match group {
        Some(g) => {
            let config = recipe::rank_config(config, g)?;
            let mut learner = model_learner(args.model, 10, data, &config, 0, whitening)?;
            let ddp = onecycle::dist::Ddp::new(g.clone(), learner.var_store(), false)?;
            learner.set_strategy(ddp);
            learner
        }
        None => model_learner(args.model, 10, data, config, 0, whitening)?,
    })
}

/// Prints the measurement as one JSON object or as a sentence.
fn print_result(args: &BenchTrainArgs, r: &TrainBench, world: usize) -> Result<()> {
    if args.json {
        let mut v = serde_json::to_value(r)?;
        v["model"] = serde_json::Value::from(args.model.as_str());
        v["world_size"] = serde_json::Value::from(world);
        say!("{v}");
    } else {
        say!(
            "{} batch {}{} {} {} {}: {:.1} images/s ({:.1} ms/step, {} steps, {} threads)",
            args.model,
            r.batch,
            if world > 1 {
                format!(" over {world} ranks")
            } else {
                String::new()
            },
            r.device,
            r.precision,
            if r.channels_last {
                "channels-last"
            } else {
                "NCHW"
            },
            r.images_per_sec,
            r.ms_per_step,
            r.steps,
            r.threads
        );
    }
    Ok(())
}
