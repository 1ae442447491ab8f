//! `onecycle schedule`: print a schedule as CSV (`step,lr,momentum`) and optionally plot it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use report::plot::{self, ScheduleChart};
use schedule::Schedule;

use crate::policy_args::{PolicyArgs, PolicyName};

/// Print the learning rate and momentum of every step of a schedule.
#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// The schedule family
    #[arg(value_enum)]
    pub policy: PolicyName,
    /// Number of training steps (iterations) the schedule spans
    #[arg(long)]
    pub steps: usize,
    /// Write the CSV to FILE instead of standard output
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Draw LR and momentum against the step into FILE (.png or .svg)
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub options: PolicyArgs,
}

pub fn run(args: ScheduleArgs) -> Result<()> {
    if let Some(path) = &args.plot {
        plot::Format::of(path)?;
    }
    let policy = args.options.to_policy(args.policy)?;
    let schedule = policy.build(args.steps)?;
    match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            write_csv(std::io::BufWriter::new(file), &*schedule)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        // A reader that stops early (`| head`) ends the output, as for `seq`: not an error.
        None => match write_csv(
            std::io::BufWriter::new(std::io::stdout().lock()),
            &*schedule,
        ) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            written => written?,
        },
    }
    if let Some(path) = &args.plot {
        let title = format!("{} schedule, {} steps", policy.name(), args.steps);
        let points = schedule.points();
        plot::save(
            &ScheduleChart {
                title: &title,
                points: &points,
            },
            path,
        )?;
    }
    Ok(())
}

/// `step,lr,momentum`, one row per step; the momentum cell is empty when it is not scheduled.
/// Values are printed with Rust's shortest round-trip form, so they parse back bit-exactly.
/// Streamed: memory does not depend on the number of steps.
fn write_csv(mut w: impl Write, schedule: &dyn Schedule) -> std::io::Result<()> {
    writeln!(w, "step,lr,momentum")?;
    for i in 0..schedule.steps() {
        let p = schedule.at(i).map_err(std::io::Error::other)?;
        match p.momentum {
            Some(m) => writeln!(w, "{i},{:?},{:?}", p.lr, m)?,
            None => writeln!(w, "{i},{:?},", p.lr)?,
        }
    }
    w.flush()
}
