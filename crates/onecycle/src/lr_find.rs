//! The LR range test (fastai's `lr_find`, the seed's `lr_find2` with per-step validation) and
//! weight-decay tuning with range tests. The model, optimizer state and batch-norm statistics are
//! restored exactly afterwards; the sweep runs the normal loop with only its own callback.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use schedule::{
    Curve, Divergence, Diverging, Rule, SmoothLoss, SuggestError, Suggestion, Sweep, SweepKind,
    SweepParams,
};

use crate::checkpoint::Position;
use crate::data::{Batch, Batches, Data};
use crate::learner::{Callback, Ctx, Flow, Learner, Plan, StepInfo};

/// Settings of one range test; the defaults are fastai's (`1e-7` to `10` over 100 iterations).
#[derive(Debug, Clone, PartialEq)]
pub struct LrFindOptions {
    pub start_lr: f64,
    pub end_lr: f64,
    /// Iterations, independent of the epoch length (the training data is cycled as needed).
    pub num_it: usize,
    /// Exponential (default) or linear spacing of the LRs.
    pub kind: SweepKind,
    /// Stop when the smoothed loss diverges (see [`StopRule`]).
    pub stop_div: bool,
    /// Weight decay during the test; `None` keeps the Learner's.
    pub wd: Option<f64>,
    /// Momentum (β1) during the test; `None` keeps the Learner's.
    pub momentum: Option<f64>,
    /// After every step, evaluate the next validation batch (cyclic) and the metrics (`lr_find2`).
    pub val_each_step: bool,
}

impl Default for LrFindOptions {
    fn default() -> Self {
        LrFindOptions {
            start_lr: 1e-7,
            end_lr: 10.0,
            num_it: 100,
            kind: SweepKind::Exponential,
            stop_div: true,
            wd: None,
            momentum: None,
            val_each_step: false,
        }
    }
}

/// One iteration of a range test.
#[derive(Debug, Clone, PartialEq)]
pub struct LrFindRow {
    pub lr: f64,
    /// Training loss of the batch, before the step.
    pub loss: f64,
    /// Debiased EMA of `loss` (β = 0.98).
    pub smooth_loss: f64,
    /// With per-step validation: loss on the next validation batch after the step.
    pub val_loss: Option<f64>,
    pub val_smooth_loss: Option<f64>,
    /// With per-step validation: each metric on that batch, in `LrFind::metric_names` order.
    pub metrics: Vec<f64>,
}

/// The record of one range test.
#[derive(Debug, Clone, PartialEq)]
pub struct LrFind {
    pub rows: Vec<LrFindRow>,
    pub metric_names: Vec<String>,
    pub options: LrFindOptions,
    /// The weight decay in force during the test.
    pub wd: f64,
    /// Why the test ended before `num_it` iterations, if it did.
    pub stopped: Option<String>,
    pub seconds: f64,
}

impl LrFind {
    pub fn lrs(&self) -> Vec<f64> {
        self.rows.iter().map(|r| r.lr).collect()
    }

    pub fn smooth_losses(&self) -> Vec<f64> {
        self.rows.iter().map(|r| r.smooth_loss).collect()
    }

    /// Whether validation was recorded at every step.
    pub fn has_validation(&self) -> bool {
        self.rows.first().is_some_and(|r| r.val_loss.is_some())
    }

    /// The smoothed curve as fastai's suggestions read it: `num_it / 10` points dropped at the
    /// start and 5 at the end, cut before the first non-finite loss.
    pub fn curve(&self) -> Result<Curve, SuggestError> {
        Curve::fastai(&self.lrs(), &self.smooth_losses(), self.options.num_it)
    }

    pub fn suggest(&self, rule: Rule) -> Result<Suggestion, SuggestError> {
        self.curve()?.suggest(rule)
    }

    /// Every rule's suggestion (or why there is none).
    pub fn suggestions(&self) -> Vec<(Rule, Result<Suggestion, SuggestError>)> {
        match self.curve() {
            Ok(c) => c.suggest_all(),
            Err(e) => Rule::ALL.iter().map(|&r| (r, Err(e.clone()))).collect(),
        }
    }

    /// `lr,loss,smooth_loss[,val_loss,val_smooth_loss,<metric>…]`, one row per iteration.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("lr,loss,smooth_loss");
        let val = self.has_validation();
        if val {
            out.push_str(",val_loss,val_smooth_loss");
            for name in &self.metric_names {
                out.push(',');
                out.push_str(name);
            }
        }
        out.push('\n');
        for r in &self.rows {
            let _ = write!(out, "{:?},{:?},{:?}", r.lr, r.loss, r.smooth_loss);
            if val {
                let v = |x: Option<f64>| x.unwrap_or(f64::NAN);
                let _ = write!(out, ",{:?},{:?}", v(r.val_loss), v(r.val_smooth_loss));
                for m in &r.metrics {
                    let _ = write!(out, ",{m:?}");
                }
            }
            out.push('\n');
        }
        out
    }

    /// Writes [`LrFind::to_csv`] to `path` atomically, and beside it (same name, `.json`) the
    /// test's settings and outcome, so that [`LrFind::read_csv`] gets the same suggestions back.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        crate::checkpoint::write_atomic(path, self.to_csv().as_bytes())?;
        let o = &self.options;
        let meta = CsvMeta {
            start_lr: o.start_lr,
            end_lr: o.end_lr,
            num_it: o.num_it,
            linear: o.kind == SweepKind::Linear,
            stop_div: o.stop_div,
            wd: self.wd,
            stopped: self.stopped.clone(),
            seconds: self.seconds,
        };
        let json = serde_json::to_string_pretty(&meta).context("describing the range test")?;
        crate::checkpoint::write_atomic(&path.with_extension("json"), json.as_bytes())
    }

    /// Reads a range test written by [`LrFind::write_csv`]. Without the `.json` beside it, the
    /// weight decay comes from a `lr_find_wd<W>` file name (else it is NaN) and the number of
    /// rows stands for `num_it` (as `onecycle suggest` reads a bare CSV).
    pub fn read_csv(path: &Path) -> Result<LrFind> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<&str> = lines
            .next()
            .with_context(|| format!("{} is empty", path.display()))?
            .split(',')
            .collect();
        if header.get(..3) != Some(&["lr", "loss", "smooth_loss"][..]) {
            bail!(
                "{}: expected the header lr,loss,smooth_loss[,val_loss,val_smooth_loss,<metric>…], got {}",
                path.display(),
                header.join(",")
            );
        }
        let val = header.len() >= 5 && header[3] == "val_loss" && header[4] == "val_smooth_loss";
        if header.len() > 3 && !val {
            bail!("{}: unexpected columns after smooth_loss", path.display());
        }
        let metric_names: Vec<String> = header.iter().skip(5).map(|s| s.to_string()).collect();
        let mut rows = Vec::new();
        for (i, line) in lines.enumerate() {
            let c: Vec<f64> = line
                .split(',')
                .map(|v| v.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .with_context(|| format!("{} line {}: not a number", path.display(), i + 2))?;
            if c.len() != header.len() {
                bail!(
                    "{} line {}: {} columns, the header has {}",
                    path.display(),
                    i + 2,
                    c.len(),
                    header.len()
                );
            }
            rows.push(LrFindRow {
                lr: c[0],
                loss: c[1],
                smooth_loss: c[2],
                val_loss: val.then(|| c[3]),
                val_smooth_loss: val.then(|| c[4]),
                metrics: c.get(5..).unwrap_or_default().to_vec(),
            });
        }
        if rows.is_empty() {
            bail!("{} has no rows", path.display());
        }
        let meta_path = path.with_extension("json");
        let meta: CsvMeta = match std::fs::read_to_string(&meta_path) {
            Ok(json) => serde_json::from_str(&json).with_context(|| {
                format!("{} is not a range test's description", meta_path.display())
            })?,
            Err(_) => CsvMeta {
                start_lr: rows[0].lr,
                end_lr: rows[rows.len() - 1].lr,
                num_it: rows.len(),
                linear: false,
                stop_div: true,
                wd: path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.strip_prefix("lr_find_wd"))
                    .and_then(|w| w.parse().ok())
                    .unwrap_or(f64::NAN),
                stopped: None,
                seconds: f64::NAN,
            },
        };
        Ok(LrFind {
            rows,
            metric_names,
            options: LrFindOptions {
                start_lr: meta.start_lr,
                end_lr: meta.end_lr,
                num_it: meta.num_it,
                kind: if meta.linear {
                    SweepKind::Linear
                } else {
                    SweepKind::Exponential
                },
                stop_div: meta.stop_div,
                wd: None,
                momentum: None,
                val_each_step: val,
            },
            wd: meta.wd,
            stopped: meta.stopped,
            seconds: meta.seconds,
        })
    }
}

/// What `<stem>.json` records beside a range test's CSV.
#[derive(serde::Serialize, serde::Deserialize)]
struct CsvMeta {
    start_lr: f64,
    end_lr: f64,
    num_it: usize,
    linear: bool,
    stop_div: bool,
    wd: f64,
    stopped: Option<String>,
    seconds: f64,
}

/// Smith's reading of range tests at several weight decays: the run with the lowest smoothed loss
/// at the comparison LR, defined as the smallest, over the runs, of the LR where each run's
/// smoothed loss is lowest — the highest LR every curve reaches while still falling to its
/// minimum (curves cut as for the suggestions). All runs share one sweep, so one row index.
#[derive(Debug, Clone, PartialEq)]
pub struct WdChoice {
    /// Index into the runs, and that run's weight decay.
    pub index: usize,
    pub wd: f64,
    /// The comparison LR and each run's smoothed loss there, in run order.
    pub lr: f64,
    pub losses: Vec<f64>,
}

/// Picks the weight decay by [`WdChoice`]'s rule.
pub fn choose_wd(runs: &[LrFind]) -> Result<WdChoice> {
    if runs.is_empty() {
        bail!("no range tests to compare");
    }
    let mut k = usize::MAX;
    for run in runs {
        let curve = run
            .curve()
            .with_context(|| format!("the range test at wd {}", run.wd))?;
        let skip = run.options.num_it / 10;
        let lowest = curve
            .losses()
            .iter()
            .enumerate()
            .fold(
                (0, f64::INFINITY),
                |b, (i, &l)| if l < b.1 { (i, l) } else { b },
            );
        k = k.min(skip + lowest.0);
    }
    let losses: Vec<f64> = runs.iter().map(|r| r.rows[k].smooth_loss).collect();
    let index = (0..runs.len())
        .min_by(|&a, &b| losses[a].total_cmp(&losses[b]))
        .expect("at least one run");
    Ok(WdChoice {
        index,
        wd: runs[index].wd,
        lr: runs[0].rows[k].lr,
        losses,
    })
}

impl<D: Data> Learner<D> {
    /// Runs a range test (see [`LrFindOptions`]): the normal training loop over the sweep's
    /// LRs with only a [`RangeTest`] callback, cycling the training data; then puts the model,
    /// optimizer state, batch-norm statistics and loss statistics back exactly as they were.
    pub fn lr_find(&mut self, options: &LrFindOptions) -> Result<LrFind> {
        if options.num_it == 0 {
            bail!("num_it must be at least 1, got 0");
        }
        if let Some(wd) = options.wd.filter(|w| !(w.is_finite() && *w >= 0.0)) {
            bail!("wd must be a finite number ≥ 0, got {wd}");
        }
        let params = SweepParams {
            start_lr: options.start_lr,
            end_lr: options.end_lr,
            kind: options.kind,
            momentum: options.momentum,
        };
        let sweep = Sweep::new(&params, options.num_it).context("the range test's parameters")?;
        let batches = self.data().train_batches();
        if batches == 0 {
            bail!("the training data has no batches");
        }
        if options.val_each_step && self.data().valid_batches() == 0 {
            bail!("per-step validation needs validation data, and there is none");
        }
        let plan = Plan {
            epochs: options.num_it.div_ceil(batches),
            batches,
            schedule: Box::new(sweep),
            start: Position::default(),
            validate: false,
        };
        let wd = options.wd.unwrap_or(self.config().wd);
        let mut test = RangeTest::new(options);
        let began = Instant::now();
        let result = self.with_fit_state(wd, |learner| learner.run(&plan, &mut [&mut test]));
        let seconds = began.elapsed().as_secs_f64();
        result?;
        Ok(LrFind {
            rows: test.rows,
            metric_names: test.metric_names,
            options: options.clone(),
            wd,
            stopped: test.stopped,
            seconds,
        })
    }

    /// Range tests at each weight decay in `wds`, from the same weights and in the same data
    /// order (each test restores the model; data order depends only on the epoch).
    pub fn lr_find_wds(&mut self, wds: &[f64], options: &LrFindOptions) -> Result<Vec<LrFind>> {
        wds.iter()
            .map(|&wd| {
                self.lr_find(&LrFindOptions {
                    wd: Some(wd),
                    ..options.clone()
                })
            })
            .collect()
    }
}

/// The range test as a callback: records every iteration (and with per-step validation the
/// next validation batch's loss and metrics), stops when the loss diverges or the sweep ends.
struct RangeTest {
    num_it: usize,
    stop_div: bool,
    val_each_step: bool,
    rule: Divergence,
    val_smooth: SmoothLoss,
    valid: Option<Batches>,
    rows: Vec<LrFindRow>,
    metric_names: Vec<String>,
    stopped: Option<String>,
}

impl RangeTest {
    fn new(options: &LrFindOptions) -> RangeTest {
        RangeTest {
            num_it: options.num_it,
            stop_div: options.stop_div,
            val_each_step: options.val_each_step,
            rule: Divergence::range_test(),
            val_smooth: SmoothLoss::default(),
            valid: None,
            rows: Vec::with_capacity(options.num_it),
            metric_names: Vec::new(),
            stopped: None,
        }
    }

    /// Evaluates the next validation batch (starting over at the end of the set) into `row`.
    fn validate_next(&mut self, ctx: &mut Ctx, row: &mut LrFindRow) -> Result<()> {
        let batch = next_valid(ctx.data(), &mut self.valid)?;
        let (val_loss, metrics) = ctx.eval_batch(batch)?;
        row.val_loss = Some(val_loss);
        row.val_smooth_loss = Some(self.val_smooth.push(val_loss));
        self.metric_names = metrics.iter().map(|(n, _)| n.clone()).collect();
        row.metrics = metrics.into_iter().map(|(_, v)| v).collect();
        Ok(())
    }
}

impl Callback for RangeTest {
    fn after_step(&mut self, ctx: &mut Ctx, s: &StepInfo) -> Result<Flow> {
        let mut row = LrFindRow {
            lr: s.lr,
            loss: s.loss,
            smooth_loss: s.smooth_loss,
            val_loss: None,
            val_smooth_loss: None,
            metrics: Vec::new(),
        };
        if self.val_each_step {
            self.validate_next(ctx, &mut row)?;
        }
        self.rows.push(row);
        let count = self.rows.len() as u64;
        if self.stop_div {
            if let Some(verdict) = self.rule.check(count, s.loss, s.smooth_loss) {
                let why = why_stopped(s.lr, verdict);
                self.stopped = Some(why.clone());
                return Ok(Flow::Stop(why));
            }
        }
        if self.rows.len() == self.num_it {
            return Ok(Flow::Stop("the sweep is complete".into()));
        }
        Ok(Flow::Continue)
    }
}

/// Why a range test stopped at `lr`, in words.
pub fn why_stopped(lr: f64, verdict: Diverging) -> String {
    match verdict {
        Diverging::NotFinite { loss } => format!("the loss is {loss} at lr {lr:.3e}"),
        Diverging::Exploded {
            smooth,
            best,
            factor,
        } => format!(
            "the smoothed loss {smooth:.4} exceeds {factor}× its best {best:.4} at lr {lr:.3e}"
        ),
    }
}

/// The next validation batch, starting over at the end of the set.
fn next_valid(data: &dyn Data, valid: &mut Option<Batches>) -> Result<Batch> {
    for _ in 0..2 {
        if valid.is_none() {
            *valid = Some(data.valid()?);
        }
        if let Some(b) = valid.as_mut().and_then(Iterator::next) {
            return b.context("loading a validation batch");
        }
        *valid = None;
    }
    bail!("the validation data has no batches")
}

/// Every range test in `dir`: `lr_find.csv` first, then `lr_find_wd*.csv` by weight decay.
pub fn read_range_tests(dir: &Path) -> Result<Vec<(String, LrFind)>> {
    let stems: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter_map(|n| n.strip_suffix(".csv").map(str::to_string))
        .filter(|s| s == "lr_find" || s.starts_with("lr_find_wd"))
        .collect();
    let mut tests = stems
        .into_iter()
        .map(|stem| {
            let found = LrFind::read_csv(&dir.join(format!("{stem}.csv")))?;
            Ok((stem, found))
        })
        .collect::<Result<Vec<(String, LrFind)>>>()?;
    tests.sort_by(|a, b| {
        (a.0 != "lr_find")
            .cmp(&(b.0 != "lr_find"))
            .then(a.1.wd.total_cmp(&b.1.wd))
            .then(a.0.cmp(&b.0))
    });
    Ok(tests)
}

/// Writes `<stem>.csv` and `<stem>.png` (the curve with every available suggestion) to `dir`.
pub fn save_run(found: &LrFind, dir: &Path, stem: &str, title: &str) -> Result<()> {
    found.write_csv(&dir.join(format!("{stem}.csv")))?;
    save_chart(found, title, &dir.join(format!("{stem}.png")))
}

/// Draws the range-test curve with every available suggestion to `path` (PNG or SVG).
pub fn save_chart(found: &LrFind, title: &str, path: &Path) -> Result<()> {
    let suggestions: Vec<Suggestion> = found
        .suggestions()
        .into_iter()
        .filter_map(|(_, s)| s.ok())
        .collect();
    let chart = crate::plot::LrFindChart {
        title,
        result: found,
        suggestions: &suggestions,
    };
    crate::plot::save(&chart, path)
}
/// The file stem for the range test at weight decay `wd` among several: `lr_find_wd1e-3`.
pub fn wd_stem(wd: f64) -> String {
    format!("lr_find_wd{wd:e}")
}
