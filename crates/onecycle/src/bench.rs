//! Throughput: images per second of full optimisation steps (forward, loss, backward, SGD
//! update; `onecycle bench train`) or of inference passes (`onecycle bench infer`) on a synthetic
//! batch kept on the learner's device, in the learner's precision.

use std::time::Instant;

use anyhow::{bail, Result};
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::data::Data;
use crate::learner::Learner;

/// What a training benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct TrainBench {
    /// `cpu` or `cuda:N`.
    pub device: String,
    /// `fp32`, `bf16` or `fp16`.
    pub precision: String,
    pub batch: usize,
    pub channels_last: bool,
    pub threads: i32,
    /// Timed steps (after the warm-up).
    pub steps: usize,
    pub seconds: f64,
    pub images_per_sec: f64,
    pub ms_per_step: f64,
}

/// Runs `warmup` untimed steps, then steps until `seconds` have passed (at least `min_steps`),
/// on random images of shape `(c, h, w)` with labels in `0..classes`; in channels-last memory
/// order when asked (converting the learner's weights).
#[allow(clippy::too_many_arguments)]
pub fn train_throughput<D: Data>(
    learner: &mut Learner<D>,
    channels_last: bool,
    shape: (i64, i64, i64),
    classes: i64,
    batch: usize,
    warmup: usize,
    seconds: f64,
    min_steps: usize,
) -> Result<TrainBench> {
    let inputs = random_inputs(learner, channels_last, shape, batch)?;
    let device = learner.device();
    let targets =
        Tensor::randint(classes, [batch as i64], (Kind::Int64, Device::Cpu)).to_device(device);
    let step = |l: &mut Learner<D>| {
        l.train_step(inputs.shallow_clone(), &targets, 0.01, 0.9)
            .map(|_| ())
    };
    let timing = Timing {
        warmup,
        seconds,
        min_steps,
    };
    timed(learner, batch, channels_last, &timing, step)
}

/// Runs `warmup` untimed forward passes in evaluation mode without gradients (as PyTorch's
/// `inference_mode`) with a softmax, then passes until `seconds` have passed (at least
/// `min_steps`), on random images of shape `(c, h, w)`; reported like [`train_throughput`] (a
/// step is one forward pass).
pub fn infer_throughput<D: Data>(
    learner: &mut Learner<D>,
    channels_last: bool,
    shape: (i64, i64, i64),
    batch: usize,
    warmup: usize,
    seconds: f64,
    min_steps: usize,
) -> Result<TrainBench> {
    let inputs = random_inputs(learner, channels_last, shape, batch)?;
    // `predict` prepares the inputs (channels-last) and brings the outputs to the CPU, which
    // waits for a GPU's pass as PyTorch's benchmark does.
    let pass = |l: &mut Learner<D>| l.predict(&inputs).map(|_| ());
    let timing = Timing {
        warmup,
        seconds,
        min_steps,
    };
    timed(learner, batch, channels_last, &timing, pass)
}

/// How long a benchmark runs: untimed steps, then at least `seconds` and `min_steps`.
struct Timing {
    warmup: usize,
    seconds: f64,
    min_steps: usize,
}

/// `batch` random images of `shape` on the learner's device, after converting the learner to
/// channels-last when asked.
fn random_inputs<D: Data>(
    learner: &mut Learner<D>,
    channels_last: bool,
    (c, h, w): (i64, i64, i64),
    batch: usize,
) -> Result<Tensor> {
    if batch == 0 {
        bail!("batch must be at least 1, got 0");
    }
    if channels_last {
        learner.use_channels_last();
    }
    let inputs = Tensor::randn([batch as i64, c, h, w], (Kind::Float, Device::Cpu));
    Ok(inputs.to_device(learner.device()))
}

/// Times `step` as `timing` says and reports it.
fn timed<D: Data>(
    learner: &mut Learner<D>,
    batch: usize,
    channels_last: bool,
    timing: &Timing,
    mut step: impl FnMut(&mut Learner<D>) -> Result<()>,
) -> Result<TrainBench> {
    let device = learner.device();
    for _ in 0..timing.warmup {
        step(learner)?;
    }
    synchronize(device);
    let began = Instant::now();
    let mut steps = 0;
    while steps < timing.min_steps || began.elapsed().as_secs_f64() < timing.seconds {
        step(learner)?;
        steps += 1;
    }
    // GPU kernels run asynchronously: the time counts only once the last step has finished.
    synchronize(device);
    let elapsed = began.elapsed().as_secs_f64();
    Ok(TrainBench {
        device: match device {
            Device::Cuda(n) => format!("cuda:{n}"),
            _ => "cpu".into(),
        },
        precision: learner.precision().to_string(),
        batch,
        channels_last,
        threads: tch::get_num_threads(),
        steps,
        seconds: elapsed,
        images_per_sec: (steps * batch) as f64 / elapsed,
        ms_per_step: elapsed * 1e3 / steps as f64,
    })
}

/// Waits for the GPU's queued work (nothing to wait for on the CPU).
fn synchronize(device: Device) {
    if let Device::Cuda(n) = device {
        tch::Cuda::synchronize(n as i64);
    }
}
