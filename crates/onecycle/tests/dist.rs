//! Data-parallel training over c10d/Gloo on 127.0.0.1, with worker processes spawned from this
//! test binary: two ranks with half the global batch each end with the weights of one process
//! with the whole batch, the range test stops at the same step on every rank, and killing one
//! rank ends the other with an error within seconds.

use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Result;
use onecycle::amp::Precision;
use onecycle::data::TensorData;
use onecycle::data::{Shard, Sharded};
use onecycle::dist::{self, Ddp, DistOptions, ProcessGroup};
use onecycle::learner::{mse, Learner, TrainConfig};
use onecycle::lr_find::LrFindOptions;
use onecycle::strategy::Strategy;
use schedule::{ConstantParams, Policy};
use tch::{nn, Device, Kind, Tensor};

mod common;

/// y = relu-MLP target + noise: 249 rows (the last batch of 32 is 25, split 12/13 over two
/// ranks) and 67 validation rows (the last batch of 3 split 1/2).
fn data() -> TensorData {
    tch::manual_seed(0);
    let opts = (Kind::Float, Device::Cpu);
    let w = Tensor::randn([8, 1], opts);
    let make = |n: i64| {
        let x = Tensor::randn([n, 8], opts);
        let y = x.matmul(&w).relu() + Tensor::randn([n, 1], opts) * 0.1;
        (x, y)
    };
    TensorData {
        train: make(249),
        valid: Some(make(67)),
        batch_size: 32,
        shuffle: true,
        seed: 7,
    }
}

/// An MLP, its weights initialised from `seed`; with `batch_norm`, a [`dist::BatchNorm`] after
/// the first layer.
fn learner(shard: Shard, seed: i64, batch_norm: bool) -> Learner<Sharded<TensorData>> {
    let data = Sharded {
        inner: data(),
        shard,
    };
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let root = vs.root();
    let mut net = nn::seq_t().add(nn::linear(&root / "fc1", 8, 32, Default::default()));
    if batch_norm {
        net = net.add(dist::BatchNorm::new(
            &root / "bn",
            1,
            32,
            Default::default(),
        ));
    }
    let net = net
        .add_fn(|x| x.relu())
        .add(nn::linear(&root / "fc2", 32, 1, Default::default()));
    let config = TrainConfig {
        wd: 5e-4,
        momentum: 0.9,
        ..TrainConfig::default()
    };
    Learner::builder(vs, net, data)
        .loss(mse())
        .config(config)
        .build()
        .unwrap()
}

/// What a worker process does, chosen by `ONECYCLE_DIST_TEST` (`fit`, `lr_find` or `forever`);
/// its results go to the file `ONECYCLE_DIST_OUT`, one number per line.
fn work(role: &str, out: &Path) -> Result<()> {
    let var = |k: &str| std::env::var(k).unwrap();
    let world: usize = var("ONECYCLE_DIST_WORLD").parse()?;
    let rank: usize = var("ONECYCLE_DIST_RANK").parse()?;
    // The model: `mlp`, `bn` (batch norm, per-rank statistics) or `sync-bn`.
    let model = std::env::var("ONECYCLE_DIST_MODEL").unwrap_or_else(|_| "mlp".into());
    // Every rank starts from different weights: rank 0's must reach the others.
    let mut learner = learner(Shard { rank, world }, 1 + rank as i64, model != "mlp");
    if world > 1 {
        let options = DistOptions {
            url: var("ONECYCLE_DIST_URL"),
            world_size: world,
            rank,
            timeout: Duration::from_secs(30),
        };
        let mut group = ProcessGroup::new(&options)?;
        if let Ok(bytes) = std::env::var("ONECYCLE_DIST_BUCKET") {
            group.set_bucket_bytes(bytes.parse()?);
        }
        let group = Rc::new(group);
        let ddp = Ddp::new(group, learner.var_store(), model == "sync-bn")?;
        learner.set_strategy(ddp);
    }
    let constant = |lr| Policy::Constant(ConstantParams { lr, momentum: None });
    let numbers: Vec<f64> = match role {
        "fit" => {
            // The weights, then each epoch's validation loss (every rank validates its share).
            let summary = learner.fit(3, &constant(0.05))?;
            let mut vars: Vec<(String, Tensor)> =
                learner.var_store().variables().into_iter().collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            let flat: Vec<Tensor> = vars.iter().map(|(_, t)| t.flatten(0, -1)).collect();
            let mut numbers = Vec::try_from(&Tensor::cat(&flat, 0).to_kind(Kind::Double))?;
            numbers.extend(summary.epochs.iter().map(|e| e.valid_loss));
            numbers
        }
        "lr_find" => {
            let options = LrFindOptions {
                start_lr: 1e-4,
                end_lr: 100.0,
                num_it: 60,
                ..LrFindOptions::default()
            };
            let found = learner.lr_find(&options)?;
            found.smooth_losses()
        }
        _ => {
            println!("training");
            learner.fit(100_000, &constant(1e-3))?;
            Vec::new()
        }
    };
    let text: Vec<String> = numbers.iter().map(|v| format!("{v:?}")).collect();
    std::fs::write(out, text.join("\n"))?;
    Ok(())
}

#[test]
#[ignore = "a worker process of the other tests, started by them"]
fn dist_worker() {
    let role = std::env::var("ONECYCLE_DIST_TEST").expect("run by the other tests");
    let out = PathBuf::from(std::env::var("ONECYCLE_DIST_OUT").unwrap());
    if let Err(e) = work(&role, &out) {
        eprintln!("error: {e:#}");
        std::process::exit(3);
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onecycle-dist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `world` worker processes (rank 0 first) doing `role` with the MLP; rank r writes
/// `dir/r.txt`.
fn spawn(role: &str, world: usize, dir: &Path) -> Vec<Child> {
    spawn_model(role, "mlp", world, dir)
}

/// [`spawn`] with `model` (`mlp`, `bn` or `sync-bn`).
fn spawn_model(role: &str, model: &str, world: usize, dir: &Path) -> Vec<Child> {
    spawn_with(role, model, dist::BUCKET_BYTES, world, dir)
}

/// [`spawn_model`] with gradient buckets of at most `bucket_bytes`.
fn spawn_with(
    role: &str,
    model: &str,
    bucket_bytes: usize,
    world: usize,
    dir: &Path,
) -> Vec<Child> {
    std::fs::create_dir_all(dir).unwrap();
    let url = format!("tcp://127.0.0.1:{}", free_port());
    (0..world)
        .map(|rank| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "dist_worker",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                    "--quiet",
                ])
                .env("ONECYCLE_DIST_TEST", role)
                .env("ONECYCLE_DIST_MODEL", model)
                .env("ONECYCLE_DIST_BUCKET", bucket_bytes.to_string())
                .env("ONECYCLE_DIST_OUT", dir.join(format!("{rank}.txt")))
                .env("ONECYCLE_DIST_URL", &url)
                .env("ONECYCLE_DIST_WORLD", world.to_string())
                .env("ONECYCLE_DIST_RANK", rank.to_string())
                .env("OMP_NUM_THREADS", "1")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect()
}

/// Waits for every worker; panics with its stderr if one failed. Returns each rank's numbers.
fn results(children: Vec<Child>, dir: &Path) -> Vec<Vec<f64>> {
    children
        .into_iter()
        .enumerate()
        .map(|(rank, child)| {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "rank {rank} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = std::fs::read_to_string(dir.join(format!("{rank}.txt"))).unwrap();
            text.lines().map(|l| l.parse().unwrap()).collect()
        })
        .collect()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn two_ranks_with_half_batches_reach_the_weights_of_one_process_with_the_whole_batch() {
    let dir = temp_dir("fit");
    let single = results(spawn("fit", 1, &dir.join("1")), &dir.join("1")).remove(0);
    let pair = results(spawn("fit", 2, &dir.join("2")), &dir.join("2"));
    // 3 epochs of 8 steps from rank 0's initial weights (rank 1 started from others), then the
    // 3 validation losses.
    assert_eq!(pair[0], pair[1], "the ranks' weights differ");
    let diff = max_abs_diff(&single, &pair[0]);
    let scale = single.iter().map(|v| v.abs()).fold(0.0, f64::max);
    eprintln!("2 ranks: {diff:e} from 1 process");
    assert!(
        diff <= 1e-5 * scale.max(1.0),
        "2 ranks differ from 1 process by {diff} (weights up to {scale})"
    );
    // With 256-byte buckets the gradients travel in 3 all-reduces (fc1.weight alone is 1 KB),
    // started one by one during backward: the same result.
    let d = dir.join("small-buckets");
    let small = results(spawn_with("fit", "mlp", 256, 2, &d), &d);
    assert_eq!(small[0], small[1], "the ranks' weights differ");
    let diff = max_abs_diff(&single, &small[0]);
    assert!(diff <= 1e-5 * scale.max(1.0), "small buckets: {diff}");
    // The comparison can fail: training moved the weights far more than the tolerance.
    let start = learner(Shard { rank: 0, world: 1 }, 1, false);
    let mut vars: Vec<(String, Tensor)> = start.var_store().variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let flat: Vec<Tensor> = vars.iter().map(|(_, t)| t.flatten(0, -1)).collect();
    let initial: Vec<f64> = Vec::try_from(&Tensor::cat(&flat, 0).to_kind(Kind::Double)).unwrap();
    let weights = initial.len();
    assert!(max_abs_diff(&initial, &single[..weights]) > 1e-2);
    // The validation losses (each rank evaluated about half of every batch) are the whole set's.
    assert_eq!(single.len(), weights + 3);
    assert!(single[weights..].iter().all(|l| l.is_finite() && *l > 0.0));
}

#[test]
fn synchronised_batch_norm_makes_two_ranks_train_exactly_like_one_process() {
    let dir = temp_dir("sync-bn");
    let run = |model: &str, world: usize| {
        let d = dir.join(format!("{model}-{world}"));
        results(spawn_model("fit", model, world, &d), &d)
    };
    // Weights and running statistics after 3 epochs (the last batch of each is split 12/13).
    let single = run("bn", 1).remove(0);
    let synced = run("sync-bn", 2);
    assert_eq!(synced[0], synced[1], "the ranks' weights differ");
    let scale = single.iter().map(|v| v.abs()).fold(0.0, f64::max);
    let diff = max_abs_diff(&single, &synced[0]);
    assert!(
        diff <= 1e-5 * scale.max(1.0),
        "2 ranks with synchronised batch norm differ from 1 process by {diff} (values up to {scale})"
    );
    // Without synchronisation each rank normalises its own half batch: a different training.
    let local = run("bn", 2).remove(0);
    let apart = max_abs_diff(&single, &local);
    eprintln!("sync-bn: {diff:e} from 1 process; per-rank statistics: {apart:e}");
    assert!(
        apart > 100.0 * diff.max(1e-6),
        "per-rank statistics should train differently: {apart} against {diff}"
    );
}

#[test]
fn the_range_test_stops_at_the_same_step_on_every_rank_as_in_one_process() {
    let dir = temp_dir("lr-find");
    let single = results(spawn("lr_find", 1, &dir.join("1")), &dir.join("1")).remove(0);
    let pair = results(spawn("lr_find", 2, &dir.join("2")), &dir.join("2"));
    assert!(
        single.len() < 60,
        "the sweep to lr 100 should diverge and stop early, ran {}",
        single.len()
    );
    assert_eq!(pair[0], pair[1], "the ranks recorded different losses");
    assert_eq!(pair[0].len(), single.len(), "stopped at a different step");
    let finite: Vec<(f64, f64)> = single
        .iter()
        .zip(&pair[0])
        .filter(|(a, b)| a.is_finite() && b.is_finite() && a.abs() < 1e3)
        .map(|(a, b)| (*a, *b))
        .collect();
    for (i, (a, b)) in finite.iter().enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * a.abs().max(1.0),
            "row {i}: {a} vs {b}"
        );
    }
}

#[test]
fn killing_one_rank_ends_the_other_with_an_error_naming_the_cause() {
    let dir = temp_dir("kill");
    let mut children = spawn("forever", 2, &dir);
    // Both ranks joined and train once rank 0 says so (it prints after the group formed).
    let mut stdout = BufReader::new(children[0].stdout.take().unwrap());
    let mut line = String::new();
    while line.trim() != "training" {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "rank 0 ended early"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut victim = children.pop().unwrap();
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    let killed = Instant::now();
    let survivor = children.pop().unwrap().wait_with_output().unwrap();
    let took = killed.elapsed();
    let stderr = String::from_utf8_lossy(&survivor.stderr);
    assert!(!survivor.status.success(), "rank 0 ended successfully");
    assert!(
        took < Duration::from_secs(20),
        "rank 0 took {took:?} to stop"
    );
    assert!(
        stderr.contains("rank 0 of 2") && stderr.contains("another rank has probably exited"),
        "{stderr}"
    );
}

#[test]
fn validation_under_a_split_evaluates_only_this_ranks_rows_and_reports_the_totals() {
    // 128 validation images in batches of 64: rank 1 of 3 takes rows 21..42 of each.
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = nn::seq_t().add_fn(|x| x.flatten(1, -1)).add(nn::linear(
        vs.root() / "fc",
        64,
        4,
        Default::default(),
    ));
    let mut learner = common::classifier(vs, net, common::quadrants(0), Precision::Fp32);
    /// Rank 1 of 3, as if the other ranks had the same validation sums; records this rank's.
    struct ThreeRanks(Rc<RefCell<Vec<f64>>>);
    impl Strategy for ThreeRanks {
        fn reduce_loss(&mut self, loss: f64, items: usize) -> Result<(f64, usize)> {
            Ok((loss, items))
        }
        fn sync_grads(&mut self, _: &[Tensor], _: &mut [Tensor]) -> Result<()> {
            Ok(())
        }
        fn valid_shard(&self) -> Option<Shard> {
            Some(Shard { rank: 1, world: 3 })
        }
        fn reduce_sums(&mut self, sums: &mut [f64]) -> Result<()> {
            *self.0.borrow_mut() = sums.to_vec();
            sums.iter_mut().for_each(|s| *s *= 3.0);
            Ok(())
        }
        fn is_lead(&self) -> bool {
            false
        }
    }
    let seen = Rc::new(RefCell::new(Vec::new()));
    learner.set_strategy(ThreeRanks(seen.clone()));
    let (loss, metrics) = learner.validate().unwrap();
    let sums = seen.borrow().clone();
    // Loss × items, items, then accuracy's hits and items.
    assert_eq!(sums.len(), 4);
    assert_eq!(sums[1], 42.0);
    assert_eq!(sums[3], 42.0);
    assert!((loss - sums[0] / sums[1]).abs() < 1e-12);
    assert_eq!(metrics[0].1, sums[2] / sums[3]);
}
