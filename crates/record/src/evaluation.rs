//! `evaluation.json` (`onecycle evaluate`): how a trained model does on validation data — loss
//! and accuracy as the run reports them, per-class precision and recall, the confusion matrix,
//! and the images with the highest loss (fastai's `ClassificationInterpretation`).

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::summary::nan_if_null;

/// The model's answer for one validation image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    pub target: usize,
    pub predicted: usize,
    /// The probability of the predicted class.
    pub probability: f64,
    /// The image's loss (−log of the target's probability).
    pub loss: f64,
}

/// Precision and recall of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    pub class: String,
    /// Of the images predicted as this class, the share that are (NaN, null in JSON, when none
    /// was predicted as it).
    #[serde(deserialize_with = "nan_if_null")]
    pub precision: f64,
    /// Of the images of this class, the share predicted as it (NaN when there are none).
    #[serde(deserialize_with = "nan_if_null")]
    pub recall: f64,
    /// Images of this class.
    pub support: usize,
}

/// One of the images with the highest loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopLoss {
    /// Position in the validation data.
    pub index: usize,
    pub target: usize,
    pub predicted: usize,
    pub probability: f64,
    pub loss: f64,
}

/// A model's evaluation on validation data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub classes: Vec<String>,
    pub images: usize,
    pub loss: f64,
    pub accuracy: f64,
    /// Whether predictions blend in the mirrored images (test-time augmentation).
    pub tta: bool,
    pub per_class: Vec<ClassScore>,
    /// `confusion[t][p]`: images of class `t` predicted as `p`.
    pub confusion: Vec<Vec<usize>>,
    /// The images with the highest loss, highest first.
    pub top_losses: Vec<TopLoss>,
}

impl Evaluation {
    /// The evaluation of `predictions` (one per validation image, in order) over `classes`,
    /// with the `top` highest losses; `loss` and `accuracy` are the run's own figures.
    pub fn new(
        classes: Vec<String>,
        predictions: &[Prediction],
        loss: f64,
        accuracy: f64,
        tta: bool,
        top: usize,
    ) -> Result<Evaluation> {
        let n = classes.len();
        let mut confusion = vec![vec![0usize; n]; n];
        for (i, p) in predictions.iter().enumerate() {
            if p.target >= n || p.predicted >= n {
                bail!(
                    "image {i}: class {} of {n} classes",
                    p.target.max(p.predicted)
                );
            }
            confusion[p.target][p.predicted] += 1;
        }
        let per_class = (0..n)
            .map(|c| {
                let right = confusion[c][c] as f64;
                let predicted: usize = confusion.iter().map(|row| row[c]).sum();
                let support: usize = confusion[c].iter().sum();
                ClassScore {
                    class: classes[c].clone(),
                    precision: right / predicted as f64,
                    recall: right / support as f64,
                    support,
                }
            })
            .collect();
        let mut order: Vec<usize> = (0..predictions.len()).collect();
        order.sort_by(|&a, &b| predictions[b].loss.total_cmp(&predictions[a].loss));
        let top_losses = order
            .into_iter()
            .take(top)
            .map(|index| {
                let p = predictions[index];
                TopLoss {
                    index,
                    target: p.target,
                    predicted: p.predicted,
                    probability: p.probability,
                    loss: p.loss,
                }
            })
            .collect();
        Ok(Evaluation {
            classes,
            images: predictions.len(),
            loss,
            accuracy,
            tta,
            per_class,
            confusion,
            top_losses,
        })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        crate::write_atomic(path, json.as_bytes())
    }

    pub fn read(path: &Path) -> Result<Evaluation> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not an evaluation", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(target: usize, predicted: usize, loss: f64) -> Prediction {
        Prediction {
            target,
            predicted,
            probability: 0.5,
            loss,
        }
    }

    #[test]
    fn confusion_precision_recall_and_top_losses_of_a_small_set() {
        let classes = vec!["cat".into(), "dog".into(), "emu".into()];
        // cat: 2 right, 1 as dog; dog: 1 right; emu: 1 as cat. Nothing is predicted as emu.
        let preds = [
            p(0, 0, 0.1),
            p(0, 0, 0.2),
            p(0, 1, 2.0),
            p(1, 1, 0.3),
            p(2, 0, 3.0),
        ];
        let e = Evaluation::new(classes, &preds, 1.12, 0.6, false, 2).unwrap();
        assert_eq!(e.confusion, [[2, 1, 0], [0, 1, 0], [1, 0, 0]]);
        let scores: Vec<(f64, f64, usize)> = e
            .per_class
            .iter()
            .map(|c| (c.precision, c.recall, c.support))
            .collect();
        assert_eq!(scores[0], (2.0 / 3.0, 2.0 / 3.0, 3));
        assert_eq!(scores[1], (0.5, 1.0, 1));
        assert!(scores[2].0.is_nan() && scores[2].1 == 0.0);
        let top: Vec<usize> = e.top_losses.iter().map(|t| t.index).collect();
        assert_eq!(top, [4, 2]);
        assert_eq!(e.images, 5);
        let err = Evaluation::new(vec!["a".into()], &preds, 0.0, 0.0, false, 1).unwrap_err();
        assert!(err.to_string().contains("of 1 classes"), "{err}");
    }
}
