//! The process's memory on Linux, read from `/proc`: its resident size, its peak (which can be
//! reset, so one step's peak can be measured) and what the machine still has available. The
//! batch-size search of `tune` uses it to tell how large a batch fits the CPU's memory.

use std::fs;

use anyhow::{Context, Result};

/// Hands the heap's freed memory back to the system. `engine::init` keeps freed heap
/// for the next step; a measurement of what new work takes must start without it, or the work
/// reuses those pages unseen.
pub fn release_freed() {
    // SAFETY: malloc_trim only returns free pages of glibc's heap to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Starts the peak resident size over from the current size (Linux's `clear_refs` 5).
pub fn reset_peak() -> Result<()> {
    fs::write("/proc/self/clear_refs", "5").context("resetting the peak memory (/proc/self)")
}

/// The most memory the process has held at once since it started or since [`reset_peak`].
pub fn peak_bytes() -> Result<u64> {
    field("/proc/self/status", "VmHWM:")
}

/// The memory the process holds now.
pub fn resident_bytes() -> Result<u64> {
    field("/proc/self/status", "VmRSS:")
}

/// Memory the machine can still give without swapping (`MemAvailable`).
pub fn available_bytes() -> Result<u64> {
    field("/proc/meminfo", "MemAvailable:")
}

/// A `NAME: N kB` line of a `/proc` file, in bytes.
fn field(path: &str, name: &str) -> Result<u64> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let line = text
        .lines()
        .find(|l| l.starts_with(name))
        .with_context(|| format!("{path} has no {name} line"))?;
    let kib: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .with_context(|| format!("{path}: cannot read {line:?}"))?;
    Ok(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_allocation_raises_the_peak_and_a_reset_forgets_it() {
        reset_peak().unwrap();
        let before = peak_bytes().unwrap();
        let block = vec![1u8; 256 << 20];
        let during = peak_bytes().unwrap();
        assert!(during >= before + (200 << 20), "{before} → {during}");
        drop(block);
        reset_peak().unwrap();
        let after = peak_bytes().unwrap();
        assert!(after < during - (200 << 20), "{during} → {after}");
        assert!(resident_bytes().unwrap() <= after + (16 << 20));
        assert!(available_bytes().unwrap() > 0);
    }
}
