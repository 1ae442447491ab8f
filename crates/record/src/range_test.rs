//! The record of an LR range test without tch: its settings, rows, suggestions, the divergence
//! stop rule, the CSV + JSON files it is saved as, and the weight-decay choice among several.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use schedule::{Curve, Rule, SuggestError, Suggestion, SweepKind};

use crate::run_dir::{LR_FIND, LR_FIND_MOM, LR_FIND_WD};
/// Settings of one range test; the defaults are fastai's (`1e-7` to `10` over 100 iterations).
#[derive(Debug, Clone, PartialEq)]
pub struct LrFindOptions {
    pub start_lr: f64,
    pub end_lr: f64,
    /// Iterations, independent of the epoch length (the training data is cycled as needed).
    pub num_it: usize,
    /// Exponential (default) or linear spacing of the LRs.
    pub kind: SweepKind,
    /// Stop when the smoothed loss diverges (`schedule::Divergence::range_test`).
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
        crate::write_atomic(path, self.to_csv().as_bytes())?;
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
        crate::write_atomic(&path.with_extension("json"), json.as_bytes())
    }

    /// Reads a range test written by [`LrFind::write_csv`]. Without the `.json` beside it, the
    /// weight decay comes from a `lr_find_wd<W>` file name (else it is NaN) and the number of
    /// rows stands for `num_it` (as `onecycle suggest` reads a bare CSV).
    pub fn read_csv(path: &Path) -> Result<LrFind> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let (metric_names, rows) = parse_csv(path, &text)?;
        let val = rows[0].val_loss.is_some();
        let meta = CsvMeta::read_beside(path, &rows)?;
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

/// The metric names and rows of a range test's CSV (at least one row).
fn parse_csv(path: &Path, text: &str) -> Result<(Vec<String>, Vec<LrFindRow>)> {
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
    Ok((metric_names, rows))
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

impl CsvMeta {
    /// The `.json` beside a range test's CSV; without it, what the rows and a `lr_find_wd<W>`
    /// file name tell (the number of rows stands for `num_it`, an unknown weight decay is NaN).
    fn read_beside(path: &Path, rows: &[LrFindRow]) -> Result<CsvMeta> {
        let meta_path = path.with_extension("json");
        match std::fs::read_to_string(&meta_path) {
            Ok(json) => serde_json::from_str(&json).with_context(|| {
                format!("{} is not a range test's description", meta_path.display())
            }),
            Err(_) => Ok(CsvMeta {
                start_lr: rows[0].lr,
                end_lr: rows[rows.len() - 1].lr,
                num_it: rows.len(),
                linear: false,
                stop_div: true,
                wd: path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.strip_prefix(LR_FIND_WD))
                    .and_then(|w| w.parse().ok())
                    .unwrap_or(f64::NAN),
                stopped: None,
                seconds: f64::NAN,
            }),
        }
    }
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

/// Picks the weight decay by [`WdChoice`]'s rule ([`crate::tune::compare`]).
pub fn choose_wd(runs: &[LrFind]) -> Result<WdChoice> {
    let c = crate::tune::compare(runs)?;
    Ok(WdChoice {
        index: c.index,
        wd: runs[c.index].wd,
        lr: c.lr,
        losses: c.losses,
    })
}

/// Every range test in `dir`: `lr_find.csv` first, then `lr_find_wd*.csv` and `lr_find_mom*.csv`
/// by weight decay.
pub fn read_range_tests(dir: &Path) -> Result<Vec<(String, LrFind)>> {
    let stems: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter_map(|n| n.strip_suffix(".csv").map(str::to_string))
        .filter(|s| s == LR_FIND || s.starts_with(LR_FIND_WD) || s.starts_with(LR_FIND_MOM))
        .collect();
    let mut tests = stems
        .into_iter()
        .map(|stem| {
            let found = LrFind::read_csv(&dir.join(format!("{stem}.csv")))?;
            Ok((stem, found))
        })
        .collect::<Result<Vec<(String, LrFind)>>>()?;
    tests.sort_by(|a, b| {
        (a.0 != LR_FIND)
            .cmp(&(b.0 != LR_FIND))
            .then(a.1.wd.total_cmp(&b.1.wd))
            .then(a.0.cmp(&b.0))
    });
    Ok(tests)
}

/// The `lr` column and the smoothed (else raw) loss column of any range-test CSV: ours, a bare
/// `lr,loss` file, or fastai's recorder export (columns in any order, cells trimmed). Lenient on
/// purpose, for `onecycle suggest`; [`LrFind::read_csv`] reads our own files whole.
pub fn read_lr_loss(path: &Path) -> Result<(Vec<f64>, Vec<f64>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .with_context(|| format!("{} is empty", path.display()))?
        .split(',')
        .map(str::trim)
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let lr = col("lr").with_context(|| format!("{} has no `lr` column", path.display()))?;
    let loss = col("smooth_loss")
        .or_else(|| col("loss"))
        .with_context(|| format!("{} has no `loss` column", path.display()))?;
    let (mut lrs, mut losses) = (Vec::new(), Vec::new());
    for (i, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let cell = |c: usize| -> Result<f64> {
            let v = cells
                .get(c)
                .with_context(|| format!("{} row {}: too few columns", path.display(), i + 2))?;
            v.parse()
                .with_context(|| format!("{} row {}: {v:?} is not a number", path.display(), i + 2))
        };
        let v = cell(lr)?;
        if let Some(&prev) = lrs.last() {
            // The rules read the loss against a rising LR; a shuffled or concatenated file
            // would give suggestions that mean nothing.
            if v.is_nan() || v <= prev {
                bail!(
                    "{} row {}: lr {v} is not above the previous row's {prev}; a range-test CSV \
                     lists increasing LRs",
                    path.display(),
                    i + 2
                );
            }
        }
        lrs.push(v);
        losses.push(cell(loss)?);
    }
    if lrs.is_empty() {
        bail!("{} has no rows", path.display());
    }
    Ok((lrs, losses))
}
