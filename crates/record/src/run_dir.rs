//! Every file name of a run folder, in one place.

use std::path::{Path, PathBuf};

pub const CONFIG: &str = "config.toml";
pub const STEPS_CSV: &str = "steps.csv";
pub const EPOCHS_CSV: &str = "epochs.csv";
pub const SUMMARY: &str = "summary.json";
pub const REPORT: &str = "report.html";
/// The chart stems (`schedule.png`, `training.svg`, …).
pub const SCHEDULE_CHART: &str = "schedule";
pub const TRAINING_CHART: &str = "training";
/// The stem of the range test (`lr_find.csv`, `.json`, `.png`).
pub const LR_FIND: &str = "lr_find";
/// The stem prefix of range tests at several weight decays (`lr_find_wd1e-3.csv`).
pub const LR_FIND_WD: &str = "lr_find_wd";
/// The stem of the chart that overlays range tests at several weight decays.
pub const LR_FIND_WD_CHART: &str = "lr_find_wd";
/// Stem of the range tests at constant momentum of `onecycle tune`: `lr_find_mom0.95`.
pub const LR_FIND_MOM: &str = "lr_find_mom";
/// `onecycle tune`'s decisions and the config it recommends.
pub const TUNE_JSON: &str = "tune.json";
pub const RECOMMENDED: &str = "recommended.toml";
/// `onecycle evaluate`'s figures and page.
pub const EVALUATION_JSON: &str = "evaluation.json";
pub const EVALUATION_HTML: &str = "evaluation.html";
pub const CHECKPOINTS: &str = "checkpoints";
pub const LAST_CHECKPOINT: &str = "last.safetensors";

/// The file stem for the range test at weight decay `wd` among several: `lr_find_wd1e-3`.
pub fn wd_stem(wd: f64) -> String {
    format!("{LR_FIND_WD}{wd:e}")
}

/// The file stem for the range test at constant momentum `m`: `lr_find_mom0.95`.
pub fn momentum_stem(m: f64) -> String {
    format!("{LR_FIND_MOM}{m}")
}

/// A run folder: the path of each file it may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    pub fn new(root: impl Into<PathBuf>) -> RunDir {
        RunDir { root: root.into() }
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> PathBuf {
        self.root.join(CONFIG)
    }

    pub fn steps_csv(&self) -> PathBuf {
        self.root.join(STEPS_CSV)
    }

    pub fn epochs_csv(&self) -> PathBuf {
        self.root.join(EPOCHS_CSV)
    }

    pub fn summary(&self) -> PathBuf {
        self.root.join(SUMMARY)
    }

    pub fn report(&self) -> PathBuf {
        self.root.join(REPORT)
    }

    /// `schedule.<ext>`: the schedule as applied.
    pub fn schedule_chart(&self, ext: &str) -> PathBuf {
        self.root.join(format!("{SCHEDULE_CHART}.{ext}"))
    }

    /// `training.<ext>`: losses and metrics.
    pub fn training_chart(&self, ext: &str) -> PathBuf {
        self.root.join(format!("{TRAINING_CHART}.{ext}"))
    }

    /// `<stem>.<ext>` for a range test's files (`lr_find.csv`, `lr_find_wd1e-3.png`, …).
    pub fn range_test(&self, stem: &str, ext: &str) -> PathBuf {
        self.root.join(format!("{stem}.{ext}"))
    }

    /// `lr_find.csv`.
    pub fn lr_find_csv(&self) -> PathBuf {
        self.range_test(LR_FIND, "csv")
    }

    /// `lr_find.png`.
    pub fn lr_find_png(&self) -> PathBuf {
        self.range_test(LR_FIND, "png")
    }

    /// `lr_find_wd.png`: range tests at several weight decays overlaid.
    pub fn lr_find_wd_chart(&self) -> PathBuf {
        self.range_test(LR_FIND_WD_CHART, "png")
    }

    /// `lr_find_mom.png`: range tests at several constant momentums overlaid.
    pub fn lr_find_mom_chart(&self) -> PathBuf {
        self.range_test(LR_FIND_MOM, "png")
    }

    pub fn tune_json(&self) -> PathBuf {
        self.root.join(TUNE_JSON)
    }

    pub fn recommended(&self) -> PathBuf {
        self.root.join(RECOMMENDED)
    }

    pub fn evaluation_json(&self) -> PathBuf {
        self.root.join(EVALUATION_JSON)
    }

    pub fn evaluation_html(&self) -> PathBuf {
        self.root.join(EVALUATION_HTML)
    }

    pub fn checkpoints(&self) -> PathBuf {
        self.root.join(CHECKPOINTS)
    }

    /// `checkpoints/last.safetensors`: where a run resumes from.
    pub fn checkpoint(&self) -> PathBuf {
        self.checkpoints().join(LAST_CHECKPOINT)
    }
}
