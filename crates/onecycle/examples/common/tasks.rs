//! Two small non-image tasks for the Learner, shared by the examples and the tests: tabular
//! regression on generated data, and a character-level language model on Shakespeare's sonnets.
#![allow(dead_code)]

use onecycle::data::TensorData;
use onecycle::learner::{mse, Learner, LossFn, TrainConfig};
use onecycle::metrics::accuracy;
use tch::{nn, nn::Module, nn::RNN, Device, Kind, Tensor};

/// A few KB of public-domain text (six of Shakespeare's sonnets).
pub const SONNETS: &str = include_str!("../../assets/sonnets.txt");

/// `y = sin(2·x₀) + x₁·x₂ − 0.5·x₃ + noise` over 8 features: 1024 training and 256 validation rows.
pub fn tabular_data(seed: i64) -> TensorData {
    tch::manual_seed(seed);
    let opts = (Kind::Float, Device::Cpu);
    let make = |n: i64| {
        let x = Tensor::randn([n, 8], opts);
        let col = |i: i64| x.narrow(1, i, 1);
        let y = (col(0) * 2.0).sin() + col(1) * col(2) - col(3) * 0.5
            + Tensor::randn([n, 1], opts) * 0.05;
        (x, y)
    };
    TensorData {
        train: make(1024),
        valid: Some(make(256)),
        batch_size: 64,
        shuffle: true,
        seed: seed as u64,
    }
}

/// An MLP (8 → 64 → 64 → 1 with batch norm) trained with MSE; one layer group.
pub fn tabular_learner(seed: i64, config: TrainConfig) -> Learner<TensorData> {
    let data = tabular_data(seed);
    tch::manual_seed(seed + 1);
    let vs = nn::VarStore::new(Device::Cpu);
    let p = vs.root();
    let net = nn::seq_t()
        .add(nn::linear(&p / "fc1", 8, 64, Default::default()))
        .add(nn::batch_norm1d(&p / "bn1", 64, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(&p / "fc2", 64, 64, Default::default()))
        .add_fn(|x| x.relu())
        .add(nn::linear(&p / "out", 64, 1, Default::default()));
    Learner::builder(vs, net, data)
        .loss(mse())
        .config(config)
        .build()
        .expect("a valid model")
}

/// The characters of `text` in sorted order, and `text` as indices into them.
pub fn encode(text: &str) -> (Vec<char>, Vec<i64>) {
    let mut vocab: Vec<char> = text.chars().collect();
    vocab.sort_unstable();
    vocab.dedup();
    let ids = text
        .chars()
        .map(|c| vocab.binary_search(&c).expect("in vocab") as i64)
        .collect();
    (vocab, ids)
}

/// Windows of `seq` characters (input) and the same shifted by one (target), every `seq / 2`
/// characters; the last eighth of the text is the validation set.
pub fn char_data(text: &str, seq: usize, batch: usize) -> (TensorData, usize) {
    let (vocab, ids) = encode(text);
    let split = ids.len() * 7 / 8;
    let windows = |ids: &[i64]| {
        let starts: Vec<usize> = (0..ids.len().saturating_sub(seq + 1))
            .step_by(seq / 2)
            .collect();
        let mut x = Vec::with_capacity(starts.len() * seq);
        let mut y = Vec::with_capacity(starts.len() * seq);
        for &s in &starts {
            x.extend_from_slice(&ids[s..s + seq]);
            y.extend_from_slice(&ids[s + 1..s + seq + 1]);
        }
        let n = starts.len() as i64;
        (
            Tensor::from_slice(&x).view([n, seq as i64]),
            Tensor::from_slice(&y).view([n, seq as i64]),
        )
    };
    let data = TensorData {
        train: windows(&ids[..split]),
        valid: Some(windows(&ids[split..])),
        batch_size: batch,
        shuffle: true,
        seed: 3,
    };
    (data, vocab.len())
}

/// Embedding → one-layer LSTM → linear over the vocabulary, at every position.
#[derive(Debug)]
pub struct CharLm {
    embed: nn::Embedding,
    lstm: nn::LSTM,
    head: nn::Linear,
}

impl CharLm {
    pub fn new(p: &nn::Path, vocab: i64, embed: i64, hidden: i64) -> CharLm {
        CharLm {
            embed: nn::embedding(p / "embed", vocab, embed, Default::default()),
            lstm: nn::lstm(p / "lstm", embed, hidden, Default::default()),
            head: nn::linear(p / "head", hidden, vocab, Default::default()),
        }
    }
}

impl nn::ModuleT for CharLm {
    fn forward_t(&self, xs: &Tensor, _train: bool) -> Tensor {
        let (out, _) = self.lstm.seq(&self.embed.forward(xs));
        self.head.forward(&out)
    }
}

/// Cross-entropy over every position of `[batch, seq, vocab]` outputs and `[batch, seq]` targets.
pub fn sequence_cross_entropy() -> LossFn {
    Box::new(|out, target| {
        out.flatten(0, 1).cross_entropy_loss::<Tensor>(
            &target.flatten(0, 1),
            None,
            tch::Reduction::Mean,
            -100,
            0.0,
        )
    })
}

/// A character-level LSTM language model on the sonnets, with next-character accuracy.
pub fn char_learner(seed: i64, config: TrainConfig) -> Learner<TensorData> {
    let (data, vocab) = char_data(SONNETS, 32, 16);
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = CharLm::new(&vs.root(), vocab as i64, 24, 96);
    let mut learner = Learner::builder(vs, net, data)
        .loss(sequence_cross_entropy())
        .config(config)
        .build()
        .expect("a valid model");
    learner.add_metric(Box::new(accuracy()));
    learner
}

/// The examples' `tune` (Smith's approach for any Learner): range tests by weight decay and by
/// momentum with `options`, each saved (CSV and chart) under `out`; prints every decision.
pub fn tune_and_save(
    learner: &mut Learner<TensorData>,
    options: &onecycle::tune::TuneOptions,
    out: &std::path::Path,
    title: &str,
) -> anyhow::Result<onecycle::tune::Tuning> {
    let tuning = learner.tune(options)?;
    report::lr_find::save_run(&tuning.lr_test, out, "lr_find", title)?;
    for t in &tuning.wd_tests {
        report::lr_find::save_run(t, out, &record::wd_stem(t.wd), title)?;
    }
    for t in &tuning.momentum_tests {
        let m = t.options.momentum.unwrap_or(f64::NAN);
        report::lr_find::save_run(t, out, &record::momentum_stem(m), title)?;
    }
    println!("max_lr {:.3e}: {}", tuning.lr.max_lr, tuning.lr.why);
    println!("wd {}: {}", tuning.wd.wd, tuning.wd.why);
    let (hi, lo) = tuning.momentum.moms;
    println!("momentum {hi} → {lo}: {}", tuning.momentum.why);
    Ok(tuning)
}
