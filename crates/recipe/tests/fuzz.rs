//! Fuzzing the TOML a user writes: fit configs (`config.toml`, `--config`, fit presets) and
//! experiment presets, each from a shipped file with random bytes replaced, inserted or cut.
//! Every input must give a config or an error, never a panic, and so must checking what was read
//! (validation, size phases, the schedule built for a run). A short run here;
//! `ONECYCLE_FUZZ_CASES=100000 cargo test -p recipe --test fuzz` runs a long one.

use proptest::prelude::*;
use recipe::experiment::Experiment;
use recipe::parse_config;
use recipe::presets::FIT_PRESETS;

fn config() -> ProptestConfig {
    let cases = std::env::var("ONECYCLE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Edits of a text: `(position, byte, kind)` with kind 0 replace, 1 insert, 2 cut the rest.
fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..8), 0..6)
}

/// `text` with `edits` applied; bytes come from digits and TOML's punctuation most of the time.
fn mutate(text: &str, edits: &[(usize, u8, u8)]) -> String {
    const TOML: &[u8] = b"0123456789-+.e\"=[],_ \nabcxyz";
    let mut bytes = text.as_bytes().to_vec();
    for &(at, byte, kind) in edits {
        let byte = if byte < 200 {
            TOML[byte as usize % TOML.len()]
        } else {
            byte
        };
        let at = at % bytes.len().max(1);
        match kind {
            1 => bytes.insert(at, byte),
            2 => bytes.truncate(at),
            _ if bytes.is_empty() => bytes.push(byte),
            _ => bytes[at] = byte,
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

const FIT_CONFIG: &str = include_str!("fixtures/fit-0.1/config.toml");

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fit_configs_never_panic(preset in 0usize..3, e in edits()) {
        let base = match preset {
            0 => FIT_CONFIG,
            k => FIT_PRESETS[k - 1].1,
        };
        if let Ok(c) = parse_config(&mutate(base, &e), "fuzz") {
            if c.validate().is_ok() {
                let _ = c.size_phases();
                // Validation bounds the epochs, so the step count cannot overflow.
                let _ = c.schedule_in_steps(7).build(c.epochs * 7);
            }
        }
    }

    #[test]
    fn experiment_presets_never_panic(preset in 0usize..3, e in edits()) {
        let name = ["paper", "cpu", "smoke"][preset];
        let text = std::fs::read_to_string(format!(
            "{}/../../presets/super-convergence/{name}.toml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let _ = Experiment::parse(&mutate(&text, &e));
    }
}
