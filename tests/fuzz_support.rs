//! What every fuzz test of the workspace shares (each includes this file with `#[path]`): the
//! number of cases (`ONECYCLE_FUZZ_CASES`, 64 by default, so the normal test run stays short)
//! and random edits of a valid file: bytes replaced, inserted, or the rest cut.
#![allow(dead_code)]

use proptest::prelude::*;

/// `cases` random inputs per test (`ONECYCLE_FUZZ_CASES` overrides it), no regression files.
pub fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("ONECYCLE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Up to `most` edits `(position, byte, kind)`: kind 1 inserts, 2 cuts the rest, others replace.
pub fn edits(most: usize) -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..8), 0..most)
}

/// `bytes` with `edits` applied; with an `alphabet`, most new bytes come from it (e.g. TOML's
/// punctuation and digits, so that edits reach the parser's value checks).
pub fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)], alphabet: Option<&[u8]>) -> Vec<u8> {
    for &(at, byte, kind) in edits {
        let byte = match alphabet {
            Some(a) if byte < 200 => a[byte as usize % a.len()],
            _ => byte,
        };
        let at = at % bytes.len().max(1);
        match kind {
            1 => bytes.insert(at, byte),
            2 => bytes.truncate(at),
            _ if bytes.is_empty() => bytes.push(byte),
            _ => bytes[at] = byte,
        }
    }
    bytes
}
