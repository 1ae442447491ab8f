//! `onecycle bench train`: images per second of full training steps for a model.

use anyhow::Result;
use clap::Args;
use onecycle::amp::Precision;
use onecycle::bench::train_throughput;
use onecycle::data::TensorData;
use onecycle::device::DeviceSpec;
use schedule::{ConstantParams, Policy};
use tch::{Device, Kind, Tensor};
use vision::models::ModelName;
use vision::train::{model_learner, FitConfig};

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
    /// Print one JSON object instead of a sentence
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: BenchTrainArgs) -> Result<()> {
    if let Some(t) = args.threads {
        tch::set_num_threads(t);
    }
    let mut config = FitConfig::new(Policy::Constant(ConstantParams {
        lr: 0.01,
        momentum: None,
    }));
    config.device = args.device;
    config.precision = args.precision;
    config.cudnn_benchmark = !args.no_cudnn_benchmark;
    // The learner needs a data source; the benchmark feeds its own batch, so one row suffices.
    let data = TensorData {
        train: (
            Tensor::zeros([1, 3, args.size, args.size], (Kind::Float, Device::Cpu)),
            Tensor::zeros([1], (Kind::Int64, Device::Cpu)),
        ),
        valid: None,
        batch_size: args.batch,
        shuffle: false,
        seed: 0,
    };
    let mut learner = model_learner(args.model, 10, data, &config, 0)?;
    let r = train_throughput(
        &mut learner,
        args.channels_last,
        (3, args.size, args.size),
        10,
        args.batch,
        args.warmup,
        args.seconds,
        5,
    )?;
    if args.json {
        let mut v = serde_json::to_value(&r)?;
        v["model"] = serde_json::Value::from(args.model.as_str());
        println!("{v}");
    } else {
        println!(
            "{} batch {} {} {} {}: {:.1} images/s ({:.1} ms/step, {} steps, {} threads)",
            args.model,
            r.batch,
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
