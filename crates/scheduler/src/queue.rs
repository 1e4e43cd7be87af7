//! The scheduling queue: an active heap (priority, then creation time), a backoff heap
//! (1 s doubling to 10 s) and an unschedulable set moved back on cluster events or after 60 s.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

/// Queue timings (upstream defaults).
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest stay in the unschedulable set without a cluster event.
    pub unschedulable_timeout: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            unschedulable_timeout: Duration::from_secs(60),
        }
    }
}

/// A pod handed out for a scheduling attempt.
#[derive(Debug, Clone)]
pub struct QueuedPod {
    pub key: String,
    pub pod: Arc<Pod>,
    pub attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Active,
    Backoff(Instant),
    Unschedulable(Instant),
    InFlight,
}

#[derive(Debug)]
struct Entry {
    pod: Arc<Pod>,
    attempts: u32,
    place: Place,
    seq: u64,
    last_failure: Option<Instant>,
    /// A move request arrived while the pod was being scheduled.
    moved_in_flight: bool,
}

#[derive(Debug, PartialEq, Eq)]
struct Ranked {
    priority: i32,
    created: i64,
    seq: u64,
    key: String,
}

impl Ord for Ranked {
    fn cmp(&self, o: &Self) -> Ordering {
        self.priority
            .cmp(&o.priority)
            .then(o.created.cmp(&self.created))
            .then(o.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

fn created(pod: &Pod) -> i64 {
    pod.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_millisecond())
        .unwrap_or(0)
}

/// The queue; every method takes `now` so it is testable without a clock.
#[derive(Debug, Default)]
pub struct SchedulingQueue {
    config: QueueConfig,
    entries: HashMap<String, Entry>,
    active: BinaryHeap<Ranked>,
    backoff: BinaryHeap<Reverse<(Instant, u64, String)>>,
    seq: u64,
}

impl SchedulingQueue {
    pub fn new(config: QueueConfig) -> SchedulingQueue {
        SchedulingQueue {
            config,
            ..Default::default()
        }
    }

    /// Backoff after `attempts` failures: initial × 2^(attempts-1), capped.
    pub fn backoff_for(&self, attempts: u32) -> Duration {
        let mut d = self.config.initial_backoff;
        for _ in 1..attempts {
            d = d.saturating_mul(2);
            if d >= self.config.max_backoff {
                return self.config.max_backoff;
            }
        }
        d.min(self.config.max_backoff)
    }

    fn push_active(&mut self, key: &str) {
        self.seq += 1;
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        e.place = Place::Active;
        e.seq = self.seq;
        self.active.push(Ranked {
            priority: priority(&e.pod),
            created: created(&e.pod),
            seq: self.seq,
            key: key.to_string(),
        });
    }

    fn push_backoff(&mut self, key: &str, until: Instant) {
        self.seq += 1;
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        e.place = Place::Backoff(until);
        e.seq = self.seq;
        self.backoff
            .push(Reverse((until, self.seq, key.to_string())));
    }

    /// Active if its backoff has passed, else backoff.
    fn requeue(&mut self, key: &str, now: Instant) {
        let Some(e) = self.entries.get(key) else {
            return;
        };
        let until = e
            .last_failure
            .map(|t| t + self.backoff_for(e.attempts))
            .unwrap_or(now);
        if until <= now {
            self.push_active(key);
        } else {
            self.push_backoff(key, until);
        }
    }

    /// A new or updated pending pod. An unschedulable pod whose spec or labels changed is
    /// retried.
    pub fn add_or_update(&mut self, pod: Arc<Pod>, now: Instant) {
        let key = pod_key(&pod);
        match self.entries.get_mut(&key) {
            None => {
                self.entries.insert(
                    key.clone(),
                    Entry {
                        pod,
                        attempts: 0,
                        place: Place::Active,
                        seq: 0,
                        last_failure: None,
                        moved_in_flight: false,
                    },
                );
                self.push_active(&key);
            }
            Some(e) => {
                let changed =
                    e.pod.spec != pod.spec || e.pod.metadata.labels != pod.metadata.labels;
                e.pod = pod;
                match e.place {
                    Place::Unschedulable(_) if changed => self.requeue(&key, now),
                    Place::InFlight if changed => e.moved_in_flight = true,
                    _ => {}
                }
            }
        }
    }

    /// A pod the caller takes back after a failed bind: retried after backoff.
    pub fn add_backoff(&mut self, pod: Arc<Pod>, now: Instant) {
        let key = pod_key(&pod);
        let attempts = self.entries.get(&key).map(|e| e.attempts).unwrap_or(0) + 1;
        self.entries.insert(
            key.clone(),
            Entry {
                pod,
                attempts,
                place: Place::Active,
                seq: 0,
                last_failure: Some(now),
                moved_in_flight: false,
            },
        );
        let until = now + self.backoff_for(attempts);
        self.push_backoff(&key, until);
    }

    pub fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Pods waiting in the unschedulable set.
    pub fn unschedulable_len(&self) -> usize {
        self.entries
            .values()
            .filter(|e| matches!(e.place, Place::Unschedulable(_)))
            .count()
    }

    /// Moves expired backoffs to active.
    pub fn flush_backoff(&mut self, now: Instant) {
        while let Some(Reverse((until, seq, _))) = self.backoff.peek() {
            if *until > now {
                break;
            }
            let (seq, key) = (*seq, self.backoff.pop().map(|r| r.0 .2).unwrap_or_default());
            if self
                .entries
                .get(&key)
                .is_some_and(|e| e.seq == seq && matches!(e.place, Place::Backoff(_)))
            {
                self.push_active(&key);
            }
        }
    }

    /// Moves pods unschedulable for longer than the timeout.
    pub fn flush_unschedulable(&mut self, now: Instant) {
        let timeout = self.config.unschedulable_timeout;
        let due: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.place, Place::Unschedulable(t) if now.duration_since(t) >= timeout))
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            self.requeue(&k, now);
        }
    }

    /// A cluster event that may make unschedulable pods fit (node added/updated, pod deleted).
    pub fn move_all_to_active_or_backoff(&mut self, now: Instant) {
        let keys: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e.place, Place::Unschedulable(_) | Place::InFlight))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            let in_flight = self
                .entries
                .get(&k)
                .is_some_and(|e| e.place == Place::InFlight);
            if in_flight {
                if let Some(e) = self.entries.get_mut(&k) {
                    e.moved_in_flight = true;
                }
            } else {
                self.requeue(&k, now);
            }
        }
    }

    /// The next pod to schedule (highest priority, oldest first).
    pub fn pop(&mut self, now: Instant) -> Option<QueuedPod> {
        self.flush_backoff(now);
        while let Some(r) = self.active.pop() {
            let Some(e) = self.entries.get_mut(&r.key) else {
                continue;
            };
            if e.seq != r.seq || e.place != Place::Active {
                continue;
            }
            e.place = Place::InFlight;
            e.moved_in_flight = false;
            return Some(QueuedPod {
                key: r.key,
                pod: Arc::clone(&e.pod),
                attempts: e.attempts,
            });
        }
        None
    }

    /// The attempt failed: to the unschedulable set, or to backoff if the cluster changed
    /// meanwhile (or `unschedulable` is false: an error).
    pub fn failed(&mut self, key: &str, now: Instant, unschedulable: bool) {
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        e.attempts += 1;
        e.last_failure = Some(now);
        if e.moved_in_flight || !unschedulable {
            let attempts = e.attempts;
            let until = now + self.backoff_for(attempts);
            self.push_backoff(key, until);
        } else {
            e.place = Place::Unschedulable(now);
        }
    }

    /// The pod was scheduled (assumed): it leaves the queue.
    pub fn done(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// When the loop should wake up for backoffs or the unschedulable timeout.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let backoff = self.backoff.peek().map(|r| r.0 .0);
        let unsched = self
            .entries
            .values()
            .filter_map(|e| match e.place {
                Place::Unschedulable(t) => Some(t + self.config.unschedulable_timeout),
                _ => None,
            })
            .min();
        match (backoff, unsched) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl SchedulingQueue {
    /// Drops entries whose key fails `keep` (after a re-list).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.entries.retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, prio: i32, created: &str) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
                "spec": {"priority": prio, "containers": [{"name": "c"}]}
            }))
            .unwrap(),
        )
    }

    #[test]
    fn priority_then_creation_order() {
        let mut q = SchedulingQueue::new(QueueConfig::default());
        let now = Instant::now();
        q.add_or_update(pod("old-low", 0, "2024-01-01T00:00:00Z"), now);
        q.add_or_update(pod("new-low", 0, "2024-01-02T00:00:00Z"), now);
        q.add_or_update(pod("high", 100, "2024-01-03T00:00:00Z"), now);
        let order: Vec<String> = std::iter::from_fn(|| q.pop(now).map(|p| p.key)).collect();
        assert_eq!(order, vec!["ns/high", "ns/old-low", "ns/new-low"]);
    }

    #[test]
    fn backoff_doubles_to_ten_seconds() {
        let q = SchedulingQueue::new(QueueConfig::default());
        let secs: Vec<u64> = (1..=6).map(|a| q.backoff_for(a).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn unschedulable_moves_on_event_with_backoff() {
        let mut q = SchedulingQueue::new(QueueConfig::default());
        let t0 = Instant::now();
        q.add_or_update(pod("p", 0, "2024-01-01T00:00:00Z"), t0);
        let p = q.pop(t0).unwrap();
        q.failed(&p.key, t0, true);
        assert!(q.pop(t0).is_none());
        assert_eq!(q.unschedulable_len(), 1);
        // event right away: backoff (1 s) not over yet
        q.move_all_to_active_or_backoff(t0);
        assert!(q.pop(t0 + Duration::from_millis(500)).is_none());
        assert_eq!(q.next_wakeup(), Some(t0 + Duration::from_secs(1)));
        let p = q.pop(t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(p.attempts, 1);
        // second failure: stays unschedulable until 60 s pass
        q.failed(&p.key, t0 + Duration::from_secs(1), true);
        q.flush_unschedulable(t0 + Duration::from_secs(30));
        assert!(q.pop(t0 + Duration::from_secs(30)).is_none());
        q.flush_unschedulable(t0 + Duration::from_secs(61));
        assert!(q.pop(t0 + Duration::from_secs(61)).is_some());
    }

    #[test]
    fn move_during_flight_goes_to_backoff_and_updates_retry() {
        let mut q = SchedulingQueue::new(QueueConfig::default());
        let t0 = Instant::now();
        q.add_or_update(pod("p", 0, "2024-01-01T00:00:00Z"), t0);
        let p = q.pop(t0).unwrap();
        q.move_all_to_active_or_backoff(t0);
        q.failed(&p.key, t0, true);
        assert_eq!(q.unschedulable_len(), 0);
        let p = q.pop(t0 + Duration::from_secs(1)).unwrap();
        q.failed(&p.key, t0 + Duration::from_secs(1), true);
        // an unrelated update (same spec) does not retry; a spec change does
        q.add_or_update(
            pod("p", 0, "2024-01-01T00:00:00Z"),
            t0 + Duration::from_secs(5),
        );
        assert!(q.pop(t0 + Duration::from_secs(5)).is_none());
        q.add_or_update(
            pod("p", 5, "2024-01-01T00:00:00Z"),
            t0 + Duration::from_secs(5),
        );
        assert!(q.pop(t0 + Duration::from_secs(5)).is_some());
        q.done("ns/p");
        assert!(q.is_empty());
    }
}
