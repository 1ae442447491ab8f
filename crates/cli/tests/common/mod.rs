//! Helpers shared by the command-line tests: run the built binary, check its outcome, make a
//! fresh temporary folder.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `onecycle ARGS…` and captures its output.
pub fn onecycle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onecycle"))
        .args(args)
        .output()
        .expect("the onecycle binary runs")
}

/// Standard output of a run that must have succeeded.
pub fn ok(out: Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "onecycle failed: {err}");
    String::from_utf8(out.stdout).unwrap()
}

/// Standard error of a run that must have failed.
pub fn fails(out: Output) -> String {
    assert!(!out.status.success(), "onecycle should have failed");
    String::from_utf8(out.stderr).unwrap()
}

/// An empty folder unique to this test process and `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onecycle-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
