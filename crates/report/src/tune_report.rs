//! The tuning section of a run folder's `report.html` (`onecycle tune`): each decision with its
//! value and one sentence of why, the momentum tests overlaid, and what every test cost.

use anyhow::Result;
use record::run_dir::LR_FIND_MOM;
use record::tune::{Comparison, TuneRecord};
use record::LrFind;

use crate::html::{escape, format_seconds, inline_svg, table};
use crate::plot::{format_value, CompareChart};

/// The section for `tune` (the folder's `tune.json`), given the folder's range tests.
pub(crate) fn tune_section(tune: &TuneRecord, tests: &[(String, LrFind)]) -> Result<String> {
    let mut out = String::from("<h2>Tuning: Smith's disciplined approach</h2>\n");
    out.push_str(&decisions(tune));
    out.push_str(&batch_probes(tune));
    let by_momentum: Vec<LrFind> = tests
        .iter()
        .filter(|(stem, _)| stem.starts_with(LR_FIND_MOM))
        .map(|(_, t)| t.clone())
        .collect();
    if by_momentum.len() > 1 {
        let m = &tune.momentum;
        let choice = (!m.candidates.is_empty()).then(|| Comparison {
            index: (0..m.candidates.len())
                .min_by(|&a, &b| m.candidates[a].loss.total_cmp(&m.candidates[b].loss))
                .unwrap_or(0),
            lr: m.comparison_lr,
            losses: m.candidates.iter().map(|c| c.loss).collect(),
        });
        out.push_str("<h3>Range tests by constant momentum</h3>\n");
        out.push_str(&inline_svg(&CompareChart::by_momentum(
            "smoothed loss by momentum",
            &by_momentum,
            choice,
        ))?);
    }
    out.push_str(&cost(tune));
    Ok(out)
}

/// The batch sizes the search tried, when it ran: speed and the memory of a step.
fn batch_probes(tune: &TuneRecord) -> String {
    if tune.batch.probes.is_empty() {
        return String::new();
    }
    let rows: Vec<Vec<String>> = tune
        .batch
        .probes
        .iter()
        .map(|p| {
            vec![
                p.batch.to_string(),
                format!("{:.0}", p.images_per_sec),
                p.step_bytes
                    .map_or("–".into(), |b| format!("{:.0}", b / (1u64 << 20) as f64)),
            ]
        })
        .collect();
    let header = ["batch", "images/s", "MiB a step"].map(String::from);
    format!(
        "<h3>Batch sizes tried</h3>\n{}",
        table(&header, &rows, &[true, true, true])
    )
}

/// Each decision with its value and one sentence of why.
fn decisions(tune: &TuneRecord) -> String {
    let (hi, lo) = tune.momentum.moms;
    let rows = vec![
        vec![
            "batch".into(),
            tune.batch.batch.to_string(),
            tune.batch.why.clone(),
        ],
        vec![
            "peak LR (start = peak / div)".into(),
            format!(
                "{} (start {})",
                format_value(tune.lr.max_lr),
                format_value(tune.lr.max_lr / tune.lr.div)
            ),
            tune.lr.why.clone(),
        ],
        vec![
            "weight decay".into(),
            format_value(tune.wd.wd),
            tune.wd.why.clone(),
        ],
        vec![
            "momentum".into(),
            format!(
                "{} → {} → {}",
                format_value(hi),
                format_value(lo),
                format_value(hi)
            ),
            tune.momentum.why.clone(),
        ],
    ];
    let header = ["decision", "value", "why"].map(String::from);
    table(&header, &rows, &[false, true, false])
}

/// What the tuning cost against its budget, test by test.
fn cost(tune: &TuneRecord) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "<h3>Cost</h3>\n<p>{} of the {} steps budgeted ({} of the planned {} steps of \
         training).</p>\n",
        tune.used_steps,
        tune.budget_steps,
        escape(&format!("{:.0} %", tune.budget * 100.0)),
        tune.planned_steps
    ));
    let rows: Vec<Vec<String>> = tune
        .tests
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.steps.to_string(),
                format_seconds(t.seconds),
            ]
        })
        .collect();
    let header = ["test", "steps", "seconds"].map(String::from);
    out.push_str(&table(&header, &rows, &[false, true, true]));
    out
}
