//! `onecycle export`: a run's trained weights as a safetensors file with PyTorch's parameter
//! names — torchvision's for ResNet-50, those of the modules in `scripts/pytorch_models.py` for
//! the CIFAR ResNets and ResNet-9 — batch-norm buffers included, so that
//! `model.load_state_dict(...)` accepts it as it is.

use std::path::Path;

use anyhow::{bail, Context, Result};
use tch::{Device, Kind, Tensor};
use vision::models::ModelName;

use crate::evaluate::trained_run;

/// The checkpoint's model variables are stored under this prefix.
const MODEL_PREFIX: &str = "model.";

/// Writes the trained weights of the run at `run` to `out` with PyTorch's names; returns how
/// many tensors it wrote. A model without a PyTorch counterpart is refused by name.
pub fn export_pytorch(run: &Path, out: &Path) -> Result<usize> {
    let (config, weights) = trained_run(run)?;
    let rename = renamer(config.model)?;
    let stored = Tensor::read_safetensors(&weights)
        .with_context(|| format!("reading {}", weights.display()))?;
    let mut named = Vec::new();
    for (name, tensor) in stored {
        let Some(ours) = name.strip_prefix(MODEL_PREFIX) else {
            continue;
        };
        let theirs = rename(ours);
        if let Some(layer) = theirs.strip_suffix(".running_mean") {
            // PyTorch's BatchNorm keeps a step count that load_state_dict expects.
            let count = Tensor::scalar_tensor(0, (Kind::Int64, Device::Cpu));
            named.push((format!("{layer}.num_batches_tracked"), count));
        }
        named.push((theirs, tensor.contiguous()));
    }
    if named.is_empty() {
        bail!("{} holds no model weights", weights.display());
    }
    record::write_via_temp(out, |tmp| {
        Tensor::write_safetensors(&named, tmp).context("writing safetensors")
    })?;
    Ok(named.len())
}

/// Our variable name → PyTorch's, for the models that have a PyTorch counterpart.
fn renamer(model: ModelName) -> Result<fn(&str) -> String> {
    Ok(match model {
        ModelName::ResNet50 => torchvision_resnet50,
        ModelName::ResNet20
        | ModelName::ResNet32
        | ModelName::ResNet44
        | ModelName::ResNet56
        | ModelName::ResNet110
        | ModelName::ResNet9 => |name: &str| name.to_string(),
        other => bail!(
            "export knows the CIFAR ResNets, resnet9 and resnet50; {other} has no PyTorch \
             counterpart"
        ),
    })
}

/// torchvision's ResNet-50 names: `stem.conv` → `conv1`, `stem.bn` → `bn1`, a block's
/// `downsample.{conv,bn}` → `downsample.{0,1}`, `head.fc` → `fc`.
fn torchvision_resnet50(name: &str) -> String {
    let name = name
        .replacen("stem.conv.", "conv1.", 1)
        .replacen("stem.bn.", "bn1.", 1)
        .replacen("head.fc.", "fc.", 1);
    name.replacen(".downsample.conv.", ".downsample.0.", 1)
        .replacen(".downsample.bn.", ".downsample.1.", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resnet50_names_are_torchvisions() {
        let cases = [
            ("stem.conv.weight", "conv1.weight"),
            ("stem.bn.running_var", "bn1.running_var"),
            ("layer1.0.conv1.weight", "layer1.0.conv1.weight"),
            (
                "layer2.0.downsample.conv.weight",
                "layer2.0.downsample.0.weight",
            ),
            ("layer2.0.downsample.bn.bias", "layer2.0.downsample.1.bias"),
            ("head.fc.bias", "fc.bias"),
        ];
        for (ours, theirs) in cases {
            assert_eq!(torchvision_resnet50(ours), theirs);
        }
        assert!(renamer(ModelName::SmallCnn)
            .unwrap_err()
            .to_string()
            .contains("small-cnn has no PyTorch counterpart"));
    }
}
