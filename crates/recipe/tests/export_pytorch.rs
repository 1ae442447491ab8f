//! `export_pytorch` writes weights that PyTorch's modules (torchvision's ResNet-50, and
//! `scripts/export/pytorch_models.py` for the CIFAR ResNets and ResNet-9) load strictly and
//! compute the same logits with. Runs where the full PyTorch of `scripts/pytorch.sh` is
//! installed (~/.cache/onecycle/pytorch-2.11.0-full); elsewhere it says so and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

use recipe::FitConfig;
use schedule::{OneCycleParams, Policy};
use tch::{Device, Kind, Tensor};
use vision::models::ModelName;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pytorch_installed() -> bool {
    let dir = std::env::var("ONECYCLE_PYTORCH_DIR").map_or_else(
        |_| {
            let home = std::env::var("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/onecycle/pytorch-2.11.0-full")
        },
        PathBuf::from,
    );
    dir.join(".onecycle-complete").is_file()
}

/// Trains `model` for one epoch on 96 sample images, exports it, and compares the logits of
/// PyTorch's module with ours on two random images.
fn same_logits_in_pytorch(model: ModelName) {
    let dir = std::env::temp_dir().join(format!("onecycle-export-{model}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = dir.join("run");
    let config = FitConfig {
        model,
        epochs: 1,
        batch: 16,
        limit_train: Some(96),
        limit_valid: Some(32),
        // A small peak keeps the logits near 1, where an absolute 1e-5 is a fair bound.
        ..FitConfig::new(Policy::OneCycle(OneCycleParams {
            max_lr: 1e-3,
            ..OneCycleParams::default()
        }))
    };
    recipe::fit(&config, &run, true).unwrap();
    let weights = dir.join("model.safetensors");
    recipe::export_pytorch(&run, &weights).unwrap();
    let (_, learner) = recipe::trained_learner(&run, None).unwrap();
    tch::manual_seed(7);
    let x = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
    let ours = Vec::<f64>::try_from(
        &learner
            .forward(&x, false)
            .unwrap()
            .to_kind(Kind::Double)
            .flatten(0, -1),
    )
    .unwrap();
    let input = dir.join("input.f32");
    let bytes: Vec<u8> = Vec::<f32>::try_from(&x.flatten(0, -1))
        .unwrap()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(&input, bytes).unwrap();
    let out = Command::new(root().join("scripts/pytorch.sh"))
        .arg(root().join("scripts/export/check.py"))
        .args([model.to_string(), "10".into()])
        .arg(&weights)
        .arg(&input)
        .arg("32")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<f64> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs.len(), ours.len());
    let gap = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        gap <= 1e-5,
        "{model}: max |Δlogit| {gap}: {ours:?} vs {theirs:?}"
    );
}

#[test]
fn exported_weights_give_pytorch_the_same_logits() {
    if !pytorch_installed() {
        eprintln!("skipped: PyTorch is not installed (scripts/pytorch.sh installs it)");
        return;
    }
    for model in [ModelName::ResNet20, ModelName::ResNet9, ModelName::ResNet50] {
        same_logits_in_pytorch(model);
    }
}
