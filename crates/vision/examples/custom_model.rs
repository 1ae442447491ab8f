//! The library from Rust on a model you define: a small CNN written with tch's `nn`, trained with
//! the 1cycle policy at the LR a range test suggests, on the embedded CIFAR-10 sample, with
//! history written to a run folder.
//!
//! scripts/cargo run --release -p vision --example custom_model [-- EPOCHS]

use anyhow::Result;
use onecycle::history::RunLog;
use onecycle::learner::{cross_entropy, Learner, TrainConfig};
use onecycle::lr_find::LrFindOptions;
use onecycle::metrics::accuracy;
use onecycle::optim::WdMode;
use onecycle::progress::Progress;
use schedule::{OneCycleParams, Rule};
use tch::{nn, nn::ModuleT, Device, Tensor};
use vision::{DataOptions, ImageData};

/// Two conv blocks and a linear head; the variables live under "features" and "head", which
/// become the two layer groups (for discriminative learning rates or freezing).
#[derive(Debug)]
struct MyNet {
    features: nn::SequentialT,
    head: nn::Linear,
}

impl MyNet {
    fn new(root: &nn::Path) -> MyNet {
        let f = root / "features";
        let block = |p: nn::Path, cin, cout| {
            nn::seq_t()
                .add(nn::conv2d(
                    &p / "conv",
                    cin,
                    cout,
                    3,
                    nn::ConvConfig {
                        padding: 1,
                        ..Default::default()
                    },
                ))
                .add(nn::batch_norm2d(&p / "bn", cout, Default::default()))
                .add_fn(|x| x.relu().max_pool2d_default(2))
        };
        MyNet {
            features: nn::seq_t()
                .add(block(&f / "b1", 3, 32))
                .add(block(&f / "b2", 32, 64)),
            head: nn::linear(root / "head", 64, 10, Default::default()),
        }
    }
}

impl ModuleT for MyNet {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let x = self
            .features
            .forward_t(xs, train)
            .adaptive_avg_pool2d([1, 1])
            .flatten(1, -1);
        x.apply(&self.head)
    }
}

fn main() -> Result<()> {
    onecycle::engine::init();
    let epochs: usize = std::env::args().nth(1).map_or(Ok(4), |a| a.parse())?;
    let (train, valid) = vision::sample::cifar10_sample();
    let options = DataOptions {
        batch: 128,
        workers: 1,
        augment: true,
        limit_train: None,
        limit_valid: None,
        seed: 0,
    };
    let data = ImageData::new(train, valid, &options)?;

    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = MyNet::new(&vs.root());
    let config = TrainConfig {
        wd: 1e-2,
        wd_mode: WdMode::Decoupled,
        ..TrainConfig::default()
    };
    let run_dir = std::path::Path::new("runs/custom-model");
    let mut learn = Learner::builder(vs, net, data)
        .loss(cross_entropy(0.0))
        .groups(2, |name| usize::from(name.starts_with("head")))
        .config(config)
        .metric(accuracy())
        .callback(Progress::new(false))
        .callback(RunLog::create(run_dir)?)
        .build()?;

    // The range test picks the peak LR (and puts the weights back), then one cycle at it.
    let found = learn.lr_find(&LrFindOptions::default())?;
    let max_lr = found.suggest(Rule::Valley).map_or(0.05, |s| s.lr);
    println!("range test: valley suggests max_lr {max_lr:.3e}");
    let summary = learn.fit_one_cycle(
        epochs,
        OneCycleParams {
            max_lr,
            ..Default::default()
        },
    )?;
    println!(
        "accuracy {:.4} after {} steps in {:.1}s; history in {}",
        summary.final_metric("accuracy").unwrap_or(f64::NAN),
        summary.steps,
        summary.seconds,
        run_dir.display()
    );
    Ok(())
}
