//! A full disk at every write of a run folder. Each run writes into a small tmpfs of its own (a
//! private mount namespace, `unshare -rm`): limiting its inodes makes each new file fail in turn
//! (config, CSVs, the checkpoint folder and file, charts, summary, report), limiting its bytes
//! makes a write fail half-way. Every failure must be one clear line naming the file, leave no
//! partial file, keep every file already written whole, and lose nothing: `--resume` from what
//! was saved ends with the uninterrupted run's weights and history.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tch::Tensor;

mod common;
use common::{ok, onecycle, temp_dir};

/// A quick 2-epoch run: small CNN, 384 training and 128 validation images, 12 steps.
const FIT: &[&str] = &[
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
    "--epochs",
    "2",
    "--quiet",
];

/// Whether this machine lets a test mount a tmpfs in a private namespace. CI sets
/// `ONECYCLE_REQUIRE_TMPFS=1`, where its absence is a failure rather than a skip.
fn tmpfs_works() -> bool {
    let works = Command::new("unshare")
        .args(["-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !works {
        assert!(
            std::env::var_os("ONECYCLE_REQUIRE_TMPFS").is_none(),
            "ONECYCLE_REQUIRE_TMPFS is set but `unshare -rm` cannot mount a tmpfs here"
        );
        eprintln!("skipped: `unshare -rm` cannot mount a tmpfs on this machine");
    }
    works
}

/// Runs `onecycle ARGS… --run-dir <tmpfs>/run` on a tmpfs mounted with `options`, then copies
/// what it left into `out/run` (the tmpfs goes away with the namespace).
fn on_tmpfs(options: &str, args: &[&str], out: &Path) -> Output {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "set -u; m=$(mktemp -d); mount -t tmpfs -o {options} tmpfs \"$m\" || exit 99; \
         '{bin}' {args} --run-dir \"$m/run\"; rc=$?; \
         if [ -d \"$m/run\" ]; then cp -a \"$m/run\" '{out}/'; fi; exit $rc",
        bin = env!("CARGO_BIN_EXE_onecycle"),
        args = quoted.join(" "),
        out = out.display()
    );
    let output = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(99), "mounting the tmpfs failed");
    output
}

/// Every file in `dir` (recursively).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Each file of a run folder is whole: no temporary files, and every file reads. The CSVs are
/// appended to, not replaced: their rows up to the checkpoint are what must survive, and
/// `--resume` checks that (`logs_too` checks them as a finished run's).
fn assert_whole(run: &Path, case: &str, logs_too: bool) {
    for path in files(run) {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        assert!(!name.contains("partial"), "{case}: {name} left behind");
        let bytes = std::fs::read(&path).unwrap();
        let whole = match name.as_str() {
            "config.toml" => recipe::read_config(&path).is_ok(),
            "steps.csv" | "epochs.csv" => !logs_too || record::History::read(run).is_ok(),
            "last.safetensors" => Tensor::read_safetensors(&path).is_ok(),
            "summary.json" => record::Summary::read(&path).is_ok_and(|s| s.is_some()),
            "schedule.png" | "training.png" => {
                bytes.starts_with(b"\x89PNG") && bytes.ends_with(b"IEND\xaeB`\x82")
            }
            "report.html" => String::from_utf8_lossy(&bytes)
                .trim_end()
                .ends_with("</html>"),
            other => panic!("{case}: unexpected file {other}"),
        };
        assert!(whole, "{case}: {name} is damaged");
    }
}

fn checkpoint(run: &Path) -> Vec<(String, Tensor)> {
    let mut t = Tensor::read_safetensors(run.join("checkpoints/last.safetensors")).unwrap();
    t.retain(|(name, _)| name != "meta.json");
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

/// After a failure: the message is one clear line (and a hint), the files are whole, and a
/// resume on a roomy disk ends where the uninterrupted run ended.
fn check_failed_run(out: &Output, run: &Path, whole: &Path, case: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let first = err.lines().next().unwrap_or_default().to_string();
    assert!(
        first.starts_with("error: ") && first.contains("No space left on device"),
        "{case}: {err}"
    );
    for noise in ["panicked", "backtrace", "terminate called", "Exception"] {
        assert!(!err.contains(noise), "{case}: {err}");
    }
    assert_whole(run, case, false);
    if !run.join("checkpoints/last.safetensors").is_file() {
        // Nothing was saved: no hint to resume, and a new run may use the folder.
        assert!(!err.contains("--resume"), "{case}: {err}");
        let mut args = FIT.to_vec();
        args.extend(["--run-dir", run.to_str().unwrap()]);
        ok(onecycle(&args));
        assert_whole(run, case, true);
        return first;
    }
    assert!(
        err.contains("continue it with `onecycle fit --resume"),
        "{case}: {err}"
    );
    ok(onecycle(&[
        "fit",
        "--quiet",
        "--resume",
        run.to_str().unwrap(),
    ]));
    for ((na, ta), (nb, tb)) in checkpoint(whole).iter().zip(&checkpoint(run)) {
        assert_eq!(na, nb);
        assert!(ta.equal(tb), "{case}: {na} differs after resume");
    }
    let read = |p: &Path| std::fs::read_to_string(p.join("steps.csv")).unwrap();
    assert_eq!(read(whole), read(run), "{case}: steps.csv after resume");
    assert_whole(run, case, true);
    first
}

#[test]
fn a_full_disk_at_any_write_fails_clearly_and_loses_nothing() {
    if !tmpfs_works() {
        return;
    }
    let root = temp_dir("disk-full");
    let whole = root.join("whole");
    let mut args = FIT.to_vec();
    args.extend(["--run-dir", whole.to_str().unwrap()]);
    ok(onecycle(&args));

    let mut messages = Vec::new();
    // Inodes: the mount's root is one; each file and folder of the run takes one more (a
    // temporary file as well, while it is written). Bytes: the checkpoint (≈ 760 KB) at the
    // first epoch, the second beside the first, the charts.
    let cases = (2..=12)
        .map(|n| format!("size=8m,nr_inodes={n}"))
        .chain(["size=8k", "size=400k", "size=1000k", "size=1300k"].map(String::from));
    let mut finished = 0;
    for (k, options) in cases.enumerate() {
        let out_dir = root.join(format!("case-{k}"));
        std::fs::create_dir_all(&out_dir).unwrap();
        let out = on_tmpfs(&options, FIT, &out_dir);
        let run = out_dir.join("run");
        if out.status.success() {
            assert_whole(&run, &options, true);
            finished += 1;
            continue;
        }
        messages.push(check_failed_run(&out, &run, &whole, &options));
    }
    // The largest inode limits are enough; every smaller one fails somewhere else.
    assert!(finished <= 3, "{finished} runs never met the full disk");
    for file in [
        "config.toml",
        "steps.csv",
        "checkpoint",
        "epochs.csv",
        "training.png",
        "summary.json",
        "report.html",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(file)),
            "no case failed writing {file}: {messages:#?}"
        );
    }
}

/// The range test's files too: its CSV and chart are whole or absent.
#[test]
fn a_full_disk_during_lr_find_fails_clearly_and_leaves_no_partial_file() {
    if !tmpfs_works() {
        return;
    }
    let root = temp_dir("disk-full-lr-find");
    let args = [
        "lr-find",
        "--model",
        "small-cnn",
        "--limit-train",
        "256",
        "--num-it",
        "20",
    ];
    for n in 2..=4 {
        let out_dir = root.join(format!("inodes-{n}"));
        std::fs::create_dir_all(&out_dir).unwrap();
        let out = on_tmpfs(&format!("size=8m,nr_inodes={n}"), &args, &out_dir);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "inodes {n}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains("No space left on device"),
            "inodes {n}: {err}"
        );
        for path in files(&out_dir.join("run")) {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert!(!name.contains("partial"), "inodes {n}: {name} left behind");
            if name.ends_with(".csv") {
                let text = std::fs::read_to_string(&path).unwrap();
                let fields: Vec<usize> = text.lines().map(|l| l.split(',').count()).collect();
                assert!(
                    text.ends_with('\n') && fields.len() > 1,
                    "inodes {n}: {name}"
                );
                assert!(fields.iter().all(|&f| f == fields[0]), "inodes {n}: {name}");
            }
        }
    }
}
