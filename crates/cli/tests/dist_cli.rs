//! Data-parallel training from the command line on 127.0.0.1: `onecycle launch --nproc 2 -- fit`
//! trains with rank 0 alone writing the run folder and printing, `lr-find` runs under it too, a
//! failing rank fails the launch naming it, and a rank whose peers never come stops at the timeout.

use std::time::{Duration, Instant};

mod common;
use common::{fails, ok, onecycle, temp_dir};

/// A quick run: small CNN, 256 training and 64 validation images, global batch 64 (32 per rank).
const QUICK: &[&str] = &[
    "--model",
    "small-cnn",
    "--batch",
    "64",
    "--limit-train",
    "256",
    "--limit-valid",
    "64",
];

fn args<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    head.iter().chain(QUICK).chain(tail).copied().collect()
}

#[test]
fn launch_trains_two_ranks_and_only_rank_0_writes_the_run() {
    let dir = temp_dir("launch-fit");
    let run = dir.join("run");
    let out = ok(onecycle(&args(
        &["launch", "--nproc", "2", "--", "fit"],
        &[
            "--epochs",
            "2",
            "--max-lr",
            "0.05",
            "--quiet",
            "--run-dir",
            run.to_str().unwrap(),
        ],
    )));
    let summaries: Vec<&str> = out.lines().filter(|l| l.contains("accuracy ")).collect();
    assert_eq!(summaries.len(), 1, "one summary, from rank 0: {out}");
    assert!(summaries[0].starts_with("[rank 0] accuracy "), "{out}");
    // 256 images in global batches of 64: 4 steps per epoch, as for one process.
    assert!(summaries[0].contains("2 epochs, 8 steps"), "{out}");
    let steps = std::fs::read_to_string(run.join("steps.csv")).unwrap();
    assert_eq!(steps.lines().count(), 1 + 8);
    assert!(run.join("checkpoints/last.safetensors").is_file());
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(entries.len(), 1, "only rank 0's run folder exists");
}

#[test]
fn lr_find_runs_under_launch_with_rank_0_reporting() {
    let dir = temp_dir("launch-lr-find");
    let out = ok(onecycle(&args(
        &["launch", "--nproc", "2", "--", "lr-find"],
        &["--num-it", "12", "--run-dir", dir.to_str().unwrap()],
    )));
    assert!(out.contains("[rank 0] wd "), "{out}");
    assert!(!out.contains("[rank 1] wd "), "{out}");
    let csv = std::fs::read_to_string(dir.join("lr_find.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 12);
}

#[test]
fn a_failing_rank_fails_the_launch_naming_it() {
    let dir = temp_dir("launch-fail");
    // Rank 0 alone writes the run folder, and cannot: a file stands in its place.
    let blocked = dir.join("blocked");
    std::fs::write(&blocked, "not a folder").unwrap();
    let began = Instant::now();
    let err = fails(onecycle(&args(
        &["launch", "--nproc", "2", "--", "fit"],
        &[
            "--epochs",
            "1",
            "--quiet",
            "--run-dir",
            blocked.to_str().unwrap(),
        ],
    )));
    assert!(began.elapsed() < Duration::from_secs(60));
    assert!(err.contains("[rank 0] error: creating"), "{err}");
    // Rank 1 fails too once rank 0 has gone; whichever exit the launcher saw first is named.
    assert!(
        err.contains("error: rank 0 of 2 failed") || err.contains("error: rank 1 of 2 failed"),
        "{err}"
    );
    assert!(err.contains("the other ranks were stopped"), "{err}");
}

#[test]
fn a_global_batch_smaller_than_the_processes_is_refused_saying_so() {
    let dir = temp_dir("launch-tiny-batch");
    let run = dir.join("run");
    let err = fails(onecycle(&[
        "launch",
        "--nproc",
        "3",
        "--",
        "fit",
        "--model",
        "small-cnn",
        "--batch",
        "2",
        "--limit-train",
        "64",
        "--run-dir",
        run.to_str().unwrap(),
    ]));
    assert!(
        err.contains(
            "batch 2 is the global batch, split over the 3 processes: it must be at least 3"
        ),
        "{err}"
    );
    assert!(!run.join("config.toml").exists());
}

#[test]
fn a_rank_whose_peers_never_join_stops_at_the_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    let began = Instant::now();
    let err = fails(onecycle(&args(
        &["fit"],
        &[
            "--dist-url",
            &url,
            "--world-size",
            "2",
            "--rank",
            "0",
            "--dist-timeout",
            "2",
        ],
    )));
    let took = began.elapsed();
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert!(
        err.contains("rank 0 of 2: joining the process group"),
        "{err}"
    );
}

#[test]
fn incomplete_or_inconsistent_distributed_flags_are_refused() {
    let err = fails(onecycle(&["fit", "--world-size", "2"]));
    assert!(
        err.contains("needs all of --dist-url, --world-size and --rank"),
        "{err}"
    );
    let err = fails(onecycle(&[
        "fit",
        "--dist-url",
        "tcp://127.0.0.1:1",
        "--world-size",
        "2",
        "--rank",
        "2",
    ]));
    assert!(err.contains("rank must be in 0..2"), "{err}");
    let err = fails(onecycle(&[
        "fit",
        "--dist-url",
        "127.0.0.1:29500",
        "--world-size",
        "2",
        "--rank",
        "0",
    ]));
    assert!(err.contains("tcp://HOST:PORT"), "{err}");
}

/// Column `name` of a CSV file.
fn column(path: &std::path::Path, name: &str) -> Vec<f64> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let index = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no {name} column in {}", path.display()));
    reader
        .records()
        .map(|r| r.unwrap()[index].parse().unwrap())
        .collect()
}

#[test]
fn with_sync_bn_two_ranks_record_the_losses_of_one_process() {
    let dir = temp_dir("launch-sync-bn");
    let fit = |head: &[&str], name: &str, extra: &[&str]| {
        let run = dir.join(name);
        let mut tail = vec!["--epochs", "2", "--max-lr", "0.05", "--quiet"];
        tail.extend_from_slice(extra);
        tail.extend_from_slice(&["--run-dir", run.to_str().unwrap()]);
        ok(onecycle(&args(head, &tail)));
        column(&run.join("steps.csv"), "loss")
    };
    let single = fit(&["fit"], "single", &[]);
    let synced = fit(
        &["launch", "--nproc", "2", "--", "fit"],
        "synced",
        &["--sync-bn"],
    );
    assert_eq!(single.len(), 8);
    assert_eq!(synced.len(), 8);
    for (step, (a, b)) in single.iter().zip(&synced).enumerate() {
        assert!((a - b).abs() <= 1e-4 * a.abs(), "step {step}: {a} vs {b}");
    }
    // Each rank normalising its own 32 images trains differently.
    let local = fit(&["launch", "--nproc", "2", "--", "fit"], "local", &[]);
    let apart = single
        .iter()
        .zip(&local)
        .map(|(a, b)| (a - b).abs() / a.abs())
        .fold(0.0, f64::max);
    assert!(
        apart > 2e-3,
        "per-rank statistics gave the same losses ({apart})"
    );
    // Each rank validated half of the 64 images; the sums make the whole set's numbers.
    let single_valid = column(&dir.join("single/epochs.csv"), "valid_loss");
    let synced_valid = column(&dir.join("synced/epochs.csv"), "valid_loss");
    for (a, b) in single_valid.iter().zip(&synced_valid) {
        assert!(
            (a - b).abs() <= 1e-4 * a.abs(),
            "validation loss {a} vs {b}"
        );
    }
    assert_eq!(
        column(&dir.join("single/epochs.csv"), "accuracy"),
        column(&dir.join("synced/epochs.csv"), "accuracy")
    );
    let config = std::fs::read_to_string(dir.join("synced/config.toml")).unwrap();
    assert!(config.contains("sync_bn = true"), "{config}");
    // Accumulating 2 batches of 64 a step: the ranks sum their batches' gradients locally and
    // all-reduce once a step, which trains as one process accumulating does.
    let acc = ["--accumulate", "2"];
    let single = fit(&["fit"], "single-acc", &acc);
    let mut extra = acc.to_vec();
    extra.push("--sync-bn");
    let synced = fit(
        &["launch", "--nproc", "2", "--", "fit"],
        "synced-acc",
        &extra,
    );
    assert_eq!(single.len(), 4);
    assert_eq!(synced.len(), 4);
    for (step, (a, b)) in single.iter().zip(&synced).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * a.abs(),
            "accumulated step {step}: {a} vs {b}"
        );
    }
}

#[test]
fn bench_train_under_launch_reports_the_rate_of_all_ranks_once() {
    let bench = [
        "launch",
        "--nproc",
        "2",
        "--",
        "bench",
        "train",
        "--model",
        "small-cnn",
        "--batch",
        "8",
        "--warmup",
        "1",
        "--device",
        "cpu",
        "--json",
    ];
    let mut with_steps = bench.to_vec();
    with_steps.extend(["--steps", "3"]);
    let out = ok(onecycle(&with_steps));
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("images_per_sec"))
        .collect();
    assert_eq!(lines.len(), 1, "rank 0 alone reports: {out}");
    let json: serde_json::Value =
        serde_json::from_str(lines[0].trim_start_matches("[rank 0] ")).unwrap();
    assert_eq!(json["world_size"], 2);
    assert_eq!(json["batch"], 8);
    assert_eq!(json["steps"], 3);
    let rate = json["images_per_sec"].as_f64().unwrap();
    let expected = 3.0 * 8.0 / json["seconds"].as_f64().unwrap();
    assert!(
        (rate - expected).abs() < 1e-6 * expected,
        "{rate} vs {expected}"
    );
    // Timing by seconds would let the ranks take different numbers of steps.
    let err = fails(onecycle(&bench));
    assert!(err.contains("needs --steps N"), "{err}");
}

/// The processes whose parent is `pid` and that are still running (not zombies).
fn live_children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces, so read after its closing paren.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        if fields[1].parse::<u32>() == Ok(pid) && fields[0] != "Z" {
            out.push(child);
        }
    }
    out
}

/// Whether process `pid` still runs (a zombie or a missing process does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat[stat.rfind(')').unwrap() + 2..].starts_with('Z'))
}

#[test]
fn ranks_die_with_their_launcher_even_on_kill_9() {
    let run = temp_dir("launch-kill").join("run");
    let mut launcher = std::process::Command::new(env!("CARGO_BIN_EXE_onecycle"))
        .args(args(
            &["launch", "--nproc", "2", "--", "fit"],
            &[
                "--epochs",
                "1000",
                "--quiet",
                "--run-dir",
                run.to_str().unwrap(),
            ],
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let began = Instant::now();
    let ranks = loop {
        let ranks = live_children(launcher.id());
        if ranks.len() == 2 {
            break ranks;
        }
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "ranks never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    launcher.kill().unwrap(); // SIGKILL: the launcher cannot stop its ranks itself.
    launcher.wait().unwrap();
    let killed = Instant::now();
    while ranks.iter().any(|&r| alive(r)) {
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "ranks {ranks:?} outlived their launcher"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The weights and buffers of a run's checkpoint, by name, without its metadata.
fn checkpoint(run: &std::path::Path) -> Vec<(String, tch::Tensor)> {
    let path = run.join("checkpoints/last.safetensors");
    let mut t = tch::Tensor::read_safetensors(path).unwrap();
    t.retain(|(name, _)| name != "meta.json");
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

/// Ctrl-C reaches the launcher (the ranks have their own process group): it passes the signal
/// on once, every rank stops after the same step with rank 0's checkpoint there, and resuming
/// under `launch` ends with the uninterrupted run's weights and history.
#[test]
fn ctrl_c_under_launch_stops_every_rank_and_the_resumed_run_is_exact() {
    let dir = temp_dir("launch-sigint");
    let fit = |run: &std::path::Path| {
        let tail = ["--epochs", "6", "--max-lr", "0.05", "--quiet", "--run-dir"];
        let mut v: Vec<String> = args(&["launch", "--nproc", "2", "--", "fit"], &tail)
            .into_iter()
            .map(String::from)
            .collect();
        v.push(run.to_str().unwrap().to_string());
        v
    };
    let whole = dir.join("whole");
    let whole_args = fit(&whole);
    ok(onecycle(
        &whole_args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));

    let run = dir.join("run");
    let launcher = std::process::Command::new(env!("CARGO_BIN_EXE_onecycle"))
        .args(fit(&run))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let began = Instant::now();
    while std::fs::read_to_string(run.join("epochs.csv")).map_or(0, |t| t.lines().count()) < 2 {
        assert!(began.elapsed() < Duration::from_secs(120), "no epoch ended");
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: a plain signal to the child this test started.
    unsafe { libc::kill(launcher.id() as libc::pid_t, libc::SIGINT) };
    let out = launcher.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the run ended before Ctrl-C: {err}");
    assert!(
        err.contains("interrupted") && err.contains(&format!("--resume {}", run.display())),
        "{err}"
    );
    let steps = |r: &std::path::Path| std::fs::read_to_string(r.join("steps.csv")).unwrap();
    assert!(steps(&run).lines().count() < 1 + 24, "the run had finished");

    let resume = ["launch", "--nproc", "2", "--", "fit", "--quiet", "--resume"];
    let mut resume: Vec<&str> = resume.to_vec();
    resume.push(run.to_str().unwrap());
    ok(onecycle(&resume));
    for ((na, ta), (nb, tb)) in checkpoint(&whole).iter().zip(&checkpoint(&run)) {
        assert_eq!(na, nb);
        assert!(ta.equal(tb), "{na} differs after resume");
    }
    assert_eq!(steps(&whole), steps(&run));
}

#[test]
fn tune_runs_under_launch_and_the_ranks_agree_on_every_decision() {
    let run = temp_dir("launch-tune").join("t");
    // No --batch: the ranks search it together (rank 0's timings decide), then tune at it.
    let argv = [
        "launch",
        "--nproc",
        "2",
        "--",
        "tune",
        "--model",
        "small-cnn",
        "--limit-train",
        "640",
        "--limit-valid",
        "64",
        "--epochs",
        "40",
        "--wds",
        "1e-3,0",
        "--momentums",
        "0.95,0.9",
        "--budget",
        "0.5",
        "--quiet",
        "--run-dir",
        run.to_str().unwrap(),
    ];
    let out = ok(onecycle(&argv));
    assert!(out.contains("[rank 0] batch "), "{out}");
    assert!(!out.contains("[rank 1] batch "), "{out}");
    let record = record::tune::TuneRecord::read(&run.join("tune.json")).unwrap();
    // 640 images allow batches up to 32 (20 steps an epoch).
    let sizes: Vec<usize> = record.batch.probes.iter().map(|p| p.batch).collect();
    assert_eq!(sizes, [16, 32]);
    assert!(record.used_steps <= record.budget_steps);
    let recommended = recipe::read_config(&run.join("recommended.toml")).unwrap();
    assert_eq!(recommended.batch, record.batch.batch);
}
