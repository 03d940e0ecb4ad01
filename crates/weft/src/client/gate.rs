//! RFC 6455 §4.1: "there MUST be no more than one connection in a CONNECTING state" to the same
//! host and port. A later connection waits for the earlier one's handshake to end.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

type Gates = HashMap<String, Weak<AsyncMutex<()>>>;

static GATES: LazyLock<Mutex<Gates>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Held while a connection to `authority` is CONNECTING.
#[derive(Debug)]
pub(crate) struct Connecting {
    _guard: OwnedMutexGuard<()>,
}

/// Waits until no other connection to `authority` is CONNECTING, then marks this one so.
pub(crate) async fn enter(authority: &str) -> Connecting {
    let gate = {
        // A poisoned map only means another task panicked mid-insert; the map is still sound.
        let mut gates = GATES.lock().unwrap_or_else(|p| p.into_inner());
        gates.retain(|_, weak| weak.strong_count() > 0);
        match gates.get(authority).and_then(Weak::upgrade) {
            Some(gate) => gate,
            None => {
                let gate = Arc::new(AsyncMutex::new(()));
                gates.insert(authority.to_owned(), Arc::downgrade(&gate));
                gate
            }
        }
    };
    Connecting {
        _guard: gate.lock_owned().await,
    }
}

/// The same rule for the blocking client, which has no runtime to wait on.
pub(crate) mod blocking {
    use std::collections::HashSet;
    use std::sync::{Condvar, LazyLock, Mutex};

    static CONNECTING: LazyLock<(Mutex<HashSet<String>>, Condvar)> =
        LazyLock::new(|| (Mutex::new(HashSet::new()), Condvar::new()));

    /// Held while a blocking connection to its authority is CONNECTING.
    #[derive(Debug)]
    pub(crate) struct Connecting {
        authority: String,
    }

    /// Blocks until no other connection to `authority` is CONNECTING.
    pub(crate) fn enter(authority: &str) -> Connecting {
        let (set, cond) = &*CONNECTING;
        let mut held = set.lock().unwrap_or_else(|p| p.into_inner());
        while held.contains(authority) {
            held = cond.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        held.insert(authority.to_owned());
        Connecting {
            authority: authority.to_owned(),
        }
    }

    impl Drop for Connecting {
        fn drop(&mut self) {
            let (set, cond) = &*CONNECTING;
            let mut held = set.lock().unwrap_or_else(|p| p.into_inner());
            held.remove(&self.authority);
            cond.notify_all();
        }
    }
}
