//! One priority level's seats and queues.
//!
//! A request takes a seat when one is free and nobody waits; otherwise it joins a queue picked
//! by shuffle sharding (its flow is dealt a hand of queues; it joins the shortest), and freed
//! seats go to the queues in turn, so a flow that floods its queues cannot starve the others.
//! Upstream orders dispatch by virtual finish time with per-request work estimates; every
//! request here costs one seat, for which taking the queues in turn is the same fair share.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

/// How a limited level queues requests it cannot seat at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Queuing {
    pub queues: usize,
    pub hand_size: usize,
    pub queue_length_limit: usize,
}

/// A level's effective limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Exempt levels seat every request at once.
    pub exempt: bool,
    pub concurrency_limit: usize,
    /// `None` rejects what cannot be seated at once (limitResponse `Reject`).
    pub queuing: Option<Queuing>,
}

/// Why a request was not served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The level rejects instead of queuing, and every seat was taken.
    Reject,
    /// The queue the request was sharded to was full.
    QueueFull,
    /// The request waited longer than its wait limit.
    TimedOut,
}

struct Waiter {
    id: u64,
    flow_hash: u64,
    tx: oneshot::Sender<()>,
}

#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters {
    pub dispatched: u64,
    pub rejected: u64,
    pub timed_out: u64,
    pub cancelled: u64,
}

struct State {
    limits: Limits,
    executing: usize,
    waiting: usize,
    queues: Vec<VecDeque<Waiter>>,
    /// The queue the next freed seat looks at first.
    next_queue: usize,
    next_id: u64,
    counters: Counters,
}

/// A priority level's live state; kept across configuration changes of the same level.
pub struct Level {
    state: Mutex<State>,
}

/// A seat held while a request executes; freed on drop.
pub struct Seat {
    level: Arc<Level>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut st = self.level.lock();
        st.executing = st.executing.saturating_sub(1);
        dispatch(&mut st);
    }
}

/// A snapshot for the debug dump.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    pub active_queues: usize,
    pub waiting: usize,
    pub executing: usize,
    pub counters: Counters,
}

fn new_queues(limits: &Limits) -> Vec<VecDeque<Waiter>> {
    match limits.queuing {
        Some(q) if !limits.exempt => (0..q.queues.max(1)).map(|_| VecDeque::new()).collect(),
        _ => Vec::new(),
    }
}

/// Seats waiting requests while seats are free, taking the queues in turn.
fn dispatch(st: &mut State) {
    while st.executing < st.limits.concurrency_limit && st.waiting > 0 {
        let n = st.queues.len();
        let Some(idx) = (0..n)
            .map(|i| (st.next_queue + i) % n)
            .find(|&i| !st.queues[i].is_empty())
        else {
            st.waiting = 0;
            return;
        };
        st.next_queue = (idx + 1) % n;
        let Some(w) = st.queues[idx].pop_front() else {
            continue;
        };
        st.waiting -= 1;
        // The receiver lives until its wait guard has run, and that guard takes this lock
        // first, so a send to a waiter still queued cannot fail.
        if w.tx.send(()).is_ok() {
            st.executing += 1;
            st.counters.dispatched += 1;
        }
    }
}

/// Deals `hand` distinct queues out of `deck` from the flow's hash (upstream's shuffle
/// sharding: each draw takes the hash modulo the cards left).
pub fn deal(mut hash: u64, deck: usize, hand: usize) -> Vec<usize> {
    let hand = hand.clamp(1, deck.max(1));
    let mut cards: Vec<usize> = (0..deck).collect();
    let mut out = Vec::with_capacity(hand);
    for i in 0..hand {
        let left = (deck - i) as u64;
        if left == 0 {
            break;
        }
        let pick = (hash % left) as usize;
        hash /= left;
        out.push(cards.swap_remove(pick));
    }
    out
}

impl Level {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Level {
            state: Mutex::new(State {
                queues: new_queues(&limits),
                limits,
                executing: 0,
                waiting: 0,
                next_queue: 0,
                next_id: 0,
                counters: Counters::default(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves consistent counters; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn limits(&self) -> Limits {
        self.lock().limits
    }

    /// Applies new limits; waiting requests are re-sharded when the queue shape changes.
    pub fn reconfigure(&self, limits: Limits) {
        let mut st = self.lock();
        if st.limits == limits {
            return;
        }
        let reshape = st.limits.queuing != limits.queuing || st.limits.exempt != limits.exempt;
        st.limits = limits;
        if reshape {
            // Interleave the old queues so the waiters keep their turns roughly.
            let mut old: Vec<VecDeque<Waiter>> = std::mem::take(&mut st.queues);
            let mut waiters = Vec::new();
            while old.iter().any(|q| !q.is_empty()) {
                for q in old.iter_mut() {
                    if let Some(w) = q.pop_front() {
                        waiters.push(w);
                    }
                }
            }
            st.queues = new_queues(&limits);
            st.next_queue = 0;
            if st.queues.is_empty() {
                // Now exempt or rejecting: everyone waiting is seated (exempt) or keeps
                // waiting in one queue until seats free up.
                st.queues.push(VecDeque::new());
            }
            for w in waiters {
                let idx = self::shortest(&st.queues, w.flow_hash, limits.queuing);
                st.queues[idx].push_back(w);
            }
        }
        dispatch(&mut st);
    }

    pub fn snapshot(&self) -> Snapshot {
        let st = self.lock();
        Snapshot {
            active_queues: st.queues.iter().filter(|q| !q.is_empty()).count(),
            waiting: st.waiting,
            executing: st.executing,
            counters: st.counters,
        }
    }

    /// Takes a seat for a request of the flow with this hash, waiting at most `wait_limit`.
    pub async fn acquire(
        self: &Arc<Self>,
        flow_hash: u64,
        wait_limit: Duration,
    ) -> Result<Seat, Rejection> {
        let (id, mut rx) = {
            let mut st = self.lock();
            if st.limits.exempt || (st.executing < st.limits.concurrency_limit && st.waiting == 0) {
                st.executing += 1;
                st.counters.dispatched += 1;
                return Ok(Seat {
                    level: self.clone(),
                });
            }
            let Some(q) = st.limits.queuing else {
                st.counters.rejected += 1;
                return Err(Rejection::Reject);
            };
            let idx = shortest(&st.queues, flow_hash, Some(q));
            if st.queues[idx].len() >= q.queue_length_limit {
                st.counters.rejected += 1;
                return Err(Rejection::QueueFull);
            }
            let id = st.next_id;
            st.next_id += 1;
            let (tx, rx) = oneshot::channel();
            st.queues[idx].push_back(Waiter { id, flow_hash, tx });
            st.waiting += 1;
            (id, rx)
        };
        // Declared after `rx`, so dropped before it: a cancelled wait leaves its queue (or
        // gives back the seat it was handed) while its receiver still exists.
        let mut guard = WaitGuard {
            level: self.clone(),
            id,
            armed: true,
        };
        match tokio::time::timeout(wait_limit, &mut rx).await {
            Ok(Ok(())) => {
                guard.armed = false;
                Ok(Seat {
                    level: self.clone(),
                })
            }
            _ => {
                guard.armed = false;
                let mut st = self.lock();
                if remove(&mut st, id) {
                    st.counters.timed_out += 1;
                    Err(Rejection::TimedOut)
                } else {
                    // Seated between the timer firing and taking the lock.
                    drop(st);
                    Ok(Seat {
                        level: self.clone(),
                    })
                }
            }
        }
    }
}

/// The shortest queue of the flow's hand (the first of equals).
fn shortest(queues: &[VecDeque<Waiter>], flow_hash: u64, q: Option<Queuing>) -> usize {
    let hand = q.map(|q| q.hand_size).unwrap_or(1);
    deal(flow_hash, queues.len(), hand)
        .into_iter()
        .min_by_key(|&i| queues[i].len())
        .unwrap_or(0)
}

fn remove(st: &mut State, id: u64) -> bool {
    for q in st.queues.iter_mut() {
        if let Some(pos) = q.iter().position(|w| w.id == id) {
            q.remove(pos);
            st.waiting -= 1;
            return true;
        }
    }
    false
}

struct WaitGuard {
    level: Arc<Level>,
    id: u64,
    armed: bool,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut st = self.level.lock();
        if remove(&mut st, self.id) {
            st.counters.cancelled += 1;
        } else {
            // Handed a seat it will never use: give it back.
            st.executing = st.executing.saturating_sub(1);
            dispatch(&mut st);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(seats: usize, queues: usize, hand: usize, len: usize) -> Limits {
        Limits {
            exempt: false,
            concurrency_limit: seats,
            queuing: Some(Queuing {
                queues,
                hand_size: hand,
                queue_length_limit: len,
            }),
        }
    }

    #[test]
    fn dealing_gives_distinct_queues_and_is_stable() {
        for h in [0u64, 1, 7, 12345678901234, u64::MAX] {
            let hand = deal(h, 64, 6);
            assert_eq!(hand.len(), 6);
            let mut sorted = hand.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), 6, "{hand:?}");
            assert!(hand.iter().all(|&q| q < 64));
            assert_eq!(hand, deal(h, 64, 6));
        }
        assert_eq!(deal(5, 1, 8), vec![0]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flooding_flow_does_not_starve_another() {
        let level = Level::new(limited(1, 8, 1, 100));
        let first = level
            .acquire(1, Duration::from_secs(60))
            .await
            .expect("seat");
        // Flow A queues 10 requests, then flow B one; B's queue differs from A's.
        let (a_hash, b_hash) = (
            0u64,
            (1..)
                .find(|h| deal(*h, 8, 1) != deal(0, 8, 1))
                .expect("hash"),
        );
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, hash) in std::iter::repeat_n(a_hash, 10).chain([b_hash]).enumerate() {
            let level = level.clone();
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                let seat = level.acquire(hash, Duration::from_secs(60)).await;
                order
                    .lock()
                    .expect("lock")
                    .push(if i < 10 { 'A' } else { 'B' });
                tokio::time::sleep(Duration::from_millis(10)).await;
                drop(seat);
            }));
            tokio::task::yield_now().await;
        }
        assert_eq!(level.snapshot().waiting, 11);
        drop(first);
        for t in tasks {
            t.await.expect("task");
        }
        let order: String = order.lock().expect("lock").iter().collect();
        // B goes second, not eleventh.
        assert_eq!(&order[..2], "AB", "{order}");
        let s = level.snapshot();
        assert_eq!((s.executing, s.waiting, s.counters.dispatched), (0, 0, 12));
    }

    #[tokio::test(start_paused = true)]
    async fn full_queues_and_reject_levels_refuse_at_once() {
        let level = Level::new(limited(1, 1, 1, 2));
        let _seat = level
            .acquire(0, Duration::from_secs(60))
            .await
            .expect("seat");
        let l1 = level.clone();
        let w1 =
            tokio::spawn(async move { l1.acquire(0, Duration::from_secs(60)).await.map(|_| ()) });
        let l2 = level.clone();
        let w2 =
            tokio::spawn(async move { l2.acquire(0, Duration::from_secs(60)).await.map(|_| ()) });
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        assert_eq!(level.snapshot().waiting, 2);
        assert_eq!(
            level.acquire(0, Duration::from_secs(60)).await.err(),
            Some(Rejection::QueueFull)
        );
        w1.abort();
        w2.abort();
        let _ = (w1.await, w2.await);
        let s = level.snapshot();
        assert_eq!(
            (s.waiting, s.counters.cancelled, s.counters.rejected),
            (0, 2, 1)
        );

        let reject = Level::new(Limits {
            exempt: false,
            concurrency_limit: 1,
            queuing: None,
        });
        let _held = reject
            .acquire(0, Duration::from_secs(1))
            .await
            .expect("seat");
        assert_eq!(
            reject.acquire(0, Duration::from_secs(1)).await.err(),
            Some(Rejection::Reject)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_times_out_and_a_cancelled_seat_is_given_back() {
        let level = Level::new(limited(1, 4, 2, 10));
        let seat = level
            .acquire(3, Duration::from_secs(60))
            .await
            .expect("seat");
        assert_eq!(
            level.acquire(3, Duration::from_secs(15)).await.err(),
            Some(Rejection::TimedOut)
        );
        assert_eq!(level.snapshot().counters.timed_out, 1);
        // A waiter cancelled after being handed the seat must not leak it.
        let l = level.clone();
        let waiter =
            tokio::spawn(async move { l.acquire(3, Duration::from_secs(60)).await.map(|_| ()) });
        tokio::task::yield_now().await;
        drop(seat);
        waiter.abort();
        let _ = waiter.await;
        let s = level.snapshot();
        assert_eq!((s.executing, s.waiting), (0, 0), "{s:?}");
        assert!(level.acquire(3, Duration::from_secs(1)).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn raising_the_limit_seats_waiters() {
        let level = Level::new(limited(1, 4, 2, 10));
        let _seat = level
            .acquire(1, Duration::from_secs(60))
            .await
            .expect("seat");
        let l = level.clone();
        let waiter =
            tokio::spawn(async move { l.acquire(2, Duration::from_secs(60)).await.is_ok() });
        tokio::task::yield_now().await;
        level.reconfigure(limited(2, 16, 4, 10));
        assert!(waiter.await.expect("task"));
        // The waiter returned its seat when it finished; the first seat is still held.
        assert_eq!(level.snapshot().executing, 1);
    }
}
