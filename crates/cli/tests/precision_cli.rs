//! `--device` and `--precision`: bf16 training from the command line records its precision in the
//! run folder, configs written before these settings existed still load, a CUDA device is refused
//! with the reason where no GPU is usable, and `bench train` reports the device and precision.

mod common;
use common::{fails, ok, onecycle, temp_dir};

const QUICK: &[&str] = &[
    "fit",
    "--model",
    "small-cnn",
    "--batch",
    "32",
    "--epochs",
    "1",
    "--limit-train",
    "128",
    "--limit-valid",
    "64",
    "--max-lr",
    "0.05",
    "--quiet",
];

fn with(extra: &[&str]) -> Vec<String> {
    QUICK.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn run(args: &[String]) -> std::process::Output {
    onecycle(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn bf16_fit_trains_and_records_its_precision() {
    let dir = temp_dir("bf16");
    let run_dir = dir.join("run");
    let out = ok(run(&with(&[
        "--precision",
        "bf16",
        "--device",
        "cpu",
        "--run-dir",
        run_dir.to_str().unwrap(),
    ])));
    assert!(out.contains("accuracy"), "{out}");
    let config = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert!(config.contains("precision = \"bf16\""), "{config}");
    assert!(config.contains("device = \"cpu\""), "{config}");
    let steps = std::fs::read_to_string(run_dir.join("steps.csv")).unwrap();
    let mut lines = steps.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,step,lr,momentum,loss,smooth_loss"),
        "no skipped column outside fp16"
    );
    assert_eq!(lines.count(), 4);

    // A config from before devices and precisions: the defaults (auto, fp32) apply.
    let old: String = config
        .lines()
        .filter(|l| {
            !["device", "precision", "cudnn_benchmark"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let old_path = dir.join("old.toml");
    std::fs::write(&old_path, old).unwrap();
    let again = dir.join("again");
    ok(onecycle(&[
        "fit",
        "--config",
        old_path.to_str().unwrap(),
        "--quiet",
        "--run-dir",
        again.to_str().unwrap(),
    ]));
    let config = std::fs::read_to_string(again.join("config.toml")).unwrap();
    assert!(config.contains("precision = \"fp32\""), "{config}");
    assert!(config.contains("device = \"auto\""), "{config}");
}

#[test]
fn a_cuda_device_is_refused_with_the_reason_where_no_gpu_is_usable() {
    if onecycle::device::cuda_device_count() > 0 {
        return; // a GPU machine: nothing to refuse
    }
    let dir = temp_dir("cuda");
    let run_dir = dir.join("run");
    let err = fails(run(&with(&[
        "--device",
        "cuda",
        "--run-dir",
        run_dir.to_str().unwrap(),
    ])));
    assert!(
        err.contains("device cuda:0 was asked for, but CUDA is not available: "),
        "{err}"
    );
    assert!(!run_dir.exists(), "no run folder for a refused run");
    let err = fails(run(&with(&["--device", "gpu0"])));
    assert!(err.contains("auto, cpu, cuda or cuda:N"), "{err}");
    let err = fails(run(&with(&["--precision", "fp8"])));
    assert!(err.contains("fp32, bf16 or fp16"), "{err}");
}

#[test]
fn bench_train_reports_the_device_and_precision() {
    let out = ok(onecycle(&[
        "bench",
        "train",
        "--model",
        "small-cnn",
        "--batch",
        "16",
        "--device",
        "cpu",
        "--precision",
        "bf16",
        "--seconds",
        "0.2",
        "--warmup",
        "1",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["device"], "cpu");
    assert_eq!(v["precision"], "bf16");
    assert!(v["images_per_sec"].as_f64().unwrap() > 0.0, "{v}");
}

#[test]
fn bench_infer_times_forward_passes_and_reports_like_bench_train() {
    let out = ok(onecycle(&[
        "bench",
        "infer",
        "--model",
        "small-cnn",
        "--batch",
        "16",
        "--device",
        "cpu",
        "--channels-last",
        "--steps",
        "4",
        "--warmup",
        "1",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["steps"], 4);
    assert_eq!(v["batch"], 16);
    assert_eq!(v["channels_last"], true);
    let rate = v["images_per_sec"].as_f64().unwrap();
    let per_step = v["ms_per_step"].as_f64().unwrap();
    assert!((rate - 16.0 * 1e3 / per_step).abs() < 1e-6 * rate, "{v}");
}
