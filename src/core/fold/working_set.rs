//! Which buckets a long-lived fold keeps in memory: a least-recently-used set with a capacity,
//! whose members can be pinned while a batch that changed them is not yet saved. Pure: no clock
//! (recency is a counter), no I/O; the worker drives it and reloads evicted buckets from the
//! state table. It must not know what a bucket's state is.

use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone)]
pub struct WorkingSet {
    capacity: usize,
    tick: u64,
    /// Bucket to its last use.
    last: HashMap<String, u64>,
    /// Last use to bucket, oldest first.
    order: BTreeMap<u64, String>,
    /// Buckets held by unsaved work, and by how many holders.
    pins: HashMap<String, u32>,
}

impl WorkingSet {
    /// At most `capacity` unpinned buckets stay (a capacity of 0 is taken as 1).
    pub fn new(capacity: usize) -> WorkingSet {
        WorkingSet {
            capacity: capacity.max(1),
            tick: 0,
            last: HashMap::new(),
            order: BTreeMap::new(),
            pins: HashMap::new(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    /// Marks `name` as just used.
    pub fn touch(&mut self, name: &str) {
        self.tick += 1;
        if let Some(old) = self.last.insert(name.to_owned(), self.tick) {
            self.order.remove(&old);
        }
        self.order.insert(self.tick, name.to_owned());
    }

    /// Uses `name` and keeps it from eviction until as many `unpin`s.
    pub fn pin(&mut self, name: &str) {
        self.touch(name);
        *self.pins.entry(name.to_owned()).or_default() += 1;
    }

    pub fn unpin(&mut self, name: &str) {
        if let Some(n) = self.pins.get_mut(name) {
            *n -= 1;
            if *n == 0 {
                self.pins.remove(name);
            }
        }
    }

    /// Drops `name` from the set (e.g. its bucket was forgotten some other way).
    pub fn forget(&mut self, name: &str) {
        if let Some(t) = self.last.remove(name) {
            self.order.remove(&t);
        }
    }

    /// Removes and returns the least recently used unpinned buckets beyond the capacity. Pinned
    /// buckets are never returned, so the set may exceed its capacity by the number pinned.
    pub fn evict(&mut self) -> Vec<String> {
        if self.last.len() <= self.capacity {
            return Vec::new();
        }
        let mut out: Vec<(u64, String)> = Vec::new();
        let excess = self.last.len() - self.capacity;
        for (t, name) in &self.order {
            if out.len() == excess {
                break;
            }
            if !self.pins.contains_key(name) {
                out.push((*t, name.clone()));
            }
        }
        out.into_iter()
            .map(|(t, name)| {
                self.order.remove(&t);
                self.last.remove(&name);
                name
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_unpinned_buckets_go_first() {
        let mut w = WorkingSet::new(2);
        w.touch("a");
        w.pin("b");
        w.touch("c");
        w.touch("a");
        w.touch("d");
        // Oldest first: b (pinned, kept), c, a, d.
        assert_eq!(w.evict(), vec!["c".to_owned(), "a".to_owned()]);
        assert_eq!(w.len(), 2);
        w.touch("e");
        assert_eq!(w.evict(), vec!["d".to_owned()], "b is still pinned");
        w.unpin("b");
        w.touch("f");
        assert_eq!(w.evict(), vec!["b".to_owned()]);
        assert!(w.evict().is_empty());
    }
}
