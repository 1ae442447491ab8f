//! Experiments: several fits ("arms") that differ only where their TOML preset says, run one after
//! the other into one folder and compared in one report. `onecycle experiment super-convergence`
//! runs the seed's comparison of 1cycle against the standard schedules.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use record::{History, RunDir, Summary};
use report::{write_compare_report, CompareOptions, CompareTable};
use serde::{Deserialize, Serialize};

use crate::config::{overlay, read_config, FitConfig};
use crate::session;

/// The presets shipped with onecycle, by experiment and preset name (the files in `presets/`).
const PRESETS: &[(&str, &str, &str)] = &[
    (
        "super-convergence",
        "paper",
        include_str!("../../../presets/super-convergence/paper.toml"),
    ),
    (
        "super-convergence",
        "cpu",
        include_str!("../../../presets/super-convergence/cpu.toml"),
    ),
    (
        "super-convergence",
        "smoke",
        include_str!("../../../presets/super-convergence/smoke.toml"),
    ),
];

/// One experiment as written in its TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The metric compared (an `epochs.csv` column).
    #[serde(default = "default_metric")]
    pub metric: String,
    /// The metric value whose first crossing counts as "reached".
    pub target: f64,
    /// The arm whose final metric is a second target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Fit settings shared by every arm (keys of a fit `config.toml`).
    #[serde(default)]
    pub base: toml::Table,
    pub arms: Vec<Arm>,
}

/// One arm: a name and the fit settings that differ from the experiment's `base`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    pub name: String,
    #[serde(flatten)]
    pub settings: toml::Table,
}

fn default_metric() -> String {
    "accuracy".into()
}

/// What an experiment run gives: each arm's fit and the comparison.
#[derive(Debug)]
pub struct ExperimentReport {
    pub dir: PathBuf,
    /// `None` for arms that were already complete in `dir`.
    pub fits: Vec<(String, Option<Summary>)>,
    pub table: CompareTable,
    pub report: PathBuf,
}

impl Experiment {
    /// The shipped preset `preset` of experiment `kind`, or, if `preset` names a file, that file.
    pub fn load(kind: &str, preset: &str) -> Result<Experiment> {
        let text = match PRESETS.iter().find(|(k, p, _)| *k == kind && *p == preset) {
            Some((_, _, text)) => text.to_string(),
            None if Path::new(preset).is_file() => {
                std::fs::read_to_string(preset).with_context(|| format!("reading {preset}"))?
            }
            None => {
                let kinds: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
                if !kinds.contains(&kind) {
                    bail!("unknown experiment {kind:?}; known: {}", kinds.join(", "));
                }
                let names: Vec<&str> = PRESETS
                    .iter()
                    .filter(|p| p.0 == kind)
                    .map(|p| p.1)
                    .collect();
                bail!(
                    "no preset {preset:?} for {kind} (and no such file); presets: {}",
                    names.join(", ")
                );
            }
        };
        Experiment::parse(&text).with_context(|| format!("preset {preset}"))
    }

    /// Parses and checks an experiment file: every arm must give a valid fit config.
    pub fn parse(text: &str) -> Result<Experiment> {
        let e: Experiment = toml::from_str(text)?;
        e.configs(None)?;
        Ok(e)
    }

    /// Each arm's full fit config: the defaults of `onecycle fit`, then `base`, then the arm's
    /// own settings; `data` (when given) replaces the data of all of them.
    pub fn configs(&self, data: Option<&Path>) -> Result<Vec<(String, FitConfig)>> {
        if self.arms.is_empty() {
            bail!("experiment {} has no arms", self.name);
        }
        let defaults = FitConfig::new(schedule::Policy::Constant(schedule::ConstantParams {
            lr: 0.1,
            momentum: None,
        }));
        let mut out: Vec<(String, FitConfig)> = Vec::new();
        for arm in &self.arms {
            if arm.name.is_empty() || arm.name.contains(['/', '\\']) || arm.name.starts_with('.') {
                bail!("arm name {:?} must be a plain folder name", arm.name);
            }
            if out.iter().any(|(n, _)| *n == arm.name) {
                bail!("two arms are named {:?}", arm.name);
            }
            let mut table = self.base.clone();
            table.extend(arm.settings.clone());
            let mut config = overlay(&defaults, table)
                .with_context(|| format!("arm {:?}: not a valid fit config", arm.name))?;
            if let Some(d) = data {
                config.data = Some(d.to_path_buf());
            }
            // The schedule is sized per step at fit time; 100 batches per epoch checks it here.
            config
                .validate()
                .and_then(|()| config.check_schedule(100, 100 * config.batch))
                .with_context(|| format!("arm {:?}", arm.name))?;
            out.push((arm.name.clone(), config));
        }
        if let Some(b) = &self.baseline {
            if !out.iter().any(|(n, _)| n == b) {
                bail!("baseline {b:?} is not one of the arms");
            }
        }
        Ok(out)
    }

    /// Runs every arm into `dir/<arm>` (skipping finished arms, resuming interrupted ones) and
    /// writes `dir/report.html` comparing them.
    pub fn run(&self, data: Option<&Path>, dir: &Path, quiet: bool) -> Result<ExperimentReport> {
        let configs = self.configs(data)?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let saved = dir.join("experiment.toml");
        let text = toml::to_string(self)?;
        match std::fs::read_to_string(&saved) {
            Ok(old) if old != text => bail!(
                "{} holds a different experiment (see its experiment.toml); choose another --out",
                dir.display()
            ),
            Ok(_) => {}
            Err(_) => record::write_atomic(&saved, text.as_bytes())?,
        }
        let mut fits = Vec::new();
        for (name, config) in &configs {
            let arm_dir = dir.join(name);
            let fit = run_arm(name, config, &arm_dir, quiet)?;
            if onecycle::interrupt::requested() {
                bail!("interrupted in arm {name}; run the same command again to continue it");
            }
            if !quiet {
                if let Some(r) = &fit {
                    note(format_args!(
                        "{name}: {} {:.4} after {} steps, {:.0} s",
                        self.metric,
                        final_metric(&arm_dir, &self.metric),
                        r.steps,
                        r.seconds
                    ));
                }
            }
            fits.push((name.clone(), fit));
        }
        let (table, report) = self.write_report(dir)?;
        Ok(ExperimentReport {
            dir: dir.to_path_buf(),
            fits,
            table,
            report,
        })
    }

    /// The comparison report of the arms in `dir`: targets are `target` and, with a baseline, the
    /// baseline's final metric.
    pub fn write_report(&self, dir: &Path) -> Result<(CompareTable, PathBuf)> {
        let runs: Vec<(String, PathBuf)> = self
            .arms
            .iter()
            .map(|a| (a.name.clone(), dir.join(&a.name)))
            .collect();
        let mut targets = vec![self.target];
        if let Some(b) = &self.baseline {
            let history = History::read(&dir.join(b))?;
            if !history.metric_names.contains(&self.metric) {
                bail!("arm {b} has no {} column", self.metric);
            }
            let values = history.metric(&self.metric).unwrap_or_default();
            targets.extend(values.last());
        }
        let options = CompareOptions {
            title: format!("{}: {}", self.name, self.description),
            metric: self.metric.clone(),
            targets,
        };
        let out = RunDir::new(dir).report();
        let table = write_compare_report(&runs, &options, &out)?;
        Ok((table, out))
    }
}

/// Fits one arm, resumes it from its checkpoint, or leaves it when all its epochs are recorded.
fn run_arm(name: &str, config: &FitConfig, dir: &Path, quiet: bool) -> Result<Option<Summary>> {
    let run = RunDir::new(dir);
    let saved = run.config();
    if saved.exists() && read_config(&saved)? != *config {
        bail!(
            "{} holds a run with other settings than arm {name}; choose another --out",
            dir.display()
        );
    }
    let say = |what: &str| {
        if !quiet {
            note(format_args!("arm {name}: {what} {}", dir.display()));
        }
    };
    let result = if !run.checkpoint().exists() {
        // New, or interrupted before its first checkpoint.
        say("training into");
        session::fit(config, dir, quiet)
    } else if History::read(dir).map_or(0, |h| h.epochs.len()) >= config.epochs {
        return Ok(None);
    } else {
        say("resuming");
        session::resume(dir, quiet)
    };
    result.map(Some).with_context(|| format!("arm {name}"))
}

/// The last value of `metric` (an `epochs.csv` column, or `train_loss` / `valid_loss`) in the
/// run folder `dir`; NaN when it has none.
fn final_metric(dir: &Path, metric: &str) -> f64 {
    History::read(dir)
        .ok()
        .and_then(|h| h.metric(metric))
        .and_then(|v| v.last().copied())
        .unwrap_or(f64::NAN)
}

/// A progress line on standard error; a closed or full stderr must not stop the experiment.
fn note(line: std::fmt::Arguments) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}
