//! `onecycle evaluate`: a run folder's trained model on validation data (the run's own, or other
//! data with the same classes): the run's loss and accuracy, per-class scores, the confusion
//! matrix and the highest losses, written as `evaluation.json` and `evaluation.html`.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use onecycle::learner::Learner;
use record::evaluation::Evaluation;
use record::RunDir;
use vision::ImageData;

use crate::config::{read_config, FitConfig};
use crate::learner::{learner, tta_predictions};

/// How many of the highest losses the evaluation keeps and shows.
pub const TOP_LOSSES: usize = 16;

/// A run folder's config and the checkpoint holding its trained weights, or why there is none.
pub fn trained_run(run: &Path) -> Result<(FitConfig, PathBuf)> {
    let dir = RunDir::new(run);
    if !dir.config().is_file() {
        bail!(
            "{} is not a run folder: it has no config.toml",
            run.display()
        );
    }
    let config = read_config(&dir.config())?;
    let weights = dir.checkpoint();
    if !weights.is_file() {
        bail!(
            "{} has no trained weights ({} is missing): train it with onecycle fit first",
            run.display(),
            weights.display()
        );
    }
    Ok((config, weights))
}

/// A run folder's model with its trained weights, on `data` (else the run's own data).
pub fn trained_learner(run: &Path, data: Option<&Path>) -> Result<(FitConfig, Learner<ImageData>)> {
    let (mut config, weights) = trained_run(run)?;
    if let Some(d) = data {
        config.data = Some(d.to_path_buf());
    }
    let mut learner = learner(&config, None)?;
    learner.load_checkpoint(&weights).with_context(|| {
        format!(
            "the weights of {} do not fit a {} for the {} classes of this data",
            run.display(),
            config.model,
            learner.data().classes().len()
        )
    })?;
    Ok((config, learner))
}

/// Evaluates the run's model on its validation data (or `data`'s), with test-time augmentation
/// when asked; writes `evaluation.json` and `evaluation.html` into the run folder and links the
/// page from its report.
pub fn evaluate(run: &Path, data: Option<&Path>, tta: bool) -> Result<(Evaluation, PathBuf)> {
    let (config, mut learner) = trained_learner(run, data)?;
    let classes = learner.data().classes().to_vec();
    let augmented = match tta {
        true => Some(tta_predictions(
            &learner,
            config.tta_views,
            config.tta_beta,
        )?),
        false => None,
    };
    let evaluation = learner.evaluate(classes, augmented, TOP_LOSSES)?;
    let pictures = evaluation
        .top_losses
        .iter()
        .map(|t| picture(&learner, t.index))
        .collect::<Result<Vec<_>>>()?;
    let dir = RunDir::new(run);
    evaluation.write(&dir.evaluation_json())?;
    let page = report::write_evaluation_page(run, &evaluation, &pictures)?;
    report::write_run_report(run)?;
    Ok((evaluation, page))
}

/// Validation image `index` as PNG bytes.
fn picture(learner: &Learner<ImageData>, index: usize) -> Result<Vec<u8>> {
    let image = learner.data().valid.picture(index)?;
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .context("encoding a validation image")?;
    Ok(png)
}
