//! `onecycle fit`: a run folder with history and checkpoints from the embedded sample, exact resume
//! after `kill -9`, config files with flag overrides, and clear errors on bad input.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tch::Tensor;

mod common;
use common::{ok, onecycle, temp_dir};

/// A quick run: small CNN, 384 training and 128 validation images of the embedded sample.
const QUICK: &[&str] = &[
    "fit",
    "--model",
    "small-cnn",
    "--batch",
    "64",
    "--limit-train",
    "384",
    "--limit-valid",
    "128",
    "--max-lr",
    "0.05",
    "--quiet",
];

fn quick(run_dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = QUICK.iter().map(|s| s.to_string()).collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("--run-dir".into());
    args.push(run_dir.to_str().unwrap().into());
    args
}

fn run_quick(run_dir: &Path, extra: &[&str]) -> String {
    let args = quick(run_dir, extra);
    ok(onecycle(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ))
}

fn checkpoint(dir: &Path) -> Vec<(String, Tensor)> {
    let mut t = Tensor::read_safetensors(dir.join("checkpoints/last.safetensors")).unwrap();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

fn csv_without_seconds(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect()
}

#[test]
fn fit_writes_a_run_folder_with_config_history_and_a_checkpoint() {
    let dir = temp_dir("folder");
    let out = run_quick(&dir, &["--epochs", "2"]);
    assert!(out.starts_with("accuracy "), "summary line: {out}");
    assert!(out.contains("2 epochs, 12 steps"), "{out}");
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(config.contains("model = \"small-cnn\"") && config.contains("policy = \"one-cycle\""));
    let steps = std::fs::read_to_string(dir.join("steps.csv")).unwrap();
    assert_eq!(steps.lines().count(), 1 + 12);
    let epochs = std::fs::read_to_string(dir.join("epochs.csv")).unwrap();
    assert_eq!(
        epochs.lines().next(),
        Some("epoch,train_loss,valid_loss,accuracy,seconds")
    );
    assert_eq!(epochs.lines().count(), 3);
    assert!(dir.join("checkpoints/last.safetensors").is_file());
    for chart in ["schedule.png", "training.png"] {
        let bytes = std::fs::read(dir.join(chart)).unwrap();
        assert_eq!(&bytes[..4], b"\x89PNG", "{chart}");
    }
    // `onecycle plot` redraws them from the CSVs, here as SVG with every series labelled.
    let out = ok(onecycle(&["plot", dir.to_str().unwrap(), "--svg"]));
    assert!(out.contains("training.svg"), "{out}");
    let svg = std::fs::read_to_string(dir.join("training.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let texts: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for label in [
        "training loss",
        "smoothed training loss",
        "validation loss",
        "accuracy",
        "step",
    ] {
        assert!(texts.contains(&label), "training.svg lacks {label:?}");
    }
    let schedule = std::fs::read_to_string(dir.join("schedule.svg")).unwrap();
    assert!(schedule.contains("momentum") && schedule.contains("learning rate"));
}

#[test]
fn a_run_killed_mid_training_resumes_to_the_same_weights_and_history() {
    let whole = temp_dir("whole");
    run_quick(&whole, &["--epochs", "4"]);

    // Start the same run, kill -9 it once the first epoch's checkpoint exists.
    let dir = temp_dir("killed");
    let args = quick(&dir, &["--epochs", "4"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_onecycle"))
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let began = Instant::now();
    let epochs_csv = dir.join("epochs.csv");
    loop {
        let rows = std::fs::read_to_string(&epochs_csv).map_or(0, |t| t.lines().count());
        if rows >= 2 {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(120),
            "the first epoch never finished"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run finished before it was killed");
    let done = std::fs::read_to_string(&epochs_csv)
        .unwrap()
        .lines()
        .count()
        - 1;
    assert!(done < 4, "nothing left to resume");

    let out = ok(onecycle(&[
        "fit",
        "--quiet",
        "--resume",
        dir.to_str().unwrap(),
    ]));
    assert!(out.contains("accuracy"), "{out}");
    let (a, b) = (checkpoint(&whole), checkpoint(&dir));
    assert_eq!(a.len(), b.len());
    for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        if na != "meta.json" {
            assert!(ta.equal(tb), "{na} differs after resume");
        }
    }
    assert_eq!(
        std::fs::read_to_string(whole.join("steps.csv")).unwrap(),
        std::fs::read_to_string(dir.join("steps.csv")).unwrap(),
        "steps.csv differs after resume"
    );
    assert_eq!(
        csv_without_seconds(&whole.join("epochs.csv")),
        csv_without_seconds(&epochs_csv)
    );
    same_summary(&whole, &dir);
}

/// Starts `fit ARGS…`, kills it (SIGKILL) once `steps.csv` holds `rows` step rows (or it ends),
/// and returns whether it was killed before finishing.
fn kill_after_rows(args: &[String], dir: &Path, rows: usize) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_onecycle"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let began = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let done = std::fs::read_to_string(dir.join("steps.csv"))
            .map_or(0, |t| t.lines().count().saturating_sub(1));
        if done >= rows {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(120),
            "stuck at {done} rows"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    !child.wait().unwrap().success()
}

/// `kill -9` at random steps (three seeds, twice in each run, before the first checkpoint
/// too): resuming every time still ends with the uninterrupted run's weights and history.
#[test]
fn runs_killed_at_random_steps_resume_to_the_uninterrupted_run() {
    let whole = temp_dir("kill-whole");
    run_quick(&whole, &["--epochs", "4"]);
    for seed in 1..=3u64 {
        let mut rng = onecycle::rng::Rng::from_keys(&[seed]);
        let dir = temp_dir(&format!("kill-seed-{seed}"));
        let mut rows = 1 + rng.below(23) as usize;
        let mut args = quick(&dir, &["--epochs", "4"]);
        let mut kills = Vec::new();
        while kills.len() < 2 && kill_after_rows(&args, &dir, rows) {
            kills.push(rows);
            args = ["fit", "--quiet", "--resume", dir.to_str().unwrap()]
                .map(String::from)
                .to_vec();
            rows += 1 + rng.below(24 - rows as u64) as usize;
        }
        ok(onecycle(&[
            "fit",
            "--quiet",
            "--resume",
            dir.to_str().unwrap(),
        ]));
        let (a, b) = (checkpoint(&whole), checkpoint(&dir));
        for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
            assert_eq!(na, nb);
            if na != "meta.json" {
                assert!(
                    ta.equal(tb),
                    "seed {seed}, kills at {kills:?}: {na} differs"
                );
            }
        }
        assert_eq!(
            std::fs::read_to_string(whole.join("steps.csv")).unwrap(),
            std::fs::read_to_string(dir.join("steps.csv")).unwrap(),
            "seed {seed}, kills at {kills:?}"
        );
        assert_eq!(
            csv_without_seconds(&whole.join("epochs.csv")),
            csv_without_seconds(&dir.join("epochs.csv"))
        );
        same_summary(&whole, &dir);
    }
}

#[test]
fn a_config_file_repeats_a_run_and_flags_override_its_values() {
    let first = temp_dir("config-a");
    run_quick(
        &first,
        &[
            "--epochs", "1", "--policy", "clr-beta", "--div", "10", "--pct", "20",
        ],
    );
    let second = temp_dir("config-b");
    let config = first.join("config.toml");
    ok(onecycle(&[
        "fit",
        "--quiet",
        "--config",
        config.to_str().unwrap(),
        "--epochs",
        "2",
        "--max-lr",
        "0.03",
        "--run-dir",
        second.to_str().unwrap(),
    ]));
    // A schedule flag changes that value of the config's schedule, not its policy.
    let text = std::fs::read_to_string(second.join("config.toml")).unwrap();
    assert!(text.contains("epochs = 2"), "{text}");
    assert!(
        text.contains("policy = \"clr-beta\"")
            && text.contains("max_lr = 0.03")
            && text.contains("div = 10.0")
            && text.contains("pct = 20.0"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(second.join("steps.csv"))
            .unwrap()
            .lines()
            .count(),
        1 + 12
    );
}

fn fails_with(args: &[&str], needle: &str) {
    let out = onecycle(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(err.contains(needle), "{args:?}: {err:?} lacks {needle:?}");
}

#[test]
fn bad_input_fails_with_a_message_naming_the_problem() {
    let dir = temp_dir("bad");
    let d = dir.to_str().unwrap();
    fails_with(
        &["fit", "--data", "/no/such/folder", "--run-dir", d],
        "/no/such/folder",
    );
    fails_with(
        &["fit", "--epochs", "0", "--run-dir", d],
        "epochs must be at least 1",
    );
    fails_with(
        &["fit", "--epochs", "18446744073709551615", "--run-dir", d],
        "epochs must be at most 100000, got 18446744073709551615",
    );
    fails_with(&["fit", "--wd=-1", "--run-dir", d], "wd must be");
    fails_with(
        &["fit", "--pct-start", "1.5", "--run-dir", d],
        "pct_start must be in (0, 1)",
    );
    fails_with(&["fit", "--model", "resnet7", "--run-dir", d], "resnet7");
    // Image sizes the model cannot take, or absurd ones, before any image is loaded.
    fails_with(
        &[
            "fit",
            "--model",
            "small-cnn",
            "--sizes",
            "4",
            "--run-dir",
            d,
        ],
        "4 px is too small for small-cnn, which needs images of at least 8 px",
    );
    fails_with(
        &["fit", "--sizes", "100000", "--run-dir", d],
        "100000 px is above the 1024 px",
    );
    let empty = temp_dir("not-a-run");
    fails_with(
        &["fit", "--resume", empty.to_str().unwrap()],
        "not a run folder",
    );
    assert!(
        !dir.join("config.toml").exists(),
        "a failed fit left a run folder behind"
    );
    // A truncated CIFAR-10 file names the file.
    let data = temp_dir("truncated-data");
    let classes = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
    std::fs::write(data.join("batches.meta.txt"), classes).unwrap();
    std::fs::write(data.join("data_batch_1.bin"), vec![0u8; 3073 * 2 + 100]).unwrap();
    fails_with(
        &["fit", "--data", data.to_str().unwrap(), "--run-dir", d],
        "data_batch_1.bin",
    );
}

/// Negative values reach the range checks, which name the parameter and the value (clap used
/// to call `-0` an unexpected argument); out-of-range clips and a Nesterov Adam are refused.
#[test]
fn negative_and_meaningless_values_are_refused_by_name() {
    let dir = temp_dir("bad-values");
    let d = dir.to_str().unwrap();
    fails_with(
        &["fit", "--max-lr", "-0.1", "--run-dir", d],
        "max_lr must be a finite number > 0, got -0.1",
    );
    fails_with(
        &["fit", "--wd", "-1", "--run-dir", d],
        "wd must be a finite number ≥ 0, got -1",
    );
    fails_with(
        &["fit", "--clip", "NaN", "--run-dir", d],
        "clip must be a finite number > 0, got NaN",
    );
    fails_with(
        &["fit", "--clip", "-1", "--run-dir", d],
        "clip must be a finite number > 0, got -1",
    );
    fails_with(
        &["fit", "--clip", "0", "--run-dir", d],
        "clip must be a finite number > 0, got 0",
    );
    fails_with(
        &["fit", "--opt", "adam", "--nesterov", "--run-dir", d],
        "nesterov is for SGD only, got opt adam",
    );
    // Too few steps for the schedule: say which images, batch and epochs gave them.
    fails_with(
        &[
            "fit",
            "--model",
            "small-cnn",
            "--limit-train",
            "128",
            "--epochs",
            "1",
            "--run-dir",
            d,
        ],
        "the one-cycle schedule over 1 steps (128 training images in batches of 128 give 1 per \
         epoch, × 1 epochs): pct_start = 0.3 with steps = 1",
    );
    // Milestones and cycle lengths are epochs in `fit`: reported as typed, not in steps.
    let steps = [
        "fit",
        "--model",
        "small-cnn",
        "--limit-train",
        "256",
        "--epochs",
        "6",
    ];
    let with = |extra: &[&'static str]| -> Vec<&str> {
        let mut v = steps.to_vec();
        v.extend_from_slice(extra);
        v.extend_from_slice(&["--run-dir", d]);
        v
    };
    fails_with(
        &with(&["--policy", "steps", "--lr", "0.1", "--milestones", "5,2"]),
        "milestones must be strictly increasing, got [5, 2]",
    );
    fails_with(
        &with(&["--policy", "steps", "--lr", "0.1", "--milestones", "2,9"]),
        "milestones must be below steps = 6, got 9",
    );
    // A truncated test_batch.bin is named, and not blamed on the training data.
    let data = temp_dir("truncated-test-batch");
    let classes = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
    std::fs::write(data.join("batches.meta.txt"), classes).unwrap();
    for k in 1..=5 {
        std::fs::write(data.join(format!("data_batch_{k}.bin")), vec![0u8; 3073]).unwrap();
    }
    std::fs::write(data.join("test_batch.bin"), vec![0u8; 3073 + 10]).unwrap();
    let out = onecycle(&["fit", "--data", data.to_str().unwrap(), "--run-dir", d]);
    let err = common::fails(out);
    assert!(err.contains("test_batch.bin: truncated"), "{err}");
    assert!(!err.contains("training data"), "{err}");
    assert!(
        !dir.join("config.toml").exists(),
        "a failed fit left a run folder behind"
    );
}

/// Standard output and error closed before the first line (as `fit … 2>&1 | head -0` leaves
/// them): training goes on to the end, the run folder is complete, and the exit status is 0.
#[test]
fn closed_output_pipes_do_not_stop_training() {
    let run = temp_dir("closed-pipes").join("run");
    let args: Vec<String> = quick(&run, &["--epochs", "2"])
        .into_iter()
        .filter(|a| a != "--quiet")
        .collect();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_onecycle"))
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let epochs = std::fs::read_to_string(run.join("epochs.csv")).unwrap();
    assert_eq!(epochs.lines().count(), 3, "a header and two epochs");
    assert!(run.join("summary.json").is_file() && run.join("report.html").is_file());
}

/// A `--run-dir` that holds a finished run is refused, naming it and the way to continue it,
/// and its files stay as they were.
#[test]
fn an_explicit_run_dir_holding_a_run_is_never_written_over() {
    let run = temp_dir("taken").join("run");
    run_quick(&run, &["--epochs", "1"]);
    let before: Vec<Vec<u8>> = ["config.toml", "steps.csv", "checkpoints/last.safetensors"]
        .iter()
        .map(|f| std::fs::read(run.join(f)).unwrap())
        .collect();
    let args = quick(&run, &["--epochs", "2", "--seed", "3"]);
    let err = common::fails(onecycle(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert!(
        err.contains("holds a run already") && err.contains(&format!("--resume {}", run.display())),
        "{err}"
    );
    let after: Vec<Vec<u8>> = ["config.toml", "steps.csv", "checkpoints/last.safetensors"]
        .iter()
        .map(|f| std::fs::read(run.join(f)).unwrap())
        .collect();
    assert!(before == after, "the run's files changed");
}

/// A peak LR far too high on a short run: the guard judges the first steps against the first
/// loss, so training stops with an error naming the step and LR instead of ending "successfully"
/// with a loss of 1e8.
#[test]
fn a_far_too_high_lr_is_caught_in_the_first_steps() {
    let run = temp_dir("lr-1000").join("run");
    let mut args = quick(&run, &["--epochs", "1"]);
    let at = args.iter().position(|a| a == "--max-lr").unwrap();
    args[at + 1] = "1000".into();
    let err = common::fails(onecycle(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert!(err.contains("training diverged at step"), "{err}");
    let steps: usize = err
        .split("diverged at step ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    assert!(steps < 6, "stopped at step {steps}: {err}");
}

/// Ctrl-C mid-run: training stops after the step in progress with a checkpoint there, says how
/// to resume and exits non-zero; `--resume` then ends with the weights and history of the
/// uninterrupted run, bit for bit.
#[test]
fn ctrl_c_stops_after_the_step_with_a_checkpoint_and_resume_is_exact() {
    let whole = temp_dir("whole-sigint");
    run_quick(&whole, &["--epochs", "6"]);

    let dir = temp_dir("sigint");
    let child = Command::new(env!("CARGO_BIN_EXE_onecycle"))
        .args(quick(&dir, &["--epochs", "6"]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let began = Instant::now();
    while std::fs::read_to_string(dir.join("epochs.csv")).map_or(0, |t| t.lines().count()) < 2 {
        assert!(began.elapsed() < Duration::from_secs(120), "no epoch ended");
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: a plain signal to the child this test started.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the run ended before Ctrl-C: {err}");
    assert!(
        err.contains("interrupted") && err.contains(&format!("--resume {}", dir.display())),
        "{err}"
    );
    // The checkpoint is at the step after the last row of steps.csv.
    let rows = std::fs::read_to_string(dir.join("steps.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert!(rows < 36, "the run had finished");
    let meta = checkpoint(&dir)
        .into_iter()
        .find(|(n, _)| n == "meta.json")
        .unwrap()
        .1;
    let meta: serde_json::Value =
        serde_json::from_slice(&Vec::<u8>::try_from(&meta).unwrap()).unwrap();
    assert_eq!(meta["position"]["step"], rows as u64);

    ok(onecycle(&[
        "fit",
        "--quiet",
        "--resume",
        dir.to_str().unwrap(),
    ]));
    for ((na, ta), (nb, tb)) in checkpoint(&whole).iter().zip(&checkpoint(&dir)) {
        assert_eq!(na, nb);
        if na != "meta.json" {
            assert!(ta.equal(tb), "{na} differs after resume");
        }
    }
    assert_eq!(
        std::fs::read_to_string(whole.join("steps.csv")).unwrap(),
        std::fs::read_to_string(dir.join("steps.csv")).unwrap(),
    );
    assert_eq!(
        csv_without_seconds(&whole.join("epochs.csv")),
        csv_without_seconds(&dir.join("epochs.csv"))
    );
    same_summary(&whole, &dir);
}

/// A resumed run's `summary.json` describes the whole run as the uninterrupted one's does.
fn same_summary(whole: &Path, resumed: &Path) {
    let read = |d: &Path| {
        record::Summary::read(&d.join("summary.json"))
            .unwrap()
            .unwrap()
    };
    let (a, b) = (read(whole), read(resumed));
    assert_eq!((a.epochs, a.steps), (b.epochs, b.steps));
    assert_eq!(a.accuracy, b.accuracy);
    assert_eq!(a.valid_loss, b.valid_loss);
    // The seconds of the epochs before the interruption count too.
    let history = record::History::read(resumed).unwrap();
    let first: f64 = history.epochs[0].seconds;
    assert!(b.seconds > first, "{} s is not the whole run", b.seconds);
}

/// `--resume` continues the run as set up: flags that would change the training are refused by
/// name; those that cannot (data path, loader threads, device, TTA) apply and are recorded.
#[test]
fn resume_refuses_changed_training_settings_and_records_the_others() {
    let dir = temp_dir("resume-flags");
    run_quick(&dir, &["--epochs", "1"]);
    let d = dir.to_str().unwrap();
    let err = common::fails(onecycle(&[
        "fit", "--quiet", "--resume", d, "--model", "resnet20", "--epochs", "3", "--max-lr", "0.1",
    ]));
    assert!(
        err.contains("model (\"small-cnn\" → \"resnet20\")")
            && err.contains("epochs (1 → 3)")
            && err.contains("schedule")
            && err.contains("config.toml"),
        "{err}"
    );
    let err = common::fails(onecycle(&["fit", "--resume", d, "--max-lr", "auto"]));
    assert!(err.contains("keeps its schedule"), "{err}");
    // The same values as saved are no change.
    ok(onecycle(&[
        "fit",
        "--quiet",
        "--resume",
        d,
        "--model",
        "small-cnn",
        "--workers",
        "2",
        "--tta",
    ]));
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(
        config.contains("workers = 2") && config.contains("tta = true"),
        "{config}"
    );
    let summary = record::Summary::read(&dir.join("summary.json"))
        .unwrap()
        .unwrap();
    assert!(summary.tta_accuracy.is_some());
    assert_eq!((summary.epochs, summary.steps), (1, 6));
}

/// `--accumulate N`: N batches a step, the schedule counted in steps, recorded in the config.
#[test]
fn accumulate_makes_a_step_of_several_batches_and_is_recorded() {
    let dir = temp_dir("accumulate");
    let args = [
        "fit",
        "--model",
        "small-cnn",
        "--batch",
        "32",
        "--accumulate",
        "4",
        "--limit-train",
        "256",
        "--limit-valid",
        "64",
        "--epochs",
        "2",
        "--quiet",
        "--run-dir",
    ];
    let mut args = args.to_vec();
    args.push(dir.to_str().unwrap());
    ok(onecycle(&args));
    let steps = std::fs::read_to_string(dir.join("steps.csv")).unwrap();
    assert_eq!(steps.lines().count(), 1 + 2 * 2, "{steps}");
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(config.contains("accumulate = 4"), "{config}");
    let other = temp_dir("accumulate-few");
    let o = other.to_str().unwrap();
    fails_with(
        &["fit", "--accumulate", "0", "--run-dir", o],
        "accumulate must be at least 1",
    );
    fails_with(
        &[
            "fit",
            "--model",
            "small-cnn",
            "--batch",
            "32",
            "--accumulate",
            "4",
            "--limit-train",
            "256",
            "--epochs",
            "1",
            "--run-dir",
            o,
        ],
        "256 training images in batches of 32, 4 a step give 2 per epoch",
    );
}
