//! Data-parallel training from the command line: the `--dist-url/--world-size/--rank` flags that
//! `fit` and `lr-find` share, and `onecycle launch --nproc N -- fit …`, which starts N local ranks.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use onecycle::dist::{DistOptions, ProcessGroup, DEFAULT_TIMEOUT};
use onecycle::interrupt;

/// Data-parallel flags; without them, torchrun's MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK.
#[derive(Debug, Clone, Default, Args)]
pub struct DistArgs {
    /// Data-parallel training: the TCP store that rank 0 serves, tcp://HOST:PORT
    #[arg(long, value_name = "tcp://HOST:PORT")]
    pub dist_url: Option<String>,
    /// Processes in data-parallel training (each takes its share of every --batch)
    #[arg(long, value_name = "N")]
    pub world_size: Option<usize>,
    /// This process's rank in data-parallel training, 0 to world-size − 1
    #[arg(long, value_name = "R")]
    pub rank: Option<usize>,
    /// Seconds to wait for every process to join, and for any one all-reduce [default: 30]
    #[arg(long, value_name = "SECS")]
    pub dist_timeout: Option<f64>,
    /// Data-parallel training: normalise with the batch-norm statistics of the global batch
    /// (PyTorch's SyncBatchNorm) instead of each process's share
    #[arg(long)]
    pub sync_bn: bool,
}

impl DistArgs {
    /// Where this process joins a group: from the flags, else the environment; `None` when
    /// training alone.
    pub fn options(&self) -> Result<Option<DistOptions>> {
        let mut options = match (&self.dist_url, self.world_size, self.rank) {
            (None, None, None) => match DistOptions::from_env()? {
                Some(o) => o,
                None => return Ok(None),
            },
            (Some(url), Some(world_size), Some(rank)) => DistOptions {
                url: url.clone(),
                world_size,
                rank,
                timeout: DEFAULT_TIMEOUT,
            },
            _ => bail!("data-parallel training needs all of --dist-url, --world-size and --rank"),
        };
        if let Some(secs) = self.dist_timeout {
            if !(secs > 0.0 && secs.is_finite()) {
                bail!("--dist-timeout must be a positive number of seconds, got {secs}");
            }
            options.timeout = Duration::from_secs_f64(secs);
        }
        options.validate()?;
        Ok(Some(options))
    }

    /// Joins the group (`None` when training alone).
    pub fn join(&self) -> Result<Option<Rc<ProcessGroup>>> {
        match self.options()? {
            Some(options) => Ok(Some(Rc::new(ProcessGroup::new(&options)?))),
            None => Ok(None),
        }
    }
}

/// Start N local processes of `onecycle COMMAND…` as the ranks of one data-parallel run.
#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// Processes to start
    #[arg(long, value_name = "N")]
    pub nproc: usize,
    /// Port of the TCP store on 127.0.0.1 [default: a free one]
    #[arg(long)]
    pub port: Option<u16>,
    /// The command each process runs, after `--` (e.g. -- fit --epochs 2)
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Starts the ranks with `--dist-url tcp://127.0.0.1:PORT --world-size N --rank r` appended,
/// prefixes their output lines with `[rank r]`, and when one fails stops the others and fails
/// naming it.
pub fn run(args: LaunchArgs) -> Result<()> {
    if args.nproc == 0 {
        bail!("--nproc must be at least 1");
    }
    let port = match args.port {
        Some(p) => p,
        None => free_port()?,
    };
    let exe = std::env::current_exe().context("finding the onecycle binary")?;
    let url = format!("tcp://127.0.0.1:{port}");
    // Each rank gets its share of the cores, as torchrun does, unless the user chose.
    let threads = std::env::var("OMP_NUM_THREADS")
        .unwrap_or_else(|_| (onecycle::engine::cores() / args.nproc).max(1).to_string());
    let mut children: Vec<Child> = Vec::new();
    let mut forwarders: Vec<JoinHandle<()>> = Vec::new();
    for rank in 0..args.nproc {
        let mut command = Command::new(&exe);
        die_with_this_process(&mut command);
        let child = command
            .args(&args.command)
            .args(["--dist-url", &url, "--world-size"])
            .arg(args.nproc.to_string())
            .arg("--rank")
            .arg(rank.to_string())
            .env("OMP_NUM_THREADS", &threads)
            .env("LOCAL_RANK", rank.to_string())
            .env("LOCAL_WORLD_SIZE", args.nproc.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                stop(&mut children);
                return Err(e).context(format!("starting rank {rank}"));
            }
        };
        let prefix = format!("[rank {rank}] ");
        let out = child.stdout.take().expect("piped");
        let err = child.stderr.take().expect("piped");
        forwarders.push(forward(out, prefix.clone(), false));
        forwarders.push(forward(err, prefix, true));
        children.push(child);
    }
    let failed = wait_all(&mut children)?;
    for f in forwarders {
        let _ = f.join();
    }
    if interrupt::requested() {
        bail!("interrupted: every rank was asked to stop after its current step");
    }
    match failed {
        None => Ok(()),
        Some((rank, status)) => bail!(
            "rank {rank} of {} failed ({status}); the other ranks were stopped",
            args.nproc
        ),
    }
}

/// Makes the child of `command` get SIGTERM when this process dies, even by `kill -9`, so that
/// no rank trains on without its launcher (Linux's parent-death signal); it then stops as on
/// Ctrl-C, after its current step.
fn die_with_this_process(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // A group of their own: a terminal's Ctrl-C reaches the launcher alone, which passes it on
    // once (a second signal would stop a rank at once, without its checkpoint).
    command.process_group(0);
    let parent = std::process::id();
    // SAFETY: prctl and getppid are async-signal-safe and touch no memory of the parent.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The launcher may have died before prctl: then no signal would come.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other("the launcher exited"));
            }
            Ok(())
        });
    }
}

/// Waits until every child has exited successfully, or one has failed: then kills the rest and
/// returns its rank and status.
/// A stop asked of the launcher (Ctrl-C, SIGTERM) is passed on to every rank, once, and then
/// all of them are waited for: they stop together after the same step.
fn wait_all(children: &mut [Child]) -> Result<Option<(usize, ExitStatus)>> {
    let mut done = vec![false; children.len()];
    let mut passed_on = false;
    while done.iter().any(|d| !d) {
        if interrupt::requested() && !passed_on {
            for child in children.iter() {
                // SAFETY: a plain signal to a child process we started.
                unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            }
            passed_on = true;
        }
        for (rank, child) in children.iter_mut().enumerate() {
            if done[rank] {
                continue;
            }
            if let Some(status) = child.try_wait().context("waiting for a rank")? {
                done[rank] = true;
                if !status.success() && !passed_on {
                    stop(children);
                    return Ok(Some((rank, status)));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(None)
}

/// Kills and reaps every child still running.
fn stop(children: &mut [Child]) {
    for child in children.iter_mut() {
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

/// Copies `from` line by line to our stdout (or stderr), each line prefixed.
fn forward(from: impl Read + Send + 'static, prefix: String, to_stderr: bool) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            // Progress bars redraw with carriage returns: keep the last state of the line.
            let line = line.rsplit('\r').next().unwrap_or_default();
            if to_stderr {
                let _ = writeln!(std::io::stderr().lock(), "{prefix}{line}");
            } else {
                let _ = writeln!(std::io::stdout().lock(), "{prefix}{line}");
            }
        }
    })
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port for the store")?;
    Ok(listener.local_addr()?.port())
}
