//! Which events of a run may be handled side by side. Owns the ordering rule only (pure: no
//! effects, no clock): events of different buckets are independent; inside a bucket, object
//! events of different keys are independent given the bucket's settings, while a bucket-level
//! event (ACL, policy, block, ownership, tags...) changes those settings and so is a barrier for
//! every event of its bucket. What the stream promises, and all this keeps, is order per bucket
//! for bucket-level events and order per key for object events.

/// What an event touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// The bucket's own settings (or anything not tied to one object).
    Bucket(&'a str),
    /// One object of the bucket: (bucket, key).
    Object(&'a str, &'a str),
}

impl<'a> Scope<'a> {
    fn bucket(&self) -> &'a str {
        match self {
            Scope::Bucket(b) | Scope::Object(b, _) => b,
        }
    }
}

/// One bucket's events as steps run one after another. A step's lanes run side by side; each
/// lane's events (indices into the input) run in order. A bucket-level event is a step of one
/// lane of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketPlan {
    pub bucket: String,
    pub steps: Vec<Vec<Vec<usize>>>,
}

/// Splits a run of bucket events into per-bucket plans (buckets in order of first appearance;
/// they may all run side by side). Inside a bucket: consecutive object events form one step with
/// one lane per key (keys in order of first appearance), and each bucket-level event is a step of
/// its own.
pub fn plan(scopes: &[Scope<'_>]) -> Vec<BucketPlan> {
    // (bucket, steps, whether the last step is an object step, its lanes' keys)
    let mut plans: Vec<(BucketPlan, bool, Vec<String>)> = Vec::new();
    for (i, scope) in scopes.iter().enumerate() {
        let bucket = scope.bucket();
        let at = match plans.iter().position(|(p, _, _)| p.bucket == bucket) {
            Some(at) => at,
            None => {
                plans.push((
                    BucketPlan {
                        bucket: bucket.to_owned(),
                        steps: Vec::new(),
                    },
                    false,
                    Vec::new(),
                ));
                plans.len() - 1
            }
        };
        let (plan, open, keys) = &mut plans[at];
        match scope {
            Scope::Bucket(_) => {
                plan.steps.push(vec![vec![i]]);
                *open = false;
                keys.clear();
            }
            Scope::Object(_, key) => {
                if !*open {
                    plan.steps.push(Vec::new());
                    *open = true;
                    keys.clear();
                }
                let step = plan.steps.last_mut().expect("an open step");
                match keys.iter().position(|k| k == key) {
                    Some(lane) => step[lane].push(i),
                    None => {
                        keys.push((*key).to_owned());
                        step.push(vec![i]);
                    }
                }
            }
        }
    }
    plans.into_iter().map(|(p, _, _)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn flat(plans: &[BucketPlan]) -> Vec<usize> {
        let mut all: Vec<usize> = plans
            .iter()
            .flat_map(|p| p.steps.iter().flatten().flatten().copied())
            .collect();
        all.sort();
        all
    }

    #[test]
    fn objects_of_one_bucket_run_side_by_side_by_key_with_bucket_events_as_barriers() {
        let s = [
            Scope::Object("b", "k1"),
            Scope::Object("b", "k2"),
            Scope::Object("b", "k1"),
            Scope::Bucket("b"),
            Scope::Object("b", "k2"),
            Scope::Object("c", "k1"),
        ];
        let p = plan(&s);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].bucket, "b");
        assert_eq!(
            p[0].steps,
            vec![vec![vec![0, 2], vec![1]], vec![vec![3]], vec![vec![4]]]
        );
        assert_eq!(p[1].steps, vec![vec![vec![5]]]);
    }

    #[test]
    fn bucket_events_of_one_bucket_stay_one_after_another() {
        let s = [Scope::Bucket("b"), Scope::Bucket("b"), Scope::Bucket("x")];
        let p = plan(&s);
        assert_eq!(p[0].steps, vec![vec![vec![0]], vec![vec![1]]]);
        assert_eq!(p[1].steps, vec![vec![vec![2]]]);
    }

    #[test]
    fn an_empty_run_has_no_plans() {
        assert!(plan(&[]).is_empty());
    }

    /// Where an event ends up: (bucket plan, step, lane, position in lane).
    fn place(plans: &[BucketPlan], i: usize) -> (usize, usize, usize, usize) {
        for (b, p) in plans.iter().enumerate() {
            for (s, step) in p.steps.iter().enumerate() {
                for (l, lane) in step.iter().enumerate() {
                    if let Some(pos) = lane.iter().position(|&x| x == i) {
                        return (b, s, l, pos);
                    }
                }
            }
        }
        panic!("event {i} not planned");
    }

    fn scopes() -> impl Strategy<Value = Vec<(u8, Option<u8>)>> {
        // Few buckets and keys, so that collisions (the interesting cases) are common.
        prop::collection::vec((0u8..3, prop::option::weighted(0.8, 0u8..4)), 0..40)
    }

    proptest! {
        #[test]
        fn every_event_is_planned_once_and_ordered_events_stay_ordered(raw in scopes()) {
            let names: Vec<(String, Option<String>)> = raw
                .iter()
                .map(|(b, k)| (format!("b{b}"), k.map(|k| format!("k{k}"))))
                .collect();
            let s: Vec<Scope> = names
                .iter()
                .map(|(b, k)| match k {
                    Some(k) => Scope::Object(b, k),
                    None => Scope::Bucket(b),
                })
                .collect();
            let plans = plan(&s);
            prop_assert_eq!(flat(&plans), (0..s.len()).collect::<Vec<_>>());
            for p in &plans {
                for step in &p.steps {
                    for lane in step {
                        prop_assert!(lane.windows(2).all(|w| w[0] < w[1]), "a lane is in input order");
                        prop_assert!(lane.iter().all(|&i| s[i].bucket() == p.bucket), "one bucket per plan");
                    }
                    if step.iter().flatten().any(|&i| matches!(s[i], Scope::Bucket(_))) {
                        prop_assert_eq!(step.iter().flatten().count(), 1, "a bucket event is alone in its step");
                    }
                }
            }
            // Two events that must not be reordered (same bucket, and one of them bucket-level or
            // both on the same key): the earlier one is in an earlier step, or before it in the
            // same lane.
            for i in 0..s.len() {
                for j in i + 1..s.len() {
                    let ordered = s[i].bucket() == s[j].bucket()
                        && match (s[i], s[j]) {
                            (Scope::Object(_, a), Scope::Object(_, b)) => a == b,
                            _ => true,
                        };
                    if !ordered {
                        continue;
                    }
                    let (bi, si, li, pi) = place(&plans, i);
                    let (bj, sj, lj, pj) = place(&plans, j);
                    prop_assert_eq!(bi, bj);
                    prop_assert!(si < sj || (si == sj && li == lj && pi < pj), "{} before {}", i, j);
                }
            }
        }
    }
}
