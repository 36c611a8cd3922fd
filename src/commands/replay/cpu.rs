//! CPU time of the replay's consumer thread and of the whole process, for the summary: the share
//! of the consumer (the serial part: fold, decide, transcript) bounds what `--jobs` can gain.
//! Read from Linux's procfs; None elsewhere or when unreadable. Must not affect the replay.

use std::time::Duration;

/// CPU time the calling thread has run (`/proc/thread-self/schedstat`, nanoseconds on the CPU).
pub fn this_thread() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// User plus system CPU time of the whole process, every thread, finished ones included
/// (`/proc/self/stat` fields 14 and 15, in USER_HZ = 100 ticks a second).
pub fn process() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = text.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spinning_shows_in_both_clocks() {
        let (Some(t0), Some(p0)) = (this_thread(), process()) else {
            return; // Not Linux: nothing to read.
        };
        let mut x = 0u64;
        while this_thread().unwrap() < t0 + Duration::from_millis(30) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        let t1 = this_thread().unwrap();
        assert!(t1 >= t0 + Duration::from_millis(30));
        // Ticks are 10 ms: the process clock moved by at least most of it.
        assert!(process().unwrap() + Duration::from_millis(20) >= p0 + (t1 - t0));
    }
}
