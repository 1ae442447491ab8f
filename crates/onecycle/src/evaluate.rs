//! A trained model on its validation data as a typed [`Evaluation`] (fastai's
//! `ClassificationInterpretation`): the loss and accuracy the run reports, per-class precision
//! and recall, the confusion matrix and the highest losses.

use anyhow::Result;
use tch::{Kind, Tensor};

use crate::data::Data;
use crate::learner::Learner;
pub use record::evaluation::{Evaluation, Prediction};

impl<D: Data> Learner<D> {
    /// Evaluates the model on the validation data of `classes`, keeping the `top` highest
    /// losses. Plain, the loss and accuracy are `validate`'s (the run's own figures); given
    /// test-time augmentation's class probabilities and targets over the validation set
    /// (`tta`), the loss and accuracy are theirs.
    pub fn evaluate(
        &mut self,
        classes: Vec<String>,
        tta: Option<(Tensor, Tensor)>,
        top: usize,
    ) -> Result<Evaluation> {
        let augmented = tta.is_some();
        let (probs, targets, loss, accuracy) = match tta {
            Some((probs, targets)) => {
                let (loss, accuracy) = nll_and_accuracy(&probs, &targets);
                (probs, targets, loss, accuracy)
            }
            None => {
                let (plain, targets) = self.predict_valid(|x| x.shallow_clone())?;
                let (loss, metrics) = self.validate()?;
                let accuracy = metrics
                    .iter()
                    .find(|(n, _)| n == "accuracy")
                    .map_or(f64::NAN, |m| m.1);
                (plain, targets, loss, accuracy)
            }
        };
        let predictions = predictions(&probs, &targets)?;
        Evaluation::new(classes, &predictions, loss, accuracy, augmented, top)
    }
}

/// Mean negative log-likelihood and accuracy of class probabilities.
fn nll_and_accuracy(probs: &Tensor, targets: &Tensor) -> (f64, f64) {
    let picked = probs.gather(1, &targets.unsqueeze(1), false).squeeze_dim(1);
    let loss = -picked
        .clamp_min(1e-12)
        .log()
        .mean(Kind::Double)
        .double_value(&[]);
    let hits = probs
        .argmax(-1, false)
        .eq_tensor(targets)
        .to_kind(Kind::Double);
    (loss, hits.mean(Kind::Double).double_value(&[]))
}

/// Each image's target, predicted class, its probability and the image's loss.
pub fn predictions(probs: &Tensor, targets: &Tensor) -> Result<Vec<Prediction>> {
    let (best, predicted) = probs.max_dim(-1, false);
    let picked = probs.gather(1, &targets.unsqueeze(1), false).squeeze_dim(1);
    let losses = -picked.to_kind(Kind::Double).clamp_min(1e-12).log();
    let column = |t: &Tensor| Vec::<f64>::try_from(&t.to_kind(Kind::Double));
    let (best, predicted, losses, targets) = (
        column(&best)?,
        column(&predicted)?,
        column(&losses)?,
        column(targets)?,
    );
    Ok((0..targets.len())
        .map(|i| Prediction {
            target: targets[i] as usize,
            predicted: predicted[i] as usize,
            probability: best[i],
            loss: losses[i],
        })
        .collect())
}
