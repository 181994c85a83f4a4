//! One at a time per key: what belongs to one person (their messages, their replies) is
//! done in order, while different people's run side by side.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OwnedMutexGuard;

/// A lock per key, made when first wanted and forgotten when nobody holds it.
#[derive(Debug)]
pub struct Lanes<K> {
    lanes: Arc<Mutex<HashMap<K, Weak<tokio::sync::Mutex<()>>>>>,
}

impl<K> Clone for Lanes<K> {
    fn clone(&self) -> Self {
        Lanes {
            lanes: self.lanes.clone(),
        }
    }
}

impl<K> Default for Lanes<K> {
    fn default() -> Self {
        Lanes {
            lanes: Arc::default(),
        }
    }
}

/// Locks forgotten once there are this many (only those nobody holds).
const SWEEP_AT: usize = 1024;

impl<K: Hash + Eq> Lanes<K> {
    /// Waits for `key`'s turn (in the order asked) and holds it until the guard drops.
    pub async fn enter(&self, key: K) -> OwnedMutexGuard<()> {
        let lane = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
            match lanes.get(&key).and_then(Weak::upgrade) {
                Some(lane) => lane,
                None => {
                    // Forget lanes nobody holds, so the map does not grow without bound.
                    if lanes.len() >= SWEEP_AT {
                        lanes.retain(|_, w| w.strong_count() > 0);
                    }
                    let lane = Arc::new(tokio::sync::Mutex::new(()));
                    lanes.insert(key, Arc::downgrade(&lane));
                    lane
                }
            }
        };
        lane.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_key_waits_others_do_not() {
        let lanes = Lanes::default();
        let held = lanes.enter(1).await;
        // Another key goes at once.
        drop(lanes.enter(2).await);
        let waiting = tokio::spawn({
            let lanes = lanes.clone();
            async move { drop(lanes.enter(1).await) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "key 1 is held");
        drop(held);
        waiting.await.expect("key 1 free again");
    }

    #[tokio::test]
    async fn lanes_nobody_holds_are_forgotten() {
        let lanes = Lanes::default();
        let held = lanes.enter(0).await;
        for k in 1..=SWEEP_AT {
            drop(lanes.enter(k).await);
        }
        let count = lanes.lanes.lock().expect("lock").len();
        assert!(count < SWEEP_AT, "{count}");
        drop(held);
    }
}
