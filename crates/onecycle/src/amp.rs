//! Mixed precision as PyTorch's AMP does it: the forward pass runs under autocast (matrix
//! products and convolutions in bf16 or fp16, precision-sensitive ops in fp32) while the weights,
//! gradients and optimizer state stay fp32; fp16 adds dynamic loss scaling ([`GradScaler`]) so
//! that small gradients do not underflow, skipping the steps whose gradients overflow.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::ops::{self, AutocastState};

/// The arithmetic of the forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in fp32.
    #[default]
    Fp32,
    /// Autocast to bfloat16 (fp32's range, so no loss scaling): CPU and recent GPUs.
    Bf16,
    /// Autocast to float16 with dynamic loss scaling.
    Fp16,
}

impl Precision {
    /// The autocast dtype, `None` for fp32.
    pub fn autocast_kind(self) -> Option<Kind> {
        match self {
            Precision::Fp32 => None,
            Precision::Bf16 => Some(Kind::BFloat16),
            Precision::Fp16 => Some(Kind::Half),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Fp16 => "fp16",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Precision {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Precision> {
        match s.to_ascii_lowercase().as_str() {
            "fp32" | "float32" => Ok(Precision::Fp32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            "fp16" | "float16" | "half" => Ok(Precision::Fp16),
            _ => bail!("precision must be fp32, bf16 or fp16, got {s:?}"),
        }
    }
}

/// `at::DeviceType` of the devices autocast supports here.
fn device_type(device: Device) -> Result<i32> {
    match device {
        Device::Cpu => Ok(0),
        Device::Cuda(_) => Ok(1),
        other => bail!("mixed precision is supported on the CPU and CUDA, not on {other:?}"),
    }
}

/// ATen's `ScalarType` code of an autocast dtype.
fn scalar_type(kind: Kind) -> Result<i32> {
    match kind {
        Kind::Half => Ok(5),
        Kind::BFloat16 => Ok(15),
        other => bail!("autocast runs in Half or BFloat16, not {other:?}"),
    }
}

/// An autocast region on this thread (`with torch.autocast(device, dtype):`): ops run in `kind`
/// where PyTorch's autocast lists allow, until the guard drops, which restores the previous state
/// and, for the outermost region, drops the cached low-precision weights.
pub struct Autocast {
    device_type: i32,
    previous: AutocastState,
    /// Autocast state is thread-local: the guard must drop on the thread that made it.
    _not_send: PhantomData<*const ()>,
}

impl Autocast {
    pub fn new(device: Device, kind: Kind) -> Result<Autocast> {
        let device_type = device_type(device)?;
        let dtype = scalar_type(kind)?;
        let previous = ops::autocast_state(device_type)?;
        ops::autocast_enter(device_type, dtype).context("entering autocast")?;
        Ok(Autocast {
            device_type,
            previous,
            _not_send: PhantomData,
        })
    }
}

impl Drop for Autocast {
    fn drop(&mut self) {
        // Restoring plain flags cannot fail short of a broken libtorch; say so rather than panic
        // in a destructor.
        if let Err(e) = ops::autocast_exit(self.device_type, self.previous) {
            eprintln!("warning: leaving autocast failed: {e}");
        }
    }
}

/// Dynamic loss scaling settings, `torch.amp.GradScaler`'s defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalerConfig {
    pub init_scale: f32,
    /// Multiplies the scale after `growth_interval` steps in a row without overflow.
    pub growth_factor: f32,
    /// Multiplies the scale after a step whose gradients overflowed.
    pub backoff_factor: f32,
    pub growth_interval: u32,
}

impl Default for ScalerConfig {
    /// 2¹⁶, doubled every 2000 good steps, halved on overflow.
    fn default() -> Self {
        ScalerConfig {
            init_scale: 65536.0,
            growth_factor: 2.0,
            backoff_factor: 0.5,
            growth_interval: 2000,
        }
    }
}

/// Dynamic loss scaling for fp16 (`torch.amp.GradScaler`): the loss is multiplied by the scale
/// before backward, the gradients divided by it after; a step whose gradients hold inf or NaN is
/// skipped and the scale backs off, and after `growth_interval` good steps in a row it grows.
/// The scale is an f32 as in PyTorch, so its growth stops where f32 would overflow.
#[derive(Debug, Clone, PartialEq)]
pub struct GradScaler {
    config: ScalerConfig,
    scale: f32,
    /// Good steps in a row since the last change of scale.
    growth_tracker: u32,
}

impl GradScaler {
    pub fn new(config: ScalerConfig) -> Result<GradScaler> {
        let c = config;
        if !(c.init_scale.is_finite() && c.init_scale > 0.0) {
            bail!(
                "init_scale must be a finite number > 0, got {}",
                c.init_scale
            );
        }
        if !(c.growth_factor > 1.0 && c.growth_factor.is_finite()) {
            bail!("growth_factor must be > 1, got {}", c.growth_factor);
        }
        if !(c.backoff_factor > 0.0 && c.backoff_factor < 1.0) {
            bail!("backoff_factor must be in (0, 1), got {}", c.backoff_factor);
        }
        if c.growth_interval == 0 {
            bail!("growth_interval must be at least 1, got 0");
        }
        Ok(GradScaler {
            config,
            scale: c.init_scale,
            growth_tracker: 0,
        })
    }

    pub fn config(&self) -> ScalerConfig {
        self.config
    }

    /// The current loss scale.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Good steps in a row since the scale last changed.
    pub fn growth_tracker(&self) -> u32 {
        self.growth_tracker
    }

    /// `loss · scale`, to run backward on.
    pub fn scale_loss(&self, loss: &Tensor) -> Tensor {
        loss * f64::from(self.scale)
    }

    /// Divides the gradients by the scale in place (one fused kernel) and says whether any of
    /// them holds inf or NaN. The gradients must share one device.
    pub fn unscale(&self, grads: &mut [Tensor]) -> Result<bool> {
        let Some(first) = grads.first() else {
            return Ok(false);
        };
        let device = first.device();
        let opts = (Kind::Float, device);
        let mut found_inf = Tensor::zeros([1], opts);
        // PyTorch: `scale.double().reciprocal().float()`.
        let inv_scale =
            Tensor::from_slice(&[(1.0 / f64::from(self.scale)) as f32]).to_device(device);
        ops::amp_unscale_(grads, &mut found_inf, &inv_scale).context("unscaling the gradients")?;
        Ok(found_inf.double_value(&[0]) != 0.0)
    }

    /// Adjusts the scale after a step, as ATen's `_amp_update_scale_`: back off and restart the
    /// count on overflow; otherwise count the step and grow once `growth_interval` are counted
    /// (unless the grown scale would not be finite).
    pub fn update(&mut self, found_inf: bool) {
        if found_inf {
            self.scale *= self.config.backoff_factor;
            self.growth_tracker = 0;
            return;
        }
        let successful = self.growth_tracker + 1;
        if successful == self.config.growth_interval {
            let grown = self.scale * self.config.growth_factor;
            if grown.is_finite() {
                self.scale = grown;
            }
            self.growth_tracker = 0;
        } else {
            self.growth_tracker = successful;
        }
    }

    /// The state as named tensors (`scale`, `growth_tracker`), for checkpoints.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        vec![
            ("scale".into(), Tensor::from_slice(&[self.scale])),
            (
                "growth_tracker".into(),
                Tensor::from_slice(&[i64::from(self.growth_tracker)]),
            ),
        ]
    }

    /// Restores the state written by [`GradScaler::state_tensors`].
    pub fn load_state_tensors(&mut self, scale: &Tensor, growth_tracker: &Tensor) -> Result<()> {
        let s = scale.to_kind(Kind::Float).double_value(&[0]) as f32;
        let g = growth_tracker.to_kind(Kind::Int64).int64_value(&[0]);
        if !(s.is_finite() && s > 0.0) || g < 0 {
            bail!("the loss scaler's saved state is invalid: scale {s}, growth tracker {g}");
        }
        self.scale = s;
        self.growth_tracker = g as u32;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_names_round_trip_and_bad_names_are_refused() {
        for p in [Precision::Fp32, Precision::Bf16, Precision::Fp16] {
            assert_eq!(p.as_str().parse::<Precision>().unwrap(), p);
        }
        let err = "fp8".parse::<Precision>().unwrap_err().to_string();
        assert!(
            err.contains("fp32, bf16 or fp16") && err.contains("fp8"),
            "{err}"
        );
    }

    #[test]
    fn scaler_settings_are_checked() {
        let bad = ScalerConfig {
            backoff_factor: 1.5,
            ..Default::default()
        };
        let err = GradScaler::new(bad).unwrap_err().to_string();
        assert!(err.contains("backoff_factor"), "{err}");
        let bad = ScalerConfig {
            growth_interval: 0,
            ..Default::default()
        };
        assert!(GradScaler::new(bad).is_err());
    }

    #[test]
    fn the_scale_stops_growing_where_f32_would_overflow() {
        let mut s = GradScaler::new(ScalerConfig {
            init_scale: f32::MAX / 1.5,
            growth_interval: 1,
            ..Default::default()
        })
        .unwrap();
        s.update(false);
        assert_eq!(s.scale(), f32::MAX / 1.5);
        assert_eq!(s.growth_tracker(), 0);
    }
}
