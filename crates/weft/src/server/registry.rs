//! The connection registry (Tcl's `conninfo` and `find`): every open server connection, its
//! facts and counters, and a way to reach it from outside its handler.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use weft_proto::frame::EncodedFrame;
use weft_proto::{CloseCode, Message};

use super::glob::glob_match;
use crate::info::ConnState;

/// A connection's number, unique for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// What the registry asks a connection to send.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Encoded(EncodedFrame),
    Close(CloseCode, String),
}

/// What a connection shares with the registry: counters it updates, state it reports.
///
/// `repr(C)` keeps the fields the connection touches per message (the counters, the state,
/// the mail flag) together on the first cache line, beside the `Arc`'s own counts: with
/// thousands of connections each one touched is a likely cache miss.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Shared {
    /// Written only by the connection itself, so it adds with a load and a store rather
    /// than a locked read-modify-write.
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    /// Bytes the registry queued and the connection has not yet taken.
    pub(crate) queued: AtomicUsize,
    state: AtomicU8,
    /// Whether the mailbox holds anything, so the connection checks it without the lock.
    has_mail: AtomicBool,
    /// Woken when `queued` drops, for senders that wait for room.
    pub(crate) room: Notify,
    /// A connection its handler dropped without closing, left for the server to close with
    /// the code the handler's outcome calls for.
    orphan: Mutex<Option<Box<dyn Any + Send>>>,
    /// What the registry asks the connection to send. A plain queue rather than a channel:
    /// an empty `VecDeque` allocates nothing, so an idle connection pays for no mailbox.
    mailbox: Mutex<Mailbox>,
}

/// Entries an emptied mailbox may keep room for; more is freed when it drains.
const MAILBOX_KEEP: usize = 4;

#[derive(Debug)]
struct Mailbox {
    queue: VecDeque<Outgoing>,
    /// The connection's task, to wake when something arrives.
    waker: Option<Waker>,
    /// Cleared when the connection's end goes away; posts then fail.
    open: bool,
    /// A slow consumer's close is queued: one is enough, however many sends find it over
    /// its cap meanwhile.
    slow_close_posted: bool,
}

impl Shared {
    fn mailbox(&self) -> MutexGuard<'_, Mailbox> {
        // Each operation is one push, pop or flag store, so a poisoned lock is still whole.
        self.mailbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues the slow consumer's close, unless it is queued already.
    fn post_slow_close(&self) {
        if std::mem::replace(&mut self.mailbox().slow_close_posted, true) {
            return;
        }
        self.post(Outgoing::Close(
            CloseCode::POLICY_VIOLATION,
            "slow consumer".to_owned(),
        ));
    }

    /// Queues `out` for the connection; `false` if it is gone.
    fn post(&self, out: Outgoing) -> bool {
        let mut mailbox = self.mailbox();
        if !mailbox.open {
            return false;
        }
        mailbox.queue.push_back(out);
        self.has_mail.store(true, Ordering::Release);
        // The waker stays registered: the link remembers it and skips the lock while no mail
        // is waiting.
        if let Some(waker) = &mailbox.waker {
            waker.wake_by_ref();
        }
        true
    }

    pub(crate) fn park(&self, orphan: Box<dyn Any + Send>) {
        *self.orphan.lock().unwrap_or_else(|p| p.into_inner()) = Some(orphan);
    }

    pub(crate) fn take_orphan<T: Any>(&self) -> Option<Box<T>> {
        let parked = self
            .orphan
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()?;
        parked.downcast::<T>().ok()
    }

    /// Counts `n` more bytes read. Only the connection calls this.
    pub(crate) fn add_bytes_in(&self, n: u64) {
        let total = self.bytes_in.load(Ordering::Relaxed) + n;
        self.bytes_in.store(total, Ordering::Relaxed);
    }

    pub(crate) fn set_state(&self, state: ConnState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    fn state(&self) -> ConnState {
        match self.state.load(Ordering::Relaxed) {
            0 => ConnState::Connecting,
            1 => ConnState::Open,
            2 => ConnState::Closing,
            _ => ConnState::Closed,
        }
    }
}

/// The connection's end of its registry entry, held by its `WebSocket`.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) shared: Arc<Shared>,
    /// The waker last left in the mailbox.
    registered: Option<Waker>,
    _entry: EntryGuard,
}

impl Link {
    /// Takes what the registry queued, while the connection has room for it.
    /// With nothing queued, the task of `cx` is woken by the next post.
    #[inline]
    pub(crate) fn poll_take(&mut self, cx: &mut Context<'_>) -> Option<Outgoing> {
        let registered = self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        if registered && !self.shared.has_mail.load(Ordering::Acquire) {
            return None;
        }
        self.take_slow(cx, registered)
    }

    /// The mailbox under its lock: mail to take, or the task's waker to leave.
    #[cold]
    fn take_slow(&mut self, cx: &mut Context<'_>, registered: bool) -> Option<Outgoing> {
        let mut mailbox = self.shared.mailbox();
        let out = mailbox.queue.pop_front();
        if mailbox.queue.is_empty() {
            self.shared.has_mail.store(false, Ordering::Release);
            // A burst of broadcasts grows the queue; once it is drained, let the memory go
            // rather than hold it for the connection's life. A queue that never holds more
            // than a few keeps its first small allocation.
            if mailbox.queue.capacity() > MAILBOX_KEEP {
                mailbox.queue = VecDeque::new();
            }
        }
        if !registered {
            mailbox.waker = Some(cx.waker().clone());
            self.registered = Some(cx.waker().clone());
        }
        drop(mailbox);
        if let Some(Outgoing::Encoded(frame)) = &out {
            self.shared.queued.fetch_sub(frame.len(), Ordering::Relaxed);
            self.shared.room.notify_waiters();
        }
        out
    }
}

impl Link {
    /// Returns mail the connection cannot send yet (a message of its own is half sent) to the
    /// front of the mailbox, to be taken again once it can.
    pub(crate) fn put_back(&mut self, out: Outgoing) {
        if let Outgoing::Encoded(frame) = &out {
            self.shared.queued.fetch_add(frame.len(), Ordering::Relaxed);
        }
        let mut mailbox = self.shared.mailbox();
        if mailbox.open {
            mailbox.queue.push_front(out);
            self.shared.has_mail.store(true, Ordering::Release);
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        {
            let mut mailbox = self.shared.mailbox();
            mailbox.open = false;
            mailbox.queue.clear();
            mailbox.waker = None;
        }
        self.shared.set_state(ConnState::Closed);
        // Senders waiting for room must learn the connection is gone.
        self.shared.room.notify_waiters();
    }
}

/// Removes the entry when the connection's end goes away.
#[derive(Debug)]
struct EntryGuard {
    registry: Registry,
    id: ConnId,
}

impl Drop for EntryGuard {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

/// What to do with a connection whose unsent bytes pass the cap (uWS's `maxBackpressure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SlowConsumer {
    /// Close it with 1008 (policy violation) instead of queuing more.
    #[default]
    Close,
    /// Make the sender wait for room ([`Registry::send`] and [`Registry::broadcast`] are async).
    Wait,
}

#[derive(Debug)]
struct Entry {
    info: Fixed,
    shared: Arc<Shared>,
}

#[derive(Debug, Clone)]
struct Fixed {
    peer_addr: Option<SocketAddr>,
    local_addr: Option<SocketAddr>,
    path: String,
    subprotocol: Option<String>,
    started: Instant,
}

/// Facts about a registered connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    /// Its number.
    pub id: ConnId,
    /// The peer's address.
    pub peer_addr: Option<SocketAddr>,
    /// The server's address for it.
    pub local_addr: Option<SocketAddr>,
    /// The request path.
    pub path: String,
    /// The negotiated subprotocol.
    pub subprotocol: Option<String>,
    /// Where it is in its life.
    pub state: ConnState,
    /// How long it has been open.
    pub age: Duration,
    /// Bytes read from the peer.
    pub bytes_in: u64,
    /// Bytes written to the peer.
    pub bytes_out: u64,
}

/// Every open connection of a server. Cheap to clone; all clones see the same connections.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    conns: Mutex<HashMap<ConnId, Entry>>,
    next_id: AtomicU64,
    cap: AtomicUsize,
    policy: Mutex<SlowConsumer>,
}

/// A send to a connection that did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No connection has this id (it closed).
    #[error("no such connection")]
    NotFound,
    /// The connection's unsent bytes passed the cap; it is being closed with 1008.
    #[error("slow consumer closed")]
    SlowConsumer,
}

impl Registry {
    /// An empty registry whose connections may each hold `cap` unsent bytes.
    pub fn new(cap: usize, policy: SlowConsumer) -> Self {
        let registry = Registry::default();
        registry.inner.cap.store(cap, Ordering::Relaxed);
        if let Ok(mut p) = registry.inner.policy.lock() {
            *p = policy;
        }
        registry
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConnId, Entry>> {
        // A panic while holding the lock cannot leave the map half-updated (each operation is
        // one insert or remove), so a poisoned lock is still usable.
        self.inner.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn policy(&self) -> SlowConsumer {
        self.inner.policy.lock().map(|p| *p).unwrap_or_default()
    }

    /// Registers a new connection; the returned link goes to its `WebSocket`.
    pub(crate) fn register(
        &self,
        peer_addr: Option<SocketAddr>,
        local_addr: Option<SocketAddr>,
        path: String,
        subprotocol: Option<String>,
    ) -> (ConnId, Link) {
        let id = ConnId(self.inner.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let shared = Arc::new(Shared {
            state: AtomicU8::new(ConnState::Open as u8),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            queued: AtomicUsize::new(0),
            room: Notify::new(),
            orphan: Mutex::new(None),
            mailbox: Mutex::new(Mailbox {
                queue: VecDeque::new(),
                waker: None,
                slow_close_posted: false,
                open: true,
            }),
            has_mail: AtomicBool::new(false),
        });
        let entry = Entry {
            info: Fixed {
                peer_addr,
                local_addr,
                path,
                subprotocol,
                started: Instant::now(),
            },
            shared: Arc::clone(&shared),
        };
        self.lock().insert(id, entry);
        let link = Link {
            shared,
            registered: None,
            _entry: EntryGuard {
                registry: self.clone(),
                id,
            },
        };
        (id, link)
    }

    /// How many connections are registered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no connection is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every connection's facts, by id.
    pub fn list(&self) -> Vec<ConnInfo> {
        let mut all: Vec<ConnInfo> = self.lock().iter().map(|(id, e)| info_of(*id, e)).collect();
        all.sort_by_key(|i| i.id);
        all
    }

    /// One connection's facts.
    pub fn info(&self, id: ConnId) -> Option<ConnInfo> {
        self.lock().get(&id).map(|e| info_of(id, e))
    }

    /// Connections whose peer host and port match the globs (Tcl's `find`), by id.
    pub fn find(&self, host_glob: &str, port_glob: &str) -> Vec<ConnId> {
        let mut ids: Vec<ConnId> = self
            .lock()
            .iter()
            .filter(|(_, e)| match e.info.peer_addr {
                Some(addr) => {
                    glob_match(host_glob, &addr.ip().to_string())
                        && glob_match(port_glob, &addr.port().to_string())
                }
                None => host_glob == "*" && port_glob == "*",
            })
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }

    /// Sends a message to one connection.
    ///
    /// # Errors
    ///
    /// [`SendError::NotFound`] if it is gone; [`SendError::SlowConsumer`] if its unsent bytes
    /// passed the cap under [`SlowConsumer::Close`].
    pub async fn send(&self, id: ConnId, message: Message) -> Result<(), SendError> {
        let frame = EncodedFrame::server(&message);
        self.deliver(id, frame).await
    }

    /// Sends a message to every connection; returns how many it was queued for.
    pub async fn broadcast(&self, message: Message) -> usize {
        self.broadcast_filter(message, |_| true).await
    }

    /// Sends a message to the connections `filter` accepts. The frame is encoded once.
    pub async fn broadcast_filter(
        &self,
        message: Message,
        filter: impl Fn(&ConnInfo) -> bool,
    ) -> usize {
        let frame = EncodedFrame::server(&message);
        let targets: Vec<ConnId> = self
            .lock()
            .iter()
            .filter(|(id, e)| filter(&info_of(**id, e)))
            .map(|(id, _)| *id)
            .collect();
        let mut delivered = 0;
        for id in targets {
            if self.deliver(id, frame.clone()).await.is_ok() {
                delivered += 1;
            }
        }
        delivered
    }

    /// Asks one connection to close.
    pub fn close(&self, id: ConnId, code: CloseCode, reason: &str) {
        if let Some(e) = self.lock().get(&id) {
            e.shared.post(Outgoing::Close(code, reason.to_owned()));
        }
    }

    /// Asks every connection to close.
    pub fn close_all(&self, code: CloseCode, reason: &str) {
        for e in self.lock().values() {
            e.shared.post(Outgoing::Close(code, reason.to_owned()));
        }
    }

    async fn deliver(&self, id: ConnId, frame: EncodedFrame) -> Result<(), SendError> {
        let cap = self.inner.cap.load(Ordering::Relaxed);
        loop {
            let shared = {
                let conns = self.lock();
                let e = conns.get(&id).ok_or(SendError::NotFound)?;
                Arc::clone(&e.shared)
            };
            let queued = shared.queued.load(Ordering::Relaxed);
            if queued + frame.len() <= cap || queued == 0 {
                let len = frame.len();
                shared.queued.fetch_add(len, Ordering::Relaxed);
                if shared.post(Outgoing::Encoded(frame)) {
                    return Ok(());
                }
                shared.queued.fetch_sub(len, Ordering::Relaxed);
                return Err(SendError::NotFound);
            }
            match self.policy() {
                SlowConsumer::Close => {
                    shared.post_slow_close();
                    return Err(SendError::SlowConsumer);
                }
                SlowConsumer::Wait => {
                    // Registered before the re-check, so a drain in between is not missed.
                    let notified = shared.room.notified();
                    tokio::pin!(notified);
                    notified.as_mut().enable();
                    if shared.queued.load(Ordering::Relaxed) + frame.len() <= cap
                        || !self.lock().contains_key(&id)
                    {
                        continue;
                    }
                    notified.await;
                }
            }
        }
    }
}

fn info_of(id: ConnId, e: &Entry) -> ConnInfo {
    ConnInfo {
        id,
        peer_addr: e.info.peer_addr,
        local_addr: e.info.local_addr,
        path: e.info.path.clone(),
        subprotocol: e.info.subprotocol.clone(),
        state: e.shared.state(),
        age: e.info.started.elapsed(),
        bytes_in: e.shared.bytes_in.load(Ordering::Relaxed),
        bytes_out: e.shared.bytes_out.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take_all(link: &mut Link) -> usize {
        let mut cx = Context::from_waker(Waker::noop());
        let mut taken = 0;
        while link.poll_take(&mut cx).is_some() {
            taken += 1;
        }
        taken
    }

    fn post_frames(shared: &Shared, n: usize) {
        let frame = EncodedFrame::server(&Message::text("news"));
        for _ in 0..n {
            assert!(shared.post(Outgoing::Encoded(frame.clone())));
        }
    }

    #[tokio::test]
    async fn a_slow_consumer_gets_one_close_however_many_sends_find_it_full() {
        let registry = Registry::new(16, SlowConsumer::Close);
        let (id, mut link) = registry.register(None, None, "/".into(), None);
        let message = Message::binary(vec![0u8; 64]);
        // The first fits (an empty queue takes any one message); the rest find it full.
        assert_eq!(registry.send(id, message.clone()).await, Ok(()));
        for _ in 0..100 {
            assert_eq!(
                registry.send(id, message.clone()).await,
                Err(SendError::SlowConsumer)
            );
        }
        assert_eq!(take_all(&mut link), 2, "the message and one close");
    }

    #[test]
    fn drained_mailbox_frees_what_a_burst_grew() {
        let registry = Registry::default();
        let (_, mut link) = registry.register(None, None, "/".into(), None);
        post_frames(&link.shared, 64);
        assert!(link.shared.mailbox().queue.capacity() >= 64);
        assert_eq!(take_all(&mut link), 64);
        assert!(link.shared.mailbox().queue.capacity() <= MAILBOX_KEEP);
    }

    #[test]
    fn mailbox_of_single_messages_keeps_its_small_allocation() {
        let registry = Registry::default();
        let (_, mut link) = registry.register(None, None, "/".into(), None);
        post_frames(&link.shared, 1);
        let capacity = link.shared.mailbox().queue.capacity();
        assert_eq!(take_all(&mut link), 1);
        assert_eq!(link.shared.mailbox().queue.capacity(), capacity);
    }
}
