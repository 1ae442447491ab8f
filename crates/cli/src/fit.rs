//! `onecycle fit`: train an image classifier into a run folder, or resume one.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use onecycle::interrupt;
use recipe::{FitConfig, Session, DEFAULT_MAX_LR};
use record::{RunDir, Summary};
use schedule::{Policy, Rule};

use crate::out::say;
use crate::policy_args::{LrArg, PolicyArgs, PolicyName};
use crate::train_args::{set, TrainArgs};

/// Train a model with a schedule (1cycle by default) and record everything in a run folder.
#[derive(Debug, Args)]
pub struct FitArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    /// Epochs to train [default: 3]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Schedule family [default: one-cycle]; its options are those of `onecycle schedule`, with
    /// --milestones, --cycle-len and --step-size-up/-down counted in epochs
    #[arg(long, value_enum)]
    pub policy: Option<PolicyName>,
    #[command(flatten)]
    pub schedule: PolicyArgs,
    /// Weight decay [default: 5e-4]
    #[arg(long)]
    pub wd: Option<f64>,
    /// Clip the global gradient norm to this value
    #[arg(long)]
    pub clip: Option<f64>,
    /// Label smoothing ε for the cross-entropy [default: 0]
    #[arg(long)]
    pub label_smoothing: Option<f64>,
    /// Also report test-time-augmentation accuracy (plain blended with flipped predictions)
    #[arg(long)]
    pub tta: bool,
    /// Weight of the plain prediction in the TTA blend [default: 0.25]
    #[arg(long)]
    pub tta_beta: Option<f64>,
    /// Progressive resizing: training image sizes, one phase each (the last is also the
    /// validation size), e.g. 128,224,288
    #[arg(long, value_name = "S1,S2,…", value_delimiter = ',')]
    pub sizes: Vec<usize>,
    /// Fraction of the epochs each --sizes phase takes, summing to 1 [default: equal shares]
    #[arg(long, value_name = "F1,F2,…", value_delimiter = ',')]
    pub size_fractions: Vec<f64>,
    /// Run folder [default: runs/<model>-<policy>, numbered if taken]
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Read the settings from a TOML file (a run folder's config.toml); flags override it
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Start from a ready-made recipe: imagenet, resnet9-dawnbench (or a preset TOML file's path);
    /// flags override it
    #[arg(long, value_name = "NAME", conflicts_with = "config")]
    pub preset: Option<String>,
    /// Continue the run in this folder from its last checkpoint, with its saved settings
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["config", "preset", "run_dir"])]
    pub resume: Option<PathBuf>,
    /// Which range-test suggestion --max-lr auto (valley) or --tune (lowest) uses: valley, steep,
    /// minimum, slide, min-grad, lowest
    #[arg(long, value_name = "RULE")]
    pub suggest: Option<Rule>,
    /// No progress bars or epoch lines
    #[arg(long)]
    pub quiet: bool,
    /// First tune LR, weight decay and momentum (as `onecycle tune`), then train with the result
    #[arg(long, conflicts_with = "resume")]
    pub tune: bool,
    #[command(flatten)]
    pub tune_flags: crate::tune_cmd::TuneFlags,
}

impl FitArgs {
    /// The config: the file's or the preset's (or the defaults), then every flag given on top.
    pub fn to_config(&self) -> Result<FitConfig> {
        let base = match (&self.config, &self.preset) {
            (Some(path), _) => Some(recipe::read_config(path)?),
            (None, Some(preset)) => Some(recipe::presets::fit_preset(preset)?),
            (None, None) => None,
        };
        self.over(base)
    }

    /// A resumed run's saved config with the flags given on top (the session refuses changes
    /// that cannot happen mid-run).
    fn resume_config(&self, saved: FitConfig) -> Result<FitConfig> {
        if self.schedule.max_lr == Some(LrArg::Auto) || self.suggest.is_some() {
            bail!("--max-lr auto chooses the LR of a new run; a resumed run keeps its schedule");
        }
        self.over(Some(saved))
    }

    /// `base` (or the defaults) with every flag given on top.
    fn over(&self, base: Option<FitConfig>) -> Result<FitConfig> {
        let schedule = self.schedule_policy(base.as_ref().map(|c| &c.schedule))?;
        let mut c = base.unwrap_or_else(|| FitConfig::new(schedule.clone()));
        c.schedule = schedule;
        self.train.apply(&mut c);
        set(&mut c.epochs, self.epochs);
        set(&mut c.wd, self.wd);
        if self.clip.is_some() {
            c.clip = self.clip;
        }
        set(&mut c.label_smoothing, self.label_smoothing);
        c.tta |= self.tta;
        set(&mut c.tta_beta, self.tta_beta);
        if !self.sizes.is_empty() {
            // New sizes with the old fractions would rarely fit: equal shares unless given.
            c.sizes = self.sizes.clone();
            c.size_fractions = Vec::new();
        }
        if !self.size_fractions.is_empty() {
            c.size_fractions = self.size_fractions.clone();
        }
        Ok(c)
    }

    /// The schedule: the config's with the schedule flags' values on top (unless `--policy`
    /// names another family); without a config, the flags' policy (default 1cycle to 0.4).
    fn schedule_policy(&self, from_config: Option<&Policy>) -> Result<Policy> {
        let mut args = self.schedule.clone();
        if args.max_lr == Some(LrArg::Auto) {
            // A placeholder until the range test has chosen the LR.
            args.max_lr = Some(LrArg::Value(DEFAULT_MAX_LR));
        }
        match (from_config, self.policy) {
            (Some(p), None) => args.over(p),
            (Some(p), Some(name)) if name == PolicyName::of(p) => args.over(p),
            (_, name) => {
                let name = name.unwrap_or(PolicyName::OneCycle);
                if name == PolicyName::OneCycle && args.max_lr.is_none() {
                    args.max_lr = Some(LrArg::Value(DEFAULT_MAX_LR));
                }
                args.to_policy(name)
            }
        }
    }
}

/// `runs/<model>-<what>`, or the first of `…-2`, `…-3`, … that does not exist yet.
pub fn default_run_dir(config: &FitConfig, what: &str) -> PathBuf {
    let stem = format!("runs/{}-{what}", config.model);
    let mut dir = PathBuf::from(&stem);
    let mut n = 2;
    while dir.exists() {
        dir = PathBuf::from(format!("{stem}-{n}"));
        n += 1;
    }
    dir
}

pub fn run(args: FitArgs) -> Result<()> {
    // Data parallelism: every rank trains; only the lead rank writes the run folder and prints.
    let group = args.train.dist.join()?;
    let session = match &args.resume {
        Some(dir) => {
            Session::resume_with(dir, |saved| args.resume_config(saved), group, args.quiet)
                .with_context(|| format!("resuming {}", dir.display()))?
        }
        None => {
            let mut config = args.to_config()?;
            let auto = args.schedule.max_lr == Some(LrArg::Auto);
            if auto && args.tune {
                bail!("--tune chooses the LR itself; drop --max-lr auto");
            }
            if args.suggest.is_some() && !auto && !args.tune {
                bail!("--suggest chooses the LR for --max-lr auto or --tune");
            }
            let what = if args.tune {
                "tuned"
            } else {
                config.schedule.name()
            };
            let dir = args
                .run_dir
                .clone()
                .unwrap_or_else(|| default_run_dir(&config, what));
            if args.tune {
                let settings = args.tune_flags.settings(&args);
                let lead = group.as_ref().is_none_or(|g| g.rank() == 0);
                config = crate::tune_cmd::tune_into(&config, &dir, group.clone(), &settings, lead)?;
            }
            let mut session = Session::open(config, &dir, group, args.quiet)?;
            if auto {
                let why = session.find_lr(args.suggest.unwrap_or(Rule::Valley))?;
                if session.is_lead() {
                    say!("{why}");
                }
            }
            session
        }
    };
    let dir = session.run_dir().to_path_buf();
    if interrupt::requested() {
        bail!("interrupted during the range test; nothing was trained");
    }
    if let Some(summary) = session.fit().map_err(|e| with_resume_hint(e, &dir))? {
        say!("{}", summary_line(&summary));
    }
    if interrupt::requested() {
        bail!(
            "interrupted: the run is saved in {0}; continue it with `onecycle fit --resume {0}`",
            dir.display()
        );
    }
    Ok(())
}

/// A run that failed after saving a checkpoint (a full disk, say) says how to continue it.
fn with_resume_hint(e: anyhow::Error, dir: &Path) -> anyhow::Error {
    if !RunDir::new(dir).checkpoint().is_file() {
        return e;
    }
    anyhow!(
        "{e:#}\nthe run so far is saved in {0}; once the cause is fixed, continue it with \
         `onecycle fit --resume {0}`",
        dir.display()
    )
}

/// The final summary: accuracy, loss, time and throughput, and where the run folder is.
pub fn summary_line(r: &Summary) -> String {
    let tta = r
        .tta_accuracy
        .map(|a| format!(" (TTA {a:.4})"))
        .unwrap_or_default();
    let stopped = r
        .stopped
        .as_ref()
        .map(|s| format!(" [stopped: {s}]"))
        .unwrap_or_default();
    format!(
        "accuracy {:.4}{tta}  valid_loss {:.4}  {} epochs, {} steps in {:.1}s ({:.0} images/s)  → {}{stopped}",
        r.accuracy,
        r.valid_loss,
        r.epochs,
        r.steps,
        r.seconds,
        r.images_per_sec,
        r.run_dir.display()
    )
}
