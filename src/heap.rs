//! The live worker's malloc settings, set once by `main` before `run` starts its runtime (replay
//! and scan keep glibc's defaults, and their memory figures with them). Owns nothing else; must
//! not be called once threads are running (glibc's `mallopt` is not meant to race with
//! allocation).
//!
//! A live worker reads GetRecords bodies of up to 10 MB (10,000 records) several times a second
//! per shard, and the SDK collects each into one contiguous buffer. With glibc's defaults a
//! buffer that large is `mmap`ed and unmapped, or handed back to the kernel when freed at the top
//! of the heap, so the next batch faults every page of it in again, zero-filled: about a tenth of
//! the worker's CPU per irrelevant record (docs/PERFORMANCE.md). Raising both thresholds keeps
//! freed buffers in the heap for the next batch. The cost is memory held, not used: at most
//! [`TRIM_THRESHOLD`] of free space per malloc arena before glibc trims it.

/// Allocations up to this size come from the heap instead of their own `mmap` (glibc's maximum
/// for this setting on 64-bit).
pub const MMAP_THRESHOLD: i32 = 32 << 20;
/// Free space at the top of a heap kept for reuse before it is returned to the kernel.
pub const TRIM_THRESHOLD: i32 = 64 << 20;

/// Applies the settings above; a no-op where the C library is not glibc.
pub fn keep_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `mallopt` only changes allocator parameters; it is called from `main` before any
    // other thread exists, and the values are in the ranges glibc documents (mallopt(3)).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
