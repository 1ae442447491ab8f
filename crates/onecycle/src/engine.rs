//! Process-wide libtorch settings that make training fast: glibc malloc tuned so that freed
//! tensor memory is not returned to the kernel after every step (page faults cost 3–12 % of a
//! step), and libtorch's intra-op threads set to the cores available.

/// Tunes the allocator and the thread count; call once at start-up, before any tensor work.
pub fn init() {
    // SAFETY: mallopt only changes allocator thresholds; called before other threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
    tch::set_num_threads(cores() as i32);
}

/// Cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
