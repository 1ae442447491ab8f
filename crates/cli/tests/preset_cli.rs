//! `onecycle fit --preset` and `--sizes`: a preset is a config file embedded in the binary, flags
//! override it, and progressive-resizing flags reach the run's config.

mod common;
use common::{fails, ok, onecycle, temp_dir};

fn config_of(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("config.toml")).unwrap()
}

#[test]
fn the_resnet9_preset_runs_from_anywhere_with_flags_overriding_it() {
    let dir = temp_dir("preset-resnet9");
    // From another working directory: the preset is embedded, not read from presets/.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_onecycle"))
        .current_dir(std::env::temp_dir())
        .args(["fit", "--preset", "resnet9-dawnbench", "--epochs", "1"])
        .args([
            "--limit-train",
            "64",
            "--limit-valid",
            "32",
            "--batch",
            "8",
            "--quiet",
        ])
        .arg("--run-dir")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = ok(out);
    assert!(stdout.contains("TTA"), "the preset turns TTA on: {stdout}");
    let config = config_of(&dir);
    for line in [
        "model = \"resnet9\"",
        "epochs = 1",
        "batch = 8",
        "nesterov = true",
        "wd = 0.0005",
        "anneal = \"linear\"",
        "moms = \"none\"",
    ] {
        assert!(config.contains(line), "{line} in\n{config}");
    }
}

#[test]
fn a_preset_can_be_a_file_and_an_unknown_name_lists_the_presets() {
    let err = fails(onecycle(&["fit", "--preset", "resnet1000"]));
    assert!(
        err.contains("resnet1000") && err.contains("imagenet") && err.contains("resnet9-dawnbench"),
        "{err}"
    );
    let dir = temp_dir("preset-file");
    let file = dir.join("mine.toml");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../presets/fit/resnet9-dawnbench.toml"
    ))
    .unwrap()
    .replace("model = \"resnet9\"", "model = \"small-cnn\"");
    std::fs::write(&file, text).unwrap();
    let run = dir.join("run");
    ok(onecycle(&[
        "fit",
        "--preset",
        file.to_str().unwrap(),
        "--epochs",
        "1",
        "--limit-train",
        "64",
        "--limit-valid",
        "32",
        "--batch",
        "8",
        "--quiet",
        "--run-dir",
        run.to_str().unwrap(),
    ]));
    assert!(config_of(&run).contains("model = \"small-cnn\""));
    let err = fails(onecycle(&[
        "fit",
        "--preset",
        "imagenet",
        "--config",
        file.to_str().unwrap(),
    ]));
    assert!(err.contains("--config"), "{err}");
}

#[test]
fn sizes_flags_set_progressive_resizing_and_bad_fractions_are_named() {
    let dir = temp_dir("sizes");
    let quick = [
        "fit",
        "--model",
        "small-cnn",
        "--batch",
        "32",
        "--limit-train",
        "64",
        "--limit-valid",
        "32",
        "--epochs",
        "2",
        "--quiet",
        "--sizes",
        "16,32",
    ];
    let mut args = quick.to_vec();
    args.extend(["--run-dir", dir.to_str().unwrap()]);
    ok(onecycle(&args));
    let config = config_of(&dir);
    assert!(config.contains("sizes = [16, 32]"), "{config}");
    assert!(!config.contains("size_fractions"), "equal shares: {config}");

    let mut args = quick.to_vec();
    args.extend(["--size-fractions", "0.5,0.6"]);
    let err = fails(onecycle(&args));
    assert!(err.contains("size_fractions must sum to 1"), "{err}");
    // --sizes replaces the preset's three sizes and drops its three fractions; fractions given
    // with it must match the new sizes.
    let mut args = quick.to_vec();
    args.extend(["--preset", "imagenet", "--size-fractions", "0.2"]);
    let err = fails(onecycle(&args));
    assert!(
        err.contains("size_fractions has 1 values but sizes has 2"),
        "{err}"
    );
}
