//! Fuzzing the TOML a user writes: fit configs (`config.toml`, `--config`, fit presets) and
//! experiment presets, each from a shipped file with random bytes replaced, inserted or cut.
//! Every input must give a config or an error, never a panic, and so must checking what was read
//! (validation, size phases, the schedule built for a run). A short run here;
//! `ONECYCLE_FUZZ_CASES=100000 cargo test -p recipe --test fuzz` runs a long one.

#[path = "../../../tests/fuzz_support.rs"]
mod fuzz;

use proptest::prelude::*;
use recipe::experiment::Experiment;
use recipe::parse_config;
use recipe::presets::FIT_PRESETS;

/// `text` with `edits` applied, new bytes mostly digits and TOML's punctuation.
fn mutate(text: &str, edits: &[(usize, u8, u8)]) -> String {
    const TOML: &[u8] = b"0123456789-+.e\"=[],_ \nabcxyz";
    String::from_utf8_lossy(&fuzz::mutate(text.as_bytes().to_vec(), edits, Some(TOML))).into_owned()
}

const FIT_CONFIG: &str = include_str!("fixtures/fit-0.1/config.toml");

proptest! {
    #![proptest_config(fuzz::config(64))]

    #[test]
    fn fit_configs_never_panic(preset in 0usize..3, e in fuzz::edits(8)) {
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
    fn experiment_presets_never_panic(preset in 0usize..3, e in fuzz::edits(8)) {
        let name = ["paper", "cpu", "smoke"][preset];
        let text = std::fs::read_to_string(format!(
            "{}/../../presets/super-convergence/{name}.toml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let _ = Experiment::parse(&mutate(&text, &e));
    }
}
