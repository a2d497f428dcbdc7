//! Process-wide settings made once, at the start of `main` (and of the benchmarks, so they time
//! what the binary runs), before any other thread exists.
//!
//! - **The allocator keeps freed blocks.** glibc's malloc serves every block of at least
//!   `M_MMAP_THRESHOLD` bytes (128 KiB to start with) by a fresh `mmap` and gives it back by
//!   `munmap` when freed, so a tensor of that size — most of soft Q-learning's activations and
//!   gradients, 64–2 048 rows of 128 floats — is faulted in page by page every time an op writes
//!   it: measured on 3 000 steps of multigoal_sql with candle's own layers, 6.5–10.6 M minor
//!   faults and 21–33 s in the kernel beside 35 s of user time. With the threshold at 256 MiB (and
//!   the heap trimmed only above 512 MiB free) those blocks come from the heap and are reused: 5.8 k
//!   faults, 4.3 s of system time and 1.5–1.9× the updates/s; SAC's fused path and the solver,
//!   which allocate little in their loops, are unchanged (docs/speed.md). `mallopt` beat mimalloc
//!   (SAC 20% slower) and jemalloc (whose decay gives pages back as glibc does) on the same runs.
//! - **candle's element-wise pool has one thread** unless `CANDLE_NUM_THREADS` is set: maxent
//!   chooses each run's threads itself (`--seeds` runs two side by side), and candle's spinning
//!   pool on the same cores only costs (measured: 8% faster, half the CPU, the same numbers).

/// Applies the settings above. Call it first thing, while the process has one thread.
pub fn init() {
    // SAFETY: mallopt only sets glibc's malloc parameters (it takes malloc's own lock); the two
    // parameters and values are valid ones. set_var: called before any other thread exists to
    // read the environment (the caller's contract above).
    unsafe {
        #[cfg(target_env = "gnu")]
        {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
        }
        if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
            std::env::set_var("CANDLE_NUM_THREADS", "1");
        }
    }
}
