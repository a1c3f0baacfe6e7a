//! Task events back to containerd over ttrpc (`TTRPC_ADDRESS`), in order,
//! retried until containerd answers, however long it is away (the Go shim
//! gives up on an event after a few attempts). The queue is bounded: past
//! MAX_QUEUED undelivered events the oldest are dropped first, with a
//! warning. Before the shim exits it flushes the queue (`Publisher::flush`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use containerd_shim_protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim_protos::protobuf::well_known_types::any::Any;
use containerd_shim_protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim_protos::protobuf::MessageFull;
use containerd_shim_protos::shim::event::Envelope;
use containerd_shim_protos::shim::events::ForwardRequest;
use containerd_shim_protos::shim_async::{Client, EventsClient};
use tokio::sync::{mpsc, Notify};

const MAX_QUEUED: usize = 4096;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Event {
    topic: &'static str,
    event: Any,
    at: SystemTime,
}

/// A message containerd decodes from an Any by its full proto name. The
/// name is a constant rather than `descriptor().full_name()`: the
/// descriptor is built lazily from the embedded .proto on first use, which
/// costs the long-lived shim memory and code for no other purpose.
pub trait TypeName: MessageFull {
    const TYPE_NAME: &'static str;
}

/// Something that has a containerd event topic.
pub trait Topic: TypeName {
    const TOPIC: &'static str;
}
macro_rules! type_names {
    ($($t:ty => $name:literal),* $(,)?) => {
        $(impl TypeName for $t {
            const TYPE_NAME: &'static str = $name;
        })*
    };
}

type_names! {
    TaskCreate => "containerd.events.TaskCreate",
    TaskStart => "containerd.events.TaskStart",
    TaskExit => "containerd.events.TaskExit",
    TaskDelete => "containerd.events.TaskDelete",
    TaskExecAdded => "containerd.events.TaskExecAdded",
    TaskExecStarted => "containerd.events.TaskExecStarted",
    TaskOOM => "containerd.events.TaskOOM",
    TaskPaused => "containerd.events.TaskPaused",
    TaskResumed => "containerd.events.TaskResumed",
    containerd_shim_protos::cgroups::metrics::Metrics => "io.containerd.cgroups.v1.Metrics",
    containerd_shim_protos::cgroups_v2::metrics::Metrics => "io.containerd.cgroups.v2.Metrics",
    containerd_shim_protos::shim::oci::ProcessDetails => "containerd.runc.v1.ProcessDetails",
}

macro_rules! topics {
    ($($t:ty => $topic:literal),* $(,)?) => {
        $(impl Topic for $t {
            const TOPIC: &'static str = $topic;
        })*
    };
}

topics! {
    TaskCreate => "/tasks/create",
    TaskStart => "/tasks/start",
    TaskExit => "/tasks/exit",
    TaskDelete => "/tasks/delete",
    TaskExecAdded => "/tasks/exec-added",
    TaskExecStarted => "/tasks/exec-started",
    TaskOOM => "/tasks/oom",
    TaskPaused => "/tasks/paused",
    TaskResumed => "/tasks/resumed",
}

/// containerd's typeurl names event types by their full proto name.
pub fn to_any<M: TypeName>(m: &M) -> Any {
    let mut any = Any::new();
    any.type_url = M::TYPE_NAME.to_string();
    any.value = m.write_to_bytes().unwrap_or_default();
    any
}

pub fn timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let mut ts = Timestamp::new();
    ts.seconds = d.as_secs() as i64;
    ts.nanos = d.subsec_nanos() as i32;
    ts
}

#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::UnboundedSender<Event>,
    pending: Arc<Pending>,
}

/// Events published and neither delivered nor dropped yet.
#[derive(Default)]
struct Pending {
    count: AtomicUsize,
    drained: Notify,
}

impl Pending {
    fn done(&self, n: usize) {
        if self.count.fetch_sub(n, Ordering::SeqCst) == n {
            self.drained.notify_waiters();
        }
    }
}

impl Publisher {
    /// Starts the sender task. `address` is containerd's ttrpc socket; `None`
    /// (no TTRPC_ADDRESS) drops events with a debug log.
    pub fn start(address: Option<String>, namespace: String) -> Self {
        Self::with_capacity(address, namespace, MAX_QUEUED)
    }

    fn with_capacity(address: Option<String>, namespace: String, capacity: usize) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let pending = Arc::new(Pending::default());
        tokio::spawn(run(rx, address, namespace, capacity, pending.clone()));
        Publisher { tx, pending }
    }

    pub fn publish<M: Topic>(&self, m: &M) {
        let ev = Event {
            topic: M::TOPIC,
            event: to_any(m),
            at: SystemTime::now(),
        };
        self.pending.count.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(ev).is_err() {
            self.pending.done(1);
        }
    }

    /// Waits until every event published so far is delivered (or dropped),
    /// for at most `limit`; false if some were still undelivered.
    pub async fn flush(&self, limit: Duration) -> bool {
        let wait = async {
            loop {
                let drained = self.pending.drained.notified();
                tokio::pin!(drained);
                drained.as_mut().enable();
                if self.pending.count.load(Ordering::SeqCst) == 0 {
                    return;
                }
                drained.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<Event>,
    address: Option<String>,
    namespace: String,
    capacity: usize,
    pending: Arc<Pending>,
) {
    let mut queue: VecDeque<Event> = VecDeque::new();
    let mut client: Option<EventsClient> = None;
    let mut backoff = Duration::from_millis(50);
    loop {
        if queue.is_empty() {
            match rx.recv().await {
                Some(ev) => queue.push_back(ev),
                None => return,
            }
        }
        while let Ok(ev) = rx.try_recv() {
            queue.push_back(ev);
        }
        while queue.len() > capacity {
            let dropped = queue.pop_front().unwrap();
            log::warn!(
                "{capacity} events undelivered: dropped the oldest, a {} event",
                dropped.topic
            );
            pending.done(1);
        }
        let Some(addr) = &address else {
            let ev = queue.pop_front().unwrap();
            log::debug!("no TTRPC_ADDRESS: not publishing {}", ev.topic);
            pending.done(1);
            continue;
        };
        let ev = queue.front().unwrap();
        match forward(&mut client, addr, &namespace, ev).await {
            Ok(()) => {
                queue.pop_front();
                pending.done(1);
                backoff = Duration::from_millis(50);
            }
            Err(e) => {
                log::warn!("publish {}: {e}; retrying in {backoff:?}", ev.topic);
                client = None;
                // Keep accepting new events while waiting to retry.
                let sleep = tokio::time::sleep(backoff);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        _ = &mut sleep => break,
                        ev = rx.recv() => match ev {
                            Some(ev) => queue.push_back(ev),
                            None => break,
                        },
                    }
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

async fn forward(
    client: &mut Option<EventsClient>,
    address: &str,
    namespace: &str,
    ev: &Event,
) -> Result<(), String> {
    if client.is_none() {
        let url = if address.contains("://") {
            address.to_string()
        } else {
            format!("unix://{address}")
        };
        let c = Client::connect(&url)
            .await
            .map_err(|e| format!("connect {url}: {e}"))?;
        *client = Some(EventsClient::new(c));
    }
    let mut envelope = Envelope::new();
    envelope.timestamp = Some(timestamp(ev.at)).into();
    envelope.namespace = namespace.to_string();
    envelope.topic = ev.topic.to_string();
    envelope.event = Some(ev.event.clone()).into();
    let mut req = ForwardRequest::new();
    req.envelope = Some(envelope).into();
    let mut ctx = ttrpc::context::with_timeout(REQUEST_TIMEOUT.as_nanos() as i64);
    ctx.add(
        "containerd-namespace-ttrpc".to_string(),
        namespace.to_string(),
    );
    client
        .as_ref()
        .unwrap()
        .forward(ctx, &req)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locked::Locked;
    use containerd_shim_protos::protobuf::Message;

    #[test]
    fn events_are_typed_by_their_proto_name() {
        let mut e = TaskExit::new();
        e.container_id = "c".into();
        e.exit_status = 137;
        let any = to_any(&e);
        assert_eq!(any.type_url, "containerd.events.TaskExit");
        let back = TaskExit::parse_from_bytes(&any.value).unwrap();
        assert_eq!(back.exit_status, 137);
        assert_eq!(TaskExit::TOPIC, "/tasks/exit");
    }

    #[test]
    fn type_names_are_the_descriptors_full_names() {
        fn check<M: TypeName>() {
            assert_eq!(M::TYPE_NAME, M::descriptor().full_name());
        }
        check::<TaskCreate>();
        check::<TaskStart>();
        check::<TaskExit>();
        check::<TaskDelete>();
        check::<TaskExecAdded>();
        check::<TaskExecStarted>();
        check::<TaskOOM>();
        check::<TaskPaused>();
        check::<TaskResumed>();
        check::<containerd_shim_protos::cgroups::metrics::Metrics>();
        check::<containerd_shim_protos::cgroups_v2::metrics::Metrics>();
        check::<containerd_shim_protos::shim::oci::ProcessDetails>();
    }

    #[test]
    fn timestamps_keep_nanoseconds() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(12, 345);
        let ts = timestamp(t);
        assert_eq!((ts.seconds, ts.nanos), (12, 345));
    }

    /// A stand-in for containerd's events service: records what it gets.
    struct Recorder(std::sync::Mutex<Vec<(String, u32)>>);

    #[async_trait::async_trait]
    impl containerd_shim_protos::shim_async::Events for Recorder {
        async fn forward(
            &self,
            _: &ttrpc::r#async::TtrpcContext,
            req: ForwardRequest,
        ) -> ttrpc::Result<containerd_shim_protos::protobuf::well_known_types::empty::Empty>
        {
            let env = req.envelope.unwrap();
            let exit = TaskExit::parse_from_bytes(&env.event.value).unwrap();
            self.0.locked().push((env.topic, exit.exit_status));
            Ok(Default::default())
        }
    }

    fn exit(status: u32) -> TaskExit {
        let mut e = TaskExit::new();
        e.container_id = "c".into();
        e.exit_status = status;
        e
    }

    fn socket(tag: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("shim-events-{tag}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    async fn serve(path: &std::path::Path) -> (ttrpc::r#async::Server, Arc<Recorder>) {
        let rec = Arc::new(Recorder(Default::default()));
        let services = containerd_shim_protos::shim_async::create_events(rec.clone());
        let mut server = ttrpc::r#async::Server::new()
            .bind(&format!("unix://{}", path.display()))
            .unwrap()
            .register_service(services);
        server.start().await.unwrap();
        (server, rec)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn events_published_while_containerd_is_away_arrive_in_order_once_it_is_back() {
        runtime().block_on(async {
            let path = socket("away");
            let p = Publisher::start(Some(path.display().to_string()), "ns".into());
            for status in [1, 2, 3] {
                p.publish(&exit(status));
            }
            // Nobody listens yet: the publisher retries, nothing is lost.
            assert!(!p.flush(Duration::from_millis(600)).await);
            let (mut server, rec) = serve(&path).await;
            assert!(
                p.flush(Duration::from_secs(10)).await,
                "not delivered after the listener came"
            );
            let got = rec.0.locked().clone();
            let want: Vec<(String, u32)> = [1, 2, 3].map(|s| ("/tasks/exit".to_string(), s)).into();
            assert_eq!(got, want);
            // Delivered once: nothing more arrives.
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(rec.0.locked().len(), 3);
            let _ = server.shutdown().await;
            let _ = std::fs::remove_file(&path);
        });
    }

    #[test]
    fn the_queue_is_bounded_and_drops_the_oldest_first() {
        runtime().block_on(async {
            let path = socket("bound");
            let p = Publisher::with_capacity(Some(path.display().to_string()), "ns".into(), 2);
            for status in 1..=5 {
                p.publish(&exit(status));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (mut server, rec) = serve(&path).await;
            assert!(p.flush(Duration::from_secs(10)).await);
            let got: Vec<u32> = rec.0.locked().iter().map(|e| e.1).collect();
            // Five undelivered events, room for two: the oldest three went.
            assert_eq!(got, vec![4, 5]);
            let _ = server.shutdown().await;
            let _ = std::fs::remove_file(&path);
        });
    }

    #[test]
    fn flush_returns_at_once_when_everything_was_delivered() {
        runtime().block_on(async {
            let p = Publisher::start(None, "ns".into());
            p.publish(&exit(0));
            assert!(p.flush(Duration::from_secs(1)).await);
        });
    }
}
