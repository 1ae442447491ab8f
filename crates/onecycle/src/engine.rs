//! Process-wide libtorch settings that make training fast: glibc malloc tuned so that freed
//! tensor memory is not returned to the kernel after every step, libtorch's intra-op threads set to the cores available, and libtorch's CUDA backend
//! loaded where the machine has one (see [`crate::device`]).

/// Tunes the allocator and the thread count and loads CUDA when present; call once at start-up,
/// before any tensor work.
pub fn init() {
    // glibc gives every block above 32 MB its own mmap, unmapped on free: a batch of 1,024
    // speed-run activations (250 MB each) then faults in fresh zeroed pages at every step, 2.8 GB
    // of them, which cost 16 % of the step. Without mmap, blocks come from the heap, and up to
    // 2 GB of freed heap stays with the process for the next step (page faults 6.5 M → 0.6 M
    // over 9 steps; PyTorch in Python pays them all).
    // SAFETY: mallopt only changes allocator thresholds; called before other threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
    // Before any libtorch call: libtorch looks for its CUDA backend only once. Where CUDA cannot
    // be loaded, the reason is kept for an explicit `--device cuda`.
    let _ = crate::device::load_cuda();
    tch::set_num_threads(threads() as i32);
}

/// libtorch's intra-op threads: `OMP_NUM_THREADS` when set (`onecycle launch` gives each of its
/// ranks a share of the cores), else every core available.
pub fn threads() -> usize {
    std::env::var("OMP_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(cores)
}

/// Cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
