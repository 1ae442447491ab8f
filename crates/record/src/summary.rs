//! `summary.json`: what a finished fit reports (written by training, read by reports).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The outcome of a fit, as `summary.json` holds it. Every field may be missing in files
/// written by hand or by older versions; JSON's `null` for a NaN float reads back as NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    pub run_dir: PathBuf,
    pub epochs: usize,
    pub steps: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub seconds: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub images_per_sec: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub valid_loss: f64,
    /// The final `accuracy` metric (NaN when the run has none).
    #[serde(deserialize_with = "nan_if_null")]
    pub accuracy: f64,
    pub tta_accuracy: Option<f64>,
    pub stopped: Option<String>,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            run_dir: PathBuf::new(),
            epochs: 0,
            steps: 0,
            seconds: f64::NAN,
            images_per_sec: f64::NAN,
            valid_loss: f64::NAN,
            accuracy: f64::NAN,
            tta_accuracy: None,
            stopped: None,
        }
    }
}

impl Summary {
    /// Writes the summary as pretty JSON to `path`, atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).context("writing summary.json")?;
        crate::write_atomic(path, json.as_bytes())
    }

    /// Reads `path`; `Ok(None)` when there is no such file.
    pub fn read(path: &Path) -> Result<Option<Summary>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let summary =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        Ok(Some(summary))
    }

    /// Images per second, when known.
    pub fn throughput(&self) -> Option<f64> {
        Some(self.images_per_sec).filter(|v| v.is_finite())
    }
}

/// A float that JSON may hold as `null` (serde_json writes NaN so).
pub(crate) fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}
