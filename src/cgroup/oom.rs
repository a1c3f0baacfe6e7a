//! OOM notices for every container of the shim, from one task.
//!
//! v1: an eventfd per container, registered through the memory cgroup's
//! `cgroup.event_control` for `memory.oom_control`; each read is one OOM.
//! The kernel also signals it when the cgroup is removed, which ends the
//! watch. v2: one inotify instance with a watch on each container's
//! `memory.events`; a notice each time its `oom_kill` count grows.
//! Both kinds of descriptor sit in one epoll set that the task waits on, so
//! `watch` and `unwatch` change the set directly. A watch ends on `unwatch`
//! or when its cgroup disappears (noticed by the kernel's signal or inotify
//! event, and by a periodic sweep); its descriptors close with it.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use tokio::io::unix::AsyncFd;
#[cfg(test)]
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::task::JoinHandle;

use super::fs::{flat_keyed, read, write};
use super::kmsg::OomLog;
use super::{Cgroup, Layout, CGROUP_ROOT};
use crate::error::{Error, IoContext, Result};
use crate::locked::Locked;

/// The epoll token of the inotify instance; eventfds get 1, 2, ...
const INOTIFY_TOKEN: u64 = 0;
/// How often to look for watched cgroups that are gone without an event
/// (a removed v2 cgroup does not always signal its inotify watch).
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// Watches the memory cgroups of the shim's containers and reports each
/// OOM by container id to every subscriber.
pub struct OomWatcher {
    /// The state shared with the task, or why it could not be set up.
    shared: std::result::Result<Arc<Shared>, String>,
    task: Option<JoinHandle<()>>,
}

impl OomWatcher {
    /// A watcher for this host's cgroups, its task spawned on the current
    /// tokio runtime (panics outside one). If its descriptors cannot be
    /// created, the error is logged and every `watch` returns it.
    // No Default: building one spawns a task, which needs a runtime.
    #[allow(clippy::new_without_default)]
    pub fn new() -> OomWatcher {
        let root = Path::new(CGROUP_ROOT);
        OomWatcher::under(root, Layout::of(root))
    }

    /// A watcher for the cgroup tree at `root`, mounted with `layout`.
    fn under(root: &Path, layout: Layout) -> OomWatcher {
        match Shared::new(root, layout) {
            Ok(shared) => {
                let shared = Arc::new(shared);
                let task = tokio::spawn(run(shared.clone()));
                OomWatcher {
                    shared: Ok(shared),
                    task: Some(task),
                }
            }
            Err(e) => {
                log::error!("OOM watcher unavailable: {e}");
                OomWatcher {
                    shared: Err(e.to_string()),
                    task: None,
                }
            }
        }
    }

    /// A channel that receives the container id of every OOM from now on.
    #[cfg(test)]
    pub fn subscribe(&self) -> UnboundedReceiver<String> {
        let (tx, rx) = unbounded_channel();
        self.on_oom(move |id| {
            let _ = tx.send(id.to_string());
        });
        rx
    }

    /// Calls `sink` with the container id of every OOM from now on, at once
    /// and under the watcher's lock: what `sink` publishes is then ordered
    /// before anything published after a `settle` of that container.
    pub fn on_oom(&self, sink: impl Fn(&str) + Send + 'static) {
        if let Ok(shared) = &self.shared {
            shared.lock().sinks.push(Box::new(sink));
        }
    }

    /// Reports, before it returns, an OOM of `container_id` that the kernel
    /// has counted and the watcher has not reported yet; true if there was
    /// one. Called when the container's init is reaped and before its exit
    /// is published, so that the OOM event comes first even when the
    /// cgroup's notice has not arrived yet, or never will (systemd removes
    /// an emptied scope's cgroup at once).
    pub fn settle(&self, container_id: &str) -> bool {
        let Ok(shared) = &self.shared else {
            return false;
        };
        let mut state = shared.lock();
        state.absorb_log(&shared.root);
        match state.watches.get_mut(container_id).map(Watch::check) {
            Some(Outcome::Oom) => {
                state.notify(container_id);
                true
            }
            Some(Outcome::Gone) => shared.end_gone(&mut state, vec![container_id.to_string()]),
            _ => false,
        }
    }

    /// Starts reporting OOMs in the cgroup at `cgroups_path` as
    /// `container_id` (replacing an earlier watch of that id). NotFound
    /// when the container has no memory cgroup.
    pub fn watch(&self, container_id: String, cgroups_path: &str) -> Result<()> {
        match &self.shared {
            Ok(shared) => shared.watch(container_id, cgroups_path),
            Err(e) => Err(Error::Other(format!("OOM watcher unavailable: {e}"))),
        }
    }

    /// Stops watching `container_id` (nothing if it is not watched).
    pub fn unwatch(&self, container_id: &str) {
        if let Ok(shared) = &self.shared {
            shared.end_watches(&mut shared.lock(), vec![container_id.to_string()]);
        }
    }

    /// The ids watched now, sorted.
    #[cfg(test)]
    fn watched(&self) -> Vec<String> {
        let shared = self.shared.as_ref().unwrap();
        let mut ids: Vec<String> = shared.lock().watches.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// How many watches the kernel holds for this watcher, from fdinfo:
    /// eventfds in the epoll set (v1) or inotify watches (v2).
    #[cfg(test)]
    fn kernel_watches(&self) -> usize {
        let shared = self.shared.as_ref().unwrap();
        let (fd, prefix) = match &shared.inotify {
            None => (shared.epoll.as_raw_fd(), "tfd:"),
            Some(inotify) => (std::os::fd::AsFd::as_fd(inotify).as_raw_fd(), "inotify wd:"),
        };
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).unwrap();
        info.lines().filter(|l| l.starts_with(prefix)).count()
    }
}

impl Drop for OomWatcher {
    /// Stops the task; the descriptors close once it is gone.
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// An epoll instance as tokio needs it (nix's Epoll has no AsRawFd).
struct EpollFd(Epoll);

impl AsRawFd for EpollFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0 .0.as_raw_fd()
    }
}

/// Registers the epoll instance with tokio's reactor (which must be
/// running), so that the task can wait for it to become readable.
// tokio's safe AsyncFd::new is deprecated as unsound for borrowed fds; its
// replacement states the fd's validity as an unsafe contract.
#[allow(unsafe_code)]
fn register(epoll: EpollFd) -> Result<AsyncFd<EpollFd>> {
    // SAFETY: the AsyncFd takes ownership of `epoll`, whose OwnedFd stays
    // open until the AsyncFd drops it (after deregistering), and
    // `as_raw_fd` returns that same descriptor on every call.
    unsafe { AsyncFd::register(epoll) }
        .map_err(|e| Error::io("register epoll with tokio", e.into_parts().1))
}

/// What the task and the handle share.
struct Shared {
    root: PathBuf,
    layout: Layout,
    /// Every eventfd (v1) or the inotify instance (v2), by token.
    epoll: AsyncFd<EpollFd>,
    /// v2 only.
    inotify: Option<Inotify>,
    state: Mutex<State>,
}

/// Where the container id of an OOM goes.
type OomSink = Box<dyn Fn(&str) + Send>;

#[derive(Default)]
struct State {
    watches: HashMap<String, Watch>,
    /// The last eventfd token given out.
    last_token: u64,
    /// Where OOMs go (`on_oom`).
    sinks: Vec<OomSink>,
    /// The kernel's log of OOM kills (v2), for cgroups that are gone before
    /// their memory.events is read.
    log: Option<OomLog>,
}

/// One container's memory cgroup being watched.
struct Watch {
    /// The memory cgroup's directory.
    dir: PathBuf,
    source: Source,
}

enum Source {
    /// The eventfd registered for memory.oom_control, which stays open as
    /// long as the registration.
    V1 {
        token: u64,
        eventfd: EventFd,
        _oom_control: File,
    },
    /// The inotify watch on memory.events and the oom_kill count seen last;
    /// `start`, the count when the watch began; `logged`, the kills the
    /// kernel log has recorded for the cgroup since.
    V2 {
        wd: WatchDescriptor,
        oom_kills: u64,
        start: u64,
        logged: u64,
    },
}

/// What a ready watch had to say.
#[derive(Debug, PartialEq)]
enum Outcome {
    Nothing,
    Oom,
    /// The cgroup is gone.
    Gone,
}

/// An io error from a nix call, naming what was being done.
fn nix_err(what: impl std::fmt::Display, e: Errno) -> Error {
    Error::io(what, std::io::Error::from(e))
}

impl Shared {
    /// The epoll set and, on v2, the inotify instance in it.
    fn new(root: &Path, layout: Layout) -> Result<Shared> {
        let epoll =
            Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| nix_err("epoll_create1", e))?;
        let inotify = match layout {
            Layout::V1 => None,
            Layout::V2 => {
                let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
                    .map_err(|e| nix_err("inotify_init1", e))?;
                epoll
                    .add(
                        &inotify,
                        EpollEvent::new(EpollFlags::EPOLLIN, INOTIFY_TOKEN),
                    )
                    .map_err(|e| nix_err("add inotify to epoll", e))?;
                Some(inotify)
            }
        };
        Ok(Shared {
            root: root.to_path_buf(),
            layout,
            epoll: register(EpollFd(epoll))?,
            inotify,
            state: Mutex::new(State {
                log: match layout {
                    Layout::V1 => None,
                    Layout::V2 => OomLog::open(),
                },
                ..State::default()
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.locked()
    }

    fn epoll(&self) -> &Epoll {
        &self.epoll.get_ref().0
    }

    /// Registers the memory cgroup of `cgroups_path` as `id`.
    fn watch(&self, id: String, cgroups_path: &str) -> Result<()> {
        let dir = Cgroup::new(&self.root, self.layout, cgroups_path).dir("memory");
        if !dir.is_dir() {
            return Err(Error::NotFound(format!(
                "memory cgroup {} of container {id} not found",
                dir.display()
            )));
        }
        // Held while registering, so that the task sees no event of a
        // watch it does not know yet.
        let mut state = self.lock();
        // Kills logged before the watch are not its.
        state.absorb_log(&self.root);
        let source = match &self.inotify {
            None => {
                state.last_token += 1;
                self.register_v1(&dir, state.last_token)?
            }
            Some(inotify) => register_v2(inotify, &dir)?,
        };
        if let Some(old) = state.watches.insert(id, Watch { dir, source }) {
            self.release(old, &state);
        }
        Ok(())
    }

    /// An eventfd for OOMs in the v1 memory cgroup `dir`, in the epoll set
    /// as `token`.
    fn register_v1(&self, dir: &Path, token: u64) -> Result<Source> {
        let control = dir.join("memory.oom_control");
        let oom_control =
            File::open(&control).io_context(|| format!("open {}", control.display()))?;
        let eventfd = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(|e| nix_err("eventfd", e))?;
        write(
            &dir.join("cgroup.event_control"),
            &format!("{} {}", eventfd.as_raw_fd(), oom_control.as_raw_fd()),
        )?;
        self.epoll()
            .add(&eventfd, EpollEvent::new(EpollFlags::EPOLLIN, token))
            .map_err(|e| {
                nix_err(
                    format!("add the OOM eventfd of {} to epoll", dir.display()),
                    e,
                )
            })?;
        Ok(Source::V1 {
            token,
            eventfd,
            _oom_control: oom_control,
        })
    }

    /// Takes `w`'s descriptors out of the kernel's sets; they close when
    /// `w` drops. `state` holds the remaining watches.
    fn release(&self, w: Watch, state: &State) {
        match w.source {
            Source::V1 { eventfd, .. } => {
                let _ = self.epoll().delete(&eventfd);
            }
            Source::V2 { wd, .. } => {
                // Two ids on one cgroup share the inotify watch.
                let shared = state
                    .watches
                    .values()
                    .any(|o| matches!(o.source, Source::V2 { wd: other, .. } if other == wd));
                if let (false, Some(inotify)) = (shared, &self.inotify) {
                    // EINVAL when the kernel already dropped it (IN_IGNORED).
                    let _ = inotify.rm_watch(wd);
                }
            }
        }
    }

    /// Handles the ready entries of the epoll set.
    fn dispatch(&self, events: &[EpollEvent]) {
        let mut state = self.lock();
        // Before memory.events is read: the log has each kill before the
        // count does, so a kill counted below is also logged by now.
        state.absorb_log(&self.root);
        let mut ready = Vec::new();
        let mut gone = Vec::new();
        for e in events {
            if e.data() == INOTIFY_TOKEN {
                self.read_inotify(&state, &mut ready, &mut gone);
            } else {
                ready.extend(ids_where(
                    &state,
                    |s| matches!(s, Source::V1 { token, .. } if *token == e.data()),
                ));
            }
        }
        ready.sort();
        ready.dedup();
        for id in ready {
            match state.watches.get_mut(&id).map(Watch::check) {
                Some(Outcome::Oom) => state.notify(&id),
                Some(Outcome::Gone) => gone.push(id),
                _ => {}
            }
        }
        self.end_gone(&mut state, gone);
    }

    /// Ends the watches of `ids`, whose cgroups are gone, reporting first
    /// the kills that the kernel logged for them and their memory.events
    /// never showed the watcher; true if it reported one.
    fn end_gone(&self, state: &mut State, ids: Vec<String>) -> bool {
        let mut reported = false;
        for id in &ids {
            if state.watches.get(id).is_some_and(Watch::missed_a_kill) {
                log::debug!("OOM of {id} known from the kernel log only");
                state.notify(id);
                reported = true;
            }
        }
        self.end_watches(state, ids);
        reported
    }

    /// Drains the inotify instance: ids whose memory.events changed go to
    /// `ready`, ids whose file is gone to `gone`.
    fn read_inotify(&self, state: &State, ready: &mut Vec<String>, gone: &mut Vec<String>) {
        let Some(inotify) = &self.inotify else {
            return;
        };
        loop {
            match inotify.read_events() {
                Ok(events) => {
                    for ev in events {
                        let ids = ids_where(
                            state,
                            |s| matches!(s, Source::V2 { wd, .. } if *wd == ev.wd),
                        );
                        if ev
                            .mask
                            .intersects(AddWatchFlags::IN_IGNORED | AddWatchFlags::IN_DELETE_SELF)
                        {
                            gone.extend(ids);
                        } else {
                            ready.extend(ids);
                        }
                    }
                }
                Err(Errno::EAGAIN) => return,
                Err(Errno::EINTR) => {}
                Err(e) => {
                    log::warn!("OOM watcher: reading inotify events: {e}");
                    return;
                }
            }
        }
    }

    /// Ends the watches of cgroups that no longer exist.
    fn sweep(&self) {
        let mut state = self.lock();
        let gone = state
            .watches
            .iter()
            .filter(|(_, w)| !w.dir.exists())
            .map(|(id, _)| id.clone())
            .collect();
        state.absorb_log(&self.root);
        self.end_gone(&mut state, gone);
    }

    /// Ends the watches of `ids` (those that exist).
    fn end_watches(&self, state: &mut State, ids: Vec<String>) {
        for id in ids {
            if let Some(w) = state.watches.remove(&id) {
                log::debug!("OOM watch of {id} on {} ended", w.dir.display());
                self.release(w, state);
            }
        }
    }
}

/// The ids of the watches whose source matches `pred`.
fn ids_where(state: &State, pred: impl Fn(&Source) -> bool) -> Vec<String> {
    state
        .watches
        .iter()
        .filter(|(_, w)| pred(&w.source))
        .map(|(id, _)| id.clone())
        .collect()
}

/// An inotify watch on memory.events of the v2 cgroup `dir`, with the
/// oom_kill count it starts from. The count is read first: an OOM between
/// the two steps is then reported with the next event instead of lost.
fn register_v2(inotify: &Inotify, dir: &Path) -> Result<Source> {
    let file = dir.join("memory.events");
    let oom_kills = oom_kill_count(&read(&file)?).unwrap_or(0);
    let start = oom_kills;
    let wd = inotify
        .add_watch(
            &file,
            AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_DELETE_SELF,
        )
        .map_err(|e| nix_err(format!("watch {}", file.display()), e))?;
    Ok(Source::V2 {
        wd,
        oom_kills,
        start,
        logged: 0,
    })
}

/// The oom_kill count in the text of memory.events.
fn oom_kill_count(memory_events: &str) -> Option<u64> {
    flat_keyed(memory_events).get("oom_kill").copied()
}

/// Whether memory.events (`text`) shows more OOM kills than `seen`, which
/// it then updates. A count that is missing or lower (a partly written file)
/// changes nothing.
fn oom_kills_grew(seen: &mut u64, text: &str) -> bool {
    match oom_kill_count(text) {
        Some(n) if n > *seen => {
            *seen = n;
            true
        }
        _ => false,
    }
}

impl Watch {
    /// What it means that this watch's descriptor is ready.
    fn check(&mut self) -> Outcome {
        match &mut self.source {
            Source::V1 { eventfd, .. } => match eventfd.read() {
                Err(Errno::EAGAIN) => Outcome::Nothing,
                // The kernel signals removal the same way as an OOM.
                _ if !self.dir.join("cgroup.event_control").exists() => Outcome::Gone,
                Ok(_) => Outcome::Oom,
                Err(e) => {
                    log::warn!(
                        "OOM watcher: reading the eventfd of {}: {e}",
                        self.dir.display()
                    );
                    Outcome::Nothing
                }
            },
            Source::V2 { oom_kills, .. } => {
                let file = self.dir.join("memory.events");
                match std::fs::read_to_string(&file) {
                    Ok(text) if oom_kills_grew(oom_kills, &text) => Outcome::Oom,
                    Ok(_) => Outcome::Nothing,
                    // ENOENT, or ENODEV from a removed cgroup's open file.
                    Err(_) if !self.dir.exists() => Outcome::Gone,
                    Err(e) => {
                        log::warn!("OOM watcher: read {}: {e}", file.display());
                        Outcome::Nothing
                    }
                }
            }
        }
    }
}

impl Watch {
    /// Whether the kernel logged more kills in this cgroup than its
    /// memory.events showed the watcher (v2; v1's eventfd misses none).
    fn missed_a_kill(&self) -> bool {
        match self.source {
            Source::V2 {
                oom_kills,
                start,
                logged,
                ..
            } => logged > oom_kills.saturating_sub(start),
            Source::V1 { .. } => false,
        }
    }
}

impl State {
    /// Counts the kills the kernel has logged since the last call against
    /// the watches of their cgroups (`root` is the cgroup mount).
    fn absorb_log(&mut self, root: &Path) {
        let Some(log) = &mut self.log else {
            return;
        };
        for cgroup in log.drain() {
            let dir = root.join(cgroup.trim_start_matches('/'));
            for w in self.watches.values_mut().filter(|w| w.dir == dir) {
                if let Source::V2 { logged, .. } = &mut w.source {
                    *logged += 1;
                }
            }
        }
    }

    /// Tells every sink that `id` hit an OOM.
    fn notify(&mut self, id: &str) {
        log::info!("container {id}: OOM");
        for sink in &self.sinks {
            sink(id);
        }
    }
}

/// The watcher's task: waits on the epoll set, handles what is ready, and
/// now and then sweeps out watches of cgroups that are gone.
async fn run(shared: Arc<Shared>) {
    let mut sweep = tokio::time::interval(SWEEP_INTERVAL);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ready = shared.epoll.readable() => {
                let mut guard = match ready {
                    Ok(guard) => guard,
                    Err(e) => {
                        log::error!("OOM watcher stopped: waiting on epoll: {e}");
                        return;
                    }
                };
                let mut events = [EpollEvent::empty(); 16];
                match shared.epoll().wait(&mut events, EpollTimeout::ZERO) {
                    Ok(0) => guard.clear_ready(),
                    Ok(n) => shared.dispatch(&events[..n]),
                    Err(Errno::EINTR) => {}
                    Err(e) => {
                        log::error!("OOM watcher stopped: epoll_wait: {e}");
                        return;
                    }
                }
            }
            _ = sweep.tick() => shared.sweep(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{RealCgroup, Root};
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use tokio::time::timeout;

    const MEMORY_EVENTS: &str = "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n";

    /// Waits up to `secs` for `cond`, letting the watcher's task run.
    async fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
        for _ in 0..secs * 100 {
            if cond() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cond()
    }

    #[test]
    fn counts_v2_oom_kills_only_when_they_grow() {
        let mut seen = 0;
        assert!(!oom_kills_grew(&mut seen, MEMORY_EVENTS));
        assert!(oom_kills_grew(&mut seen, "oom 1\noom_kill 1\n"));
        assert_eq!(seen, 1);
        // Other counters moving, a truncated or partly written file: no OOM.
        assert!(!oom_kills_grew(&mut seen, "max 7\noom_kill 1\n"));
        assert!(!oom_kills_grew(&mut seen, ""));
        assert!(!oom_kills_grew(&mut seen, "oom_kill 0\n"));
        assert_eq!(seen, 1);
        assert!(oom_kills_grew(&mut seen, "oom_kill 3\n"));
        assert_eq!(seen, 3);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn reports_v2_oom_kills_from_memory_events() {
        let root = Root::v2("oom2");
        root.write("default/c1/memory.events", MEMORY_EVENTS);
        root.write("default/c2/memory.events", "oom_kill 4\n");
        let watcher = OomWatcher::under(root.path(), Layout::V2);
        let mut notices = watcher.subscribe();
        watcher.watch("c1".into(), "/default/c1").unwrap();
        watcher.watch("c2".into(), "/default/c2").unwrap();
        assert_eq!(watcher.kernel_watches(), 2);

        root.write("default/c1/memory.events", "oom 1\noom_kill 1\n");
        let got = timeout(Duration::from_secs(5), notices.recv())
            .await
            .unwrap();
        assert_eq!(got.as_deref(), Some("c1"));
        // A change that is no new kill says nothing; the next kill does.
        root.write("default/c1/memory.events", "max 2\noom_kill 1\n");
        root.write("default/c2/memory.events", "oom_kill 5\n");
        let got = timeout(Duration::from_secs(5), notices.recv())
            .await
            .unwrap();
        assert_eq!(got.as_deref(), Some("c2"));
        assert!(notices.try_recv().is_err());

        // Unwatched: no more notices for c2.
        watcher.unwatch("c2");
        assert_eq!(watcher.kernel_watches(), 1);
        root.write("default/c2/memory.events", "oom_kill 6\n");
        root.write("default/c1/memory.events", "oom_kill 2\n");
        let got = timeout(Duration::from_secs(5), notices.recv())
            .await
            .unwrap();
        assert_eq!(got.as_deref(), Some("c1"));
        assert!(notices.try_recv().is_err());

        // The cgroup goes away: the watch ends by itself.
        std::fs::remove_dir_all(root.path().join("default/c1")).unwrap();
        assert!(
            eventually(5, || watcher.watched().is_empty()).await,
            "{:?}",
            watcher.watched()
        );
        assert_eq!(watcher.kernel_watches(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn settle_reports_a_kill_before_the_notice_and_only_once() {
        let root = Root::v2("oom2-settle");
        root.write("default/c1/memory.events", MEMORY_EVENTS);
        let watcher = OomWatcher::under(root.path(), Layout::V2);
        let mut notices = watcher.subscribe();
        watcher.watch("c1".into(), "/default/c1").unwrap();
        assert!(!watcher.settle("c1"), "no kill yet");
        // The kill is counted; the watcher's task has not run since (one
        // thread, no await): settle reports it at once.
        root.write("default/c1/memory.events", "oom 1\noom_kill 1\n");
        assert!(watcher.settle("c1"));
        assert_eq!(notices.try_recv().ok().as_deref(), Some("c1"));
        // The inotify notice of that write, handled now, says nothing more.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(notices.try_recv().is_err());
        assert!(!watcher.settle("c1"));
        assert!(!watcher.settle("unknown"));
    }

    /// Counts one kill of `id`'s cgroup as the kernel log would.
    fn log_a_kill(watcher: &OomWatcher, id: &str) {
        let shared = watcher.shared.as_ref().unwrap();
        match &mut shared.lock().watches.get_mut(id).unwrap().source {
            Source::V2 { logged, .. } => *logged += 1,
            Source::V1 { .. } => panic!("not a v2 watch"),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_kill_only_the_kernel_log_saw_is_reported_when_the_cgroup_goes() {
        let root = Root::v2("oom2-log");
        root.write("default/c1/memory.events", MEMORY_EVENTS);
        root.write("default/c2/memory.events", MEMORY_EVENTS);
        let watcher = OomWatcher::under(root.path(), Layout::V2);
        let mut notices = watcher.subscribe();
        watcher.watch("c1".into(), "/default/c1").unwrap();
        watcher.watch("c2".into(), "/default/c2").unwrap();
        // c1: killed, and systemd removed the scope before memory.events
        // was read; the kernel log has the kill.
        log_a_kill(&watcher, "c1");
        std::fs::remove_dir_all(root.path().join("default/c1")).unwrap();
        assert!(watcher.settle("c1"));
        assert_eq!(notices.try_recv().ok().as_deref(), Some("c1"));
        assert!(!watcher.watched().contains(&"c1".to_string()));
        // c2: the kill was read from memory.events first; the log's record
        // of it adds nothing when the cgroup goes.
        root.write("default/c2/memory.events", "oom 1\noom_kill 1\n");
        assert!(watcher.settle("c2"));
        assert_eq!(notices.try_recv().ok().as_deref(), Some("c2"));
        log_a_kill(&watcher, "c2");
        std::fs::remove_dir_all(root.path().join("default/c2")).unwrap();
        assert!(!watcher.settle("c2"));
        assert!(notices.try_recv().is_err());
        assert!(watcher.watched().is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_sweep_ends_watches_of_removed_cgroups() {
        let root = Root::v2("oom2-sweep");
        root.write("default/c1/memory.events", MEMORY_EVENTS);
        let watcher = OomWatcher::under(root.path(), Layout::V2);
        watcher.watch("c1".into(), "/default/c1").unwrap();
        // Gone without an inotify event reaching the watch (as a removed v2
        // cgroup can be): only the sweep notices.
        let shared = watcher.shared.as_ref().unwrap().clone();
        std::fs::rename(root.path().join("default"), root.path().join("moved")).unwrap();
        assert_eq!(watcher.watched(), vec!["c1"]);
        shared.sweep();
        assert!(watcher.watched().is_empty());
        assert_eq!(watcher.kernel_watches(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn watching_needs_a_memory_cgroup() {
        let root = Root::v1("oom1-none");
        root.write("pids/default/c1/cgroup.procs", "");
        let watcher = OomWatcher::under(root.path(), Layout::V1);
        let err = watcher.watch("c1".into(), "/default/c1").unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        assert!(
            err.to_string()
                .contains("memory/default/c1 of container c1"),
            "{err}"
        );

        let v2 = Root::v2("oom2-none");
        v2.write("default/c1/cgroup.procs", "");
        let watcher = OomWatcher::under(v2.path(), Layout::V2);
        let err = watcher.watch("c1".into(), "/default/c1").unwrap_err();
        assert!(
            err.to_string().contains("default/c1/memory.events"),
            "{err}"
        );
        assert!(watcher.watched().is_empty());
    }

    /// A real OOM on this host: a process over an 8 MiB limit in a memory
    /// cgroup of its own (v1 or v2).
    #[tokio::test(flavor = "current_thread")]
    async fn reports_a_real_oom_and_forgets_the_removed_cgroup() {
        let Some(mut cg) = RealCgroup::create("memory", "oom") else {
            return;
        };
        let limit = (8u64 << 20).to_string();
        // With swap, the process would swap instead of being killed.
        match cg.layout {
            Layout::V1 => {
                cg.write("memory.limit_in_bytes", &limit);
                if cg.dir.join("memory.memsw.limit_in_bytes").exists() {
                    cg.write("memory.memsw.limit_in_bytes", &limit);
                }
            }
            Layout::V2 => {
                cg.write("memory.max", &limit);
                if cg.dir.join("memory.swap.max").exists() {
                    cg.write("memory.swap.max", "0");
                }
            }
        }
        let watcher = OomWatcher::new();
        let mut notices = watcher.subscribe();
        watcher.watch("oom-test".into(), &cg.path).unwrap();
        assert_eq!(watcher.watched(), vec!["oom-test"]);
        assert_eq!(watcher.kernel_watches(), 1);

        // tail keeps the endless "line" of /dev/zero in memory.
        let mut child = cg.spawn("tail /dev/zero");
        let got = timeout(Duration::from_secs(30), notices.recv()).await;
        let _ = child.kill();
        let status = child.wait().unwrap();
        assert_eq!(
            got.ok().flatten().as_deref(),
            Some("oom-test"),
            "no OOM notice in 30s"
        );
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");

        // rmdir signals the eventfd (v1) or, not always, inotify (v2; the
        // sweep ends it then); the watcher must drop the watch without
        // reporting another OOM.
        cg.remove().unwrap();
        assert!(
            eventually(SWEEP_INTERVAL.as_secs() + 5, || watcher
                .watched()
                .is_empty())
            .await,
            "{:?}",
            watcher.watched()
        );
        assert_eq!(watcher.kernel_watches(), 0);
        assert!(notices.try_recv().is_err());
    }
}
