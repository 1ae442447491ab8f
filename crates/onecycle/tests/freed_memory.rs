//! Memory freed by earlier work does not hide what new work takes. `engine::init` keeps freed
//! heap for the next step, so the batch-size probe of `tune` would see a later step reuse those
//! pages without growing; `memory::release_freed` hands them back before a measurement. No test
//! harness: this runs on the main thread, whose allocations come from glibc's main arena as the
//! training loop's do (libtest's threads get arenas of their own, which keep no large blocks).

use std::hint::black_box;

use onecycle::memory::{peak_bytes, release_freed, reset_peak, resident_bytes};

/// The peak memory above what was held before, while `bytes` are allocated and written.
fn measured(bytes: usize) -> u64 {
    reset_peak().unwrap();
    let held = resident_bytes().unwrap();
    let block = black_box(vec![1u8; bytes]);
    let took = peak_bytes().unwrap().saturating_sub(held);
    drop(block);
    took
}

fn main() {
    onecycle::engine::init();
    let new_work = 256 << 20;

    drop(black_box(vec![1u8; 512 << 20]));
    let unseen = measured(new_work);
    assert!(
        unseen < 64 << 20,
        "the freed 512 MB are kept, so 256 MB of new work reuse them unseen ({unseen} bytes)"
    );

    drop(black_box(vec![1u8; 512 << 20]));
    release_freed();
    let seen = measured(new_work);
    assert!(
        seen >= 200 << 20,
        "after release_freed, 256 MB of new work are measured as {seen} bytes"
    );
    println!("freed_memory: ok (unseen {unseen} bytes, then {seen} bytes)");
}
