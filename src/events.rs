//! Task events back to containerd over ttrpc (`TTRPC_ADDRESS`), in order,
//! retried until containerd answers. The queue is bounded: when containerd is
//! away for long, the oldest events are dropped first, with a warning.

use std::collections::VecDeque;
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
use tokio::sync::mpsc;

const MAX_QUEUED: usize = 4096;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Event {
    topic: &'static str,
    event: Any,
    at: SystemTime,
}

/// Something that has a containerd event topic.
pub trait Topic: MessageFull {
    const TOPIC: &'static str;
}
impl Topic for TaskCreate {
    const TOPIC: &'static str = "/tasks/create";
}
impl Topic for TaskStart {
    const TOPIC: &'static str = "/tasks/start";
}
impl Topic for TaskExit {
    const TOPIC: &'static str = "/tasks/exit";
}
impl Topic for TaskDelete {
    const TOPIC: &'static str = "/tasks/delete";
}
impl Topic for TaskExecAdded {
    const TOPIC: &'static str = "/tasks/exec-added";
}
impl Topic for TaskExecStarted {
    const TOPIC: &'static str = "/tasks/exec-started";
}
impl Topic for TaskOOM {
    const TOPIC: &'static str = "/tasks/oom";
}
impl Topic for TaskPaused {
    const TOPIC: &'static str = "/tasks/paused";
}
impl Topic for TaskResumed {
    const TOPIC: &'static str = "/tasks/resumed";
}

/// containerd's typeurl names event types by their full proto name.
pub fn to_any<M: MessageFull>(m: &M) -> Any {
    let mut any = Any::new();
    any.type_url = M::descriptor().full_name().to_string();
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
}

impl Publisher {
    /// Starts the sender task. `address` is containerd's ttrpc socket; `None`
    /// (no TTRPC_ADDRESS) drops events with a debug log.
    pub fn start(address: Option<String>, namespace: String) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx, address, namespace));
        Publisher { tx }
    }

    pub fn publish<M: Topic>(&self, m: &M) {
        let ev = Event {
            topic: M::TOPIC,
            event: to_any(m),
            at: SystemTime::now(),
        };
        let _ = self.tx.send(ev);
    }
}

async fn run(mut rx: mpsc::UnboundedReceiver<Event>, address: Option<String>, namespace: String) {
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
        while queue.len() > MAX_QUEUED {
            let dropped = queue.pop_front().unwrap();
            log::warn!("event queue full: dropped {} event", dropped.topic);
        }
        let Some(addr) = &address else {
            let ev = queue.pop_front().unwrap();
            log::debug!("no TTRPC_ADDRESS: not publishing {}", ev.topic);
            continue;
        };
        let ev = queue.front().unwrap();
        match forward(&mut client, addr, &namespace, ev).await {
            Ok(()) => {
                queue.pop_front();
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
    fn timestamps_keep_nanoseconds() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(12, 345);
        let ts = timestamp(t);
        assert_eq!((ts.seconds, ts.nanos), (12, 345));
    }
}
