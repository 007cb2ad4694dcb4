//! State that outlives one configuration: rate-limiting counters, the proxy cache, log
//! queues, metrics. A new snapshot compiles new plugin instances; they find the state of
//! the previous ones here by key (Kong keeps such state in shared dictionaries that
//! survive configuration changes).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Slot = Arc<dyn Any + Send + Sync>;

/// A process-wide map of typed state by key, shared by every compiled runtime.
#[derive(Default)]
pub struct NodeState {
    slots: Mutex<HashMap<(TypeId, String), Slot>>,
}

impl NodeState {
    /// The value of type `T` stored under `key`, created by `init` on first use.
    pub fn get_or_init<T, F>(&self, key: &str, init: F) -> Arc<T>
    where
        T: Any + Send + Sync,
        F: FnOnce() -> T,
    {
        let mut slots = match self.slots.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let id = (TypeId::of::<T>(), key.to_string());
        if let Some(existing) = slots.get(&id)
            && let Ok(value) = existing.clone().downcast::<T>()
        {
            return value;
        }
        let value = Arc::new(init());
        slots.insert(id, value.clone());
        value
    }

    /// The value of type `T` stored under `key`, if some instance created it.
    pub fn get<T: Any + Send + Sync>(&self, key: &str) -> Option<Arc<T>> {
        let slots = match self.slots.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let slot = slots.get(&(TypeId::of::<T>(), key.to_string()))?;
        slot.clone().downcast::<T>().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn state_is_found_again_by_type_and_key() {
        let state = NodeState::default();
        let a = state.get_or_init("x", || AtomicU32::new(1));
        a.store(5, Ordering::Relaxed);
        let again = state.get_or_init("x", || AtomicU32::new(1));
        assert_eq!(again.load(Ordering::Relaxed), 5);
        let other = state.get_or_init("y", || AtomicU32::new(1));
        assert_eq!(other.load(Ordering::Relaxed), 1);
        let other_type = state.get_or_init("x", || String::from("s"));
        assert_eq!(other_type.as_str(), "s");
        assert_eq!(
            state
                .get::<AtomicU32>("x")
                .map(|v| v.load(Ordering::Relaxed)),
            Some(5)
        );
        assert!(state.get::<AtomicU32>("z").is_none());
    }
}
