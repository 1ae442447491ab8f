//! Checkpoints: named tensors plus a JSON header in one safetensors file, written atomically
//! through `record` (temporary file, fsync, rename), so an interrupted write never replaces a good
//! checkpoint.

use std::fs;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use schedule::SmoothLoss;
use serde::{Deserialize, Serialize};
use tch::{Kind, TchError, Tensor};

/// Where a fit stands: the next step to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Position {
    pub epoch: usize,
    pub batch: usize,
    pub step: usize,
}

/// The tensor holding the JSON header.
const META: &str = "meta.json";

/// What a checkpoint records besides tensors: where to resume and the loss smoother's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub position: Position,
    pub smooth: SmoothLoss,
    /// JSON has no infinity: `None` stands for "no best yet".
    #[serde(with = "finite_or_none")]
    pub best_smooth: f64,
    /// The divergence guard's first smoothed loss (absent in checkpoints before 0.2: none).
    #[serde(default = "no_loss", with = "finite_or_none")]
    pub first_smooth: f64,
    /// The epoch in progress: loss × items and items so far (absent before 0.2: at an epoch's
    /// start, where they are zero).
    #[serde(default)]
    pub epoch_loss: (f64, usize),
}

fn no_loss() -> f64 {
    f64::INFINITY
}

/// Writes `tensors` and `meta` to `path` atomically.
pub fn save(path: &Path, tensors: &[(String, Tensor)], meta: &Checkpoint) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_vec(meta)?;
    let header = Tensor::from_slice(&json).to_kind(Kind::Uint8);
    let mut named: Vec<(&str, Tensor)> = tensors
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_device(tch::Device::Cpu).contiguous()))
        .collect();
    named.push((META, header));
    record::write_via_temp(path, |tmp| {
        Tensor::write_safetensors(&named, tmp).map_err(|e| match e {
            // A full disk reads "No space left on device", not a Debug dump of the I/O error.
            TchError::SafeTensorError {
                err: safetensors::SafeTensorError::IoError(io),
                ..
            } => anyhow!("{io}"),
            other => anyhow!("{other}"),
        })
    })
    .context("saving the checkpoint (the previous one is kept)")?;
    Ok(())
}

/// Reads a checkpoint, refusing truncated or foreign files with a message naming the file.
pub fn load(path: &Path) -> Result<(Vec<(String, Tensor)>, Checkpoint)> {
    if !path.exists() {
        bail!("checkpoint {} does not exist", path.display());
    }
    let tensors = Tensor::read_safetensors(path)
        .map_err(|e| anyhow!("checkpoint {} is corrupt or truncated: {e}", path.display()))?;
    let mut meta = None;
    let mut rest = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        if name == META {
            let bytes: Vec<u8> = Vec::try_from(&t)?;
            meta = Some(
                serde_json::from_slice::<Checkpoint>(&bytes).with_context(|| {
                    format!("checkpoint {} has an unreadable header", path.display())
                })?,
            );
        } else {
            rest.push((name, t));
        }
    }
    let meta = meta.ok_or_else(|| {
        anyhow!(
            "{} is not a onecycle checkpoint (no header)",
            path.display()
        )
    })?;
    Ok((rest, meta))
}

/// Serialises a float that may be infinite as a number or `null`.
mod finite_or_none {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_some(v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }
}
