//! `onecycle suggest`: LR suggestions from a range-test CSV (ours or fastai's recorder export).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use record::range_test::read_lr_loss;
use schedule::{Curve, Rule};

use crate::out::say;

/// Print the LR suggestions (valley, steep, minimum, slide, min_grad, lowest) of a range-test CSV.
#[derive(Debug, Args)]
pub struct SuggestArgs {
    /// CSV with columns `lr` and `loss`; a `smooth_loss` column (our lr_find.csv) is used instead
    /// of `loss` when present, since the rules read the smoothed loss
    #[arg(long, value_name = "FILE.csv")]
    pub input: PathBuf,
    /// Points dropped at the start [default: a tenth of the points, as fastai's lr_find]
    #[arg(long, value_name = "K")]
    pub skip_start: Option<usize>,
    /// Points dropped at the end
    #[arg(long, value_name = "K", default_value_t = 5)]
    pub skip_end: usize,
    /// Print one JSON object {"valley": …, "steep": …, "minimum": …, "slide": …, "min_grad": …, "lowest": …}
    /// (null where a rule has no answer)
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: SuggestArgs) -> Result<()> {
    let (lrs, losses) = read_lr_loss(&args.input)?;
    let skip_start = args.skip_start.unwrap_or(lrs.len() / 10);
    let curve = Curve::new(&lrs, &losses, skip_start, args.skip_end)
        .with_context(|| format!("no suggestion from {}", args.input.display()))?;
    let all = curve.suggest_all();
    if args.json {
        let fields: Vec<String> = all
            .iter()
            .map(|(rule, s)| match s {
                Ok(s) => format!("\"{}\":{:?}", rule.name(), s.lr),
                Err(_) => format!("\"{}\":null", rule.name()),
            })
            .collect();
        say!("{{{}}}", fields.join(","));
        return Ok(());
    }
    for (rule, s) in all {
        match s {
            Ok(s) => say!("{:<9}{:.3e}  ({})", rule.name(), s.lr, Rule::explain(rule)),
            Err(e) => say!("{:<9}none: {e}", rule.name()),
        }
    }
    Ok(())
}
