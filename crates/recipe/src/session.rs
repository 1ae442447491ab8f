//! A training session: one run folder and one Learner, built once, in the processes its strategy
//! says. `Session::open(config, dir, group)?.find_lr(rule)?.fit()` is `onecycle fit --max-lr
//! auto`; `Session::resume(dir, group)?.fit()` is `onecycle fit --resume`. Only the lead rank
//! writes the folder; every rank runs the same steps.

use std::path::Path;
use std::rc::Rc;

use anyhow::{anyhow, bail, Context, Result};
use onecycle::amp::Precision;
use onecycle::callbacks::{Checkpointer, GracefulStop};
use onecycle::checkpoint::Position;
use onecycle::data::Data;
use onecycle::dist::ProcessGroup;
use onecycle::history::RunLog;
use onecycle::learner::{FitSummary, Learner};
use onecycle::lr_find::LrFindOptions;
use onecycle::progress::Progress;
use record::run_dir::LR_FIND;
use record::{History, RunDir, Summary};
use report::RunChart;
use schedule::Rule;
use vision::ImageData;

use crate::config::{read_config, FitConfig, RESUMABLE};
use crate::learner::{learner, tta_accuracy};

pub struct Session {
    config: FitConfig,
    run: RunDir,
    learner: Learner<ImageData>,
    /// Where training starts: the beginning, or a resumed run's checkpoint.
    start: Position,
    resumed: bool,
    quiet: bool,
}

impl Session {
    /// A new run of `config` into `run_dir`, in `group`'s processes when given. Nothing is
    /// written yet; a schedule that cannot be built is refused here, and so is a folder that
    /// holds a run already (one with a checkpoint or a summary): a run is never written over.
    pub fn open(
        config: FitConfig,
        run_dir: &Path,
        group: Option<Rc<ProcessGroup>>,
        quiet: bool,
    ) -> Result<Session> {
        let run = RunDir::new(run_dir);
        if run.checkpoint().exists() || run.summary().exists() {
            bail!(
                "{} holds a run already; continue it with --resume {0} or choose another --run-dir",
                run_dir.display()
            );
        }
        let learner = learner(&config, group.as_ref())?;
        let items = learner.data().train_items();
        config.check_schedule(learner.steps_per_epoch(), items)?;
        Ok(Session {
            config,
            run,
            learner,
            start: Position::default(),
            resumed: false,
            quiet,
        })
    }

    /// The run in `run_dir`, to continue from its last checkpoint (from the start when it has
    /// none yet) with the config saved there (every rank must be able to read the folder).
    pub fn resume(run_dir: &Path, group: Option<Rc<ProcessGroup>>, quiet: bool) -> Result<Session> {
        Session::resume_with(run_dir, Ok, group, quiet)
    }

    /// [`Session::resume`] with the saved config changed by `edit`, which may change only the
    /// [`RESUMABLE`] settings (any other change is refused by name); the lead rank records the
    /// new config in the folder's `config.toml`.
    pub fn resume_with(
        run_dir: &Path,
        edit: impl FnOnce(FitConfig) -> Result<FitConfig>,
        group: Option<Rc<ProcessGroup>>,
        quiet: bool,
    ) -> Result<Session> {
        let run = RunDir::new(run_dir);
        if !run.config().is_file() {
            bail!("{} is not a run folder (no config.toml)", run_dir.display());
        }
        let saved = read_config(&run.config())?;
        let config = edit(saved.clone())?;
        let fixed: Vec<String> = config
            .changes_from(&saved)?
            .into_iter()
            .filter(|(key, _)| !RESUMABLE.contains(&key.as_str()))
            .map(|(_, change)| change)
            .collect();
        if !fixed.is_empty() {
            bail!(
                "a resumed run keeps its settings, and these would change: {}. Only {} can change \
                 on --resume; for a new run with other settings use `--config {}` instead",
                fixed.join(", "),
                RESUMABLE.join(", "),
                run.config().display()
            );
        }
        config.validate()?;
        let mut learner = learner(&config, group.as_ref())?;
        // A run stopped before its first checkpoint starts over: its seed gives the same run.
        let resumed = run.checkpoint().is_file();
        let start = match resumed {
            true => learner.load_checkpoint(&run.checkpoint())?,
            false => Position::default(),
        };
        Ok(Session {
            config,
            run,
            learner,
            start,
            resumed,
            quiet,
        })
    }

    /// Whether this process writes the run folder and prints.
    pub fn is_lead(&self) -> bool {
        self.learner.is_lead()
    }

    pub fn config(&self) -> &FitConfig {
        &self.config
    }

    /// The run folder.
    pub fn run_dir(&self) -> &Path {
        self.run.path()
    }

    /// Runs fastai's range test (1e-7 to 10 over 100 iterations, at the config's weight decay;
    /// the weights are put back) and sets the schedule's peak LR to the `rule` suggestion. The
    /// lead rank saves `lr_find.csv` and `lr_find.png`. Returns a sentence saying why.
    pub fn find_lr(&mut self, rule: Rule) -> Result<String> {
        let name = self.config.schedule.name();
        if self.config.schedule.with_max_lr(1.0).is_none() {
            bail!("--max-lr auto does not apply to the {name} policy");
        }
        let found = self.learner.lr_find(&LrFindOptions::default())?;
        if self.is_lead() {
            report::lr_find::save_run(&found, self.run.path(), LR_FIND, "range test")?;
        }
        let s = found
            .suggest(rule)
            .context("the range test gave no usable curve; pass --max-lr")?;
        let schedule = self.config.schedule.with_max_lr(s.lr);
        self.config.schedule = schedule.ok_or_else(|| anyhow!("{name} has no peak LR"))?;
        Ok(format!(
            "max_lr {:.3e}: the {rule} suggestion of a {}-iteration range test ({}), see {}",
            s.lr,
            found.rows.len(),
            rule.explain(),
            self.run.lr_find_png().display()
        ))
    }

    /// Trains to the end of the schedule, or until a stop is asked for (Ctrl-C, SIGTERM: see
    /// `onecycle::interrupt`; a checkpoint is saved after the step in progress). The lead rank records the run in its folder (config,
    /// history, a checkpoint every epoch, charts, `summary.json`, `report.html`) and returns
    /// the summary; the other ranks return `None`.
    pub fn fit(mut self) -> Result<Option<Summary>> {
        let lead = self.is_lead();
        if lead {
            self.record_to_folder()?;
        }
        // Every rank stops after the same step on Ctrl-C (the strategy shares the request).
        let stop = GracefulStop::new(self.run.path());
        self.learner.add_callback(Box::new(stop));
        let nb = self.learner.steps_per_epoch();
        let policy = self.config.schedule_in_steps(nb);
        let summary = self
            .learner
            .fit_from(self.config.epochs, &policy, self.start)?;
        if !lead {
            return Ok(None);
        }
        self.finish(summary).map(Some)
    }

    /// The lead rank's callbacks: checkpoints, history (a new run writes `config.toml` and new
    /// CSVs; a resumed one cuts its CSVs back to the checkpoint) and progress.
    fn record_to_folder(&mut self) -> Result<()> {
        let dir = self.run.path().to_path_buf();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        // A resumed run records the settings it may have changed (see `RESUMABLE`).
        let toml = toml::to_string(&self.config).context("writing config.toml")?;
        record::write_atomic(&self.run.config(), toml.as_bytes())?;
        let log = if self.resumed {
            RunLog::resume(&dir, self.start.step, self.start.epoch)?
        } else {
            RunLog::create_with(&dir, self.config.precision == Precision::Fp16)?
        };
        // The history goes first: a checkpoint must never be ahead of the rows on disk, or a
        // failed write (a full disk) between the two would leave a run that cannot resume.
        self.learner.add_callback(Box::new(log));
        self.learner.add_callback(Box::new(Checkpointer::new(&dir)));
        self.learner
            .add_callback(Box::new(Progress::new(self.quiet)));
        Ok(())
    }

    /// Charts, TTA, `summary.json` and `report.html` after training.
    fn finish(mut self, fit: FitSummary) -> Result<Summary> {
        let dir = self.run.path();
        report::run_charts(dir, "png", &[RunChart::Schedule, RunChart::Training])
            .context("drawing the run's charts")?;
        let (valid_loss, metrics) = match fit.epochs.last() {
            Some(e) => (e.valid_loss, e.metrics.clone()),
            None => self.learner.validate()?,
        };
        let accuracy = metrics.iter().find(|(n, _)| n == "accuracy");
        let (views, beta) = (self.config.tta_views, self.config.tta_beta);
        let tta_accuracy = match self.config.tta {
            true => Some(tta_accuracy(&self.learner, views, beta)?),
            false => None,
        };
        // A resumed run's summary is the whole run's: epochs and seconds before the checkpoint
        // come from its history; images/s is measured on the part trained here.
        let history = History::read(dir).context("reading the run's history")?;
        let earlier: f64 = history
            .epochs
            .iter()
            .filter(|e| e.epoch < self.start.epoch)
            .map(|e| e.seconds)
            .sum();
        let summary = Summary {
            run_dir: dir.to_path_buf(),
            epochs: history.epochs.len(),
            steps: self.start.step + fit.steps,
            seconds: earlier + fit.seconds,
            images_per_sec: fit.items as f64 / fit.seconds.max(1e-9),
            valid_loss,
            accuracy: accuracy.map_or(f64::NAN, |m| m.1),
            tta_accuracy,
            stopped: fit.stopped,
        };
        // summary.json (images/s, TTA accuracy) feeds report.html alongside the CSVs.
        summary.write(&self.run.summary())?;
        report::write_run_report(dir)?;
        Ok(summary)
    }
}

/// Trains `config` into `run_dir` in one process: [`Session::open`] then [`Session::fit`].
pub fn fit(config: &FitConfig, run_dir: &Path, quiet: bool) -> Result<Summary> {
    let summary = Session::open(config.clone(), run_dir, None, quiet)?.fit()?;
    summary.ok_or_else(|| anyhow!("one process is always the lead"))
}

/// Continues the run in `run_dir` in one process: [`Session::resume`] then [`Session::fit`].
pub fn resume(run_dir: &Path, quiet: bool) -> Result<Summary> {
    let summary = Session::resume(run_dir, None, quiet)?.fit()?;
    summary.ok_or_else(|| anyhow!("one process is always the lead"))
}
