//! Locks that outlive a panic. A handler that panics while it holds a
//! mutex poisons it; with `unwrap()` every later request touching that state
//! would panic too, and one bad request would leave a shim that fails all
//! the others (the whole pod). The state behind these locks is kept
//! consistent at every unlock point, so the shim takes the lock over, says
//! so in its log, and goes on serving. The panic itself is logged by the
//! serving shim's panic hook (cmd/serve.rs).

use std::sync::{Mutex, MutexGuard};

pub trait Locked<T> {
    /// The guard, whether or not an earlier holder panicked.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|poisoned| {
            log::warn!("taking over a lock that a panicked request held");
            poisoned.into_inner()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_taken_over() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("a handler panics while it holds the lock");
        })
        .join();
        assert!(m.is_poisoned());
        *m.locked() += 1;
        assert_eq!(*m.locked(), 2);
    }
}
