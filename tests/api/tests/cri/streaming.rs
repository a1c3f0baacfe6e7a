//! Exec and Attach through the CRI streaming server, as kubectl reaches them
//! (through the API server and kubelet): the RuntimeService call returns a
//! URL on containerd's streaming server, spoken to over WebSocket with the
//! `v4.channel.k8s.io` subprotocol. Each binary frame is one channel byte
//! (0 stdin, 1 stdout, 2 stderr, 3 the final metav1.Status as JSON, 4 terminal
//! resize as {"Width","Height"} JSON) and that channel's data.

use super::*;
use futures_util::{SinkExt, StreamExt};
use k8s_cri::v1::{AttachRequest, ExecRequest};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

const PROTOCOL: &str = "v4.channel.k8s.io";
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const RESIZE: u8 = 4;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What came out of a session, by channel.
#[derive(Default, Debug)]
struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: Vec<u8>,
}

impl Output {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// The final metav1.Status (v4 sends one when the process ends).
    fn status(&self) -> serde_json::Value {
        serde_json::from_slice(&self.status).unwrap_or_else(|e| {
            panic!(
                "status channel: not JSON ({e}): {:?} (stdout {:?}, stderr {:?})",
                String::from_utf8_lossy(&self.status),
                self.stdout(),
                self.stderr()
            )
        })
    }
}

/// Opens the streaming URL containerd returned (http://host:port/...) as
/// a WebSocket with the v4 channel protocol.
async fn open(url: &str) -> Socket {
    let ws_url = url
        .strip_prefix("http://")
        .map(|rest| format!("ws://{rest}"))
        .unwrap_or_else(|| panic!("streaming URL {url:?} is not http://"));
    let mut req = ws_url
        .as_str()
        .into_client_request()
        .unwrap_or_else(|e| panic!("streaming URL {ws_url}: {e}"));
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(PROTOCOL));
    let (ws, resp) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(req),
    )
    .await
    .unwrap_or_else(|_| panic!("WebSocket handshake with {ws_url} timed out"))
    .unwrap_or_else(|e| panic!("WebSocket handshake with {ws_url}: {e}"));
    assert_eq!(
        resp.headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok()),
        Some(PROTOCOL),
        "the streaming server did not agree on {PROTOCOL}: {resp:?}"
    );
    ws
}

async fn send(ws: &mut Socket, channel: u8, data: &[u8]) {
    let mut frame = vec![channel];
    frame.extend_from_slice(data);
    ws.send(Message::Binary(frame.into()))
        .await
        .unwrap_or_else(|e| panic!("send on channel {channel}: {e}"));
}

/// Reads frames into `out` until `done` holds for it, the server closes the
/// connection (true then), or `timeout` passes (a panic naming `what`).
/// Returns whether the connection was closed.
async fn read(
    ws: &mut Socket,
    out: &mut Output,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Output) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    while !done(out) {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("timed out after {timeout:?} waiting for {what}: {out:?}"));
        let data = match msg {
            None | Some(Ok(Message::Close(_))) => return true,
            Some(Ok(Message::Binary(d))) => d,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => panic!("unexpected WebSocket message {other:?}"),
            Some(Err(e)) => panic!("WebSocket read while waiting for {what}: {e}"),
        };
        // A frame without even its channel byte carries nothing.
        let Some((&channel, payload)) = data.split_first() else {
            continue;
        };
        match channel {
            STDOUT => out.stdout.extend_from_slice(payload),
            STDERR => out.stderr.extend_from_slice(payload),
            STATUS => out.status.extend_from_slice(payload),
            c => panic!("frame on unexpected channel {c}: {payload:?}"),
        }
    }
    false
}

/// Reads until the server closes the connection after the process ended.
async fn read_to_end(ws: &mut Socket, what: &str) -> Output {
    let mut out = Output::default();
    read(ws, &mut out, what, Duration::from_secs(20), |_| false).await;
    out
}

async fn exec_url(cri: &mut Cri, req: ExecRequest) -> String {
    let cmd = req.cmd.clone();
    cri.exec(req)
        .await
        .unwrap_or_else(|e| panic!("Exec {cmd:?}: {e:?}"))
        .into_inner()
        .url
}

fn exec_req(id: &str, cmd: &[&str], stdin: bool, tty: bool) -> ExecRequest {
    ExecRequest {
        container_id: id.into(),
        cmd: cmd.iter().map(|a| a.to_string()).collect(),
        tty,
        stdin,
        stdout: true,
        // With a tty, stderr is the terminal too (CRI refuses both).
        stderr: !tty,
    }
}

fn assert_success(out: &Output) {
    let status = out.status();
    assert_eq!(status["status"], "Success", "{status} ({out:?})");
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "needs a containerd with the CRI plugin: hack/test.sh runs it with --ignored and CRI_ADDRESS"]
async fn cri_exec_and_attach_stream_over_websocket() {
    with_pod(
        "cri-stream",
        NamespaceMode::Container,
        |mut cri, pod, pod_id| async move {
            let app = start_config(
                &mut cri,
                &pod,
                &pod_id,
                pod.container("app", "exec sleep 1000"),
            )
            .await;

            // Output on its channels, the exit code in the final status.
            let url = exec_url(
                &mut cri,
                exec_req(
                    &app,
                    &["sh", "-c", "echo out; echo err >&2; exit 3"],
                    false,
                    false,
                ),
            )
            .await;
            eprintln!("exec URL {url}");
            let out = read_to_end(&mut open(&url).await, "exec exit 3").await;
            assert_eq!(
                (out.stdout(), out.stderr()),
                ("out\n".into(), "err\n".into())
            );
            let status = out.status();
            assert_eq!(
                (&status["status"], &status["reason"]),
                (&"Failure".into(), &"NonZeroExitCode".into()),
                "{status}"
            );
            let causes = status["details"]["causes"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(
                causes
                    .iter()
                    .any(|c| c["reason"] == "ExitCode" && c["message"] == "3"),
                "no ExitCode 3 cause: {status}"
            );

            // Stdin: a line in, the same line out.
            let url = exec_url(&mut cri, exec_req(&app, &["head", "-n1"], true, false)).await;
            let mut ws = open(&url).await;
            send(&mut ws, STDIN, b"hello\n").await;
            let out = read_to_end(&mut ws, "head -n1 to echo stdin").await;
            assert_eq!(out.stdout(), "hello\n", "{out:?}");
            assert_success(&out);

            // A terminal: tty names a pty, and a resize reaches it.
            let script =
                "tty; stty size; while read x; do [ \"$x\" = q ] && exit 0; stty size; done";
            let url = exec_url(&mut cri, exec_req(&app, &["sh", "-c", script], true, true)).await;
            let mut ws = open(&url).await;
            let mut out = Output::default();
            let first = |o: &Output| {
                let s = o.stdout();
                s.contains("/dev/pts/") && s.lines().count() >= 2
            };
            let closed = read(
                &mut ws,
                &mut out,
                "tty and the first stty size",
                Duration::from_secs(10),
                first,
            )
            .await;
            assert!(
                !closed,
                "the tty exec ended early: {out:?} {:?}",
                String::from_utf8_lossy(&out.status)
            );
            let printed = out.stdout();
            let mut lines = printed.lines().filter(|l| !l.trim().is_empty());
            let tty = lines.next().unwrap_or_default().trim().to_string();
            let before = lines.next().unwrap_or_default().trim().to_string();
            assert!(
                tty.starts_with("/dev/pts/") && tty["/dev/pts/".len()..].parse::<u32>().is_ok(),
                "tty printed {tty:?}"
            );
            assert_ne!(
                before, "45 123",
                "the pty already had the size the test sets"
            );
            send(&mut ws, RESIZE, br#"{"Width":123,"Height":45}"#).await;
            // The resize goes its own way (containerd's ResizePty to the
            // shim): ask again until the new size shows.
            let mut resized = false;
            for _ in 0..20 {
                send(&mut ws, STDIN, b"s\n").await;
                let mut more = Output::default();
                let _ = tokio::time::timeout(
                    Duration::from_millis(300),
                    read(
                        &mut ws,
                        &mut more,
                        "stty size",
                        Duration::from_secs(5),
                        |o| o.stdout().contains("45 123"),
                    ),
                )
                .await;
                out.stdout.extend_from_slice(&more.stdout);
                if more.stdout().contains("45 123") {
                    resized = true;
                    break;
                }
            }
            assert!(
                resized,
                "stty size never showed 45 123 after the resize: {:?}",
                out.stdout()
            );
            send(&mut ws, STDIN, b"q\n").await;
            let rest = read_to_end(&mut ws, "the tty shell to exit").await;
            assert_success(&rest);
            eprintln!("tty exec: {tty}, size {before:?} then 45 123");

            // Attach: the running init's stdin and stdout.
            let mut config = pod.container("echo", "exec cat");
            config.stdin = true;
            let echo = start_config(&mut cri, &pod, &pod_id, config).await;
            let url = cri
                .attach(AttachRequest {
                    container_id: echo.clone(),
                    stdin: true,
                    tty: false,
                    stdout: true,
                    stderr: true,
                })
                .await
                .unwrap_or_else(|e| panic!("Attach {echo}: {e:?}"))
                .into_inner()
                .url;
            eprintln!("attach URL {url}");
            let mut ws = open(&url).await;
            send(&mut ws, STDIN, b"ping\n").await;
            let mut out = Output::default();
            read(
                &mut ws,
                &mut out,
                "cat to echo ping",
                Duration::from_secs(10),
                |o| o.stdout() == "ping\n",
            )
            .await;
            let _ = ws.close(None).await;
            // Detaching leaves it running; what it wrote is in its log too.
            let st = super::status(&mut cri, &echo).await;
            assert_eq!(st.state, ContainerState::ContainerRunning as i32, "{st:?}");
            wait_for(
                "ping in the attached container's log",
                Duration::from_secs(10),
                || {
                    let ok = cri_log(&pod.log_dir.join("echo/0.log"))
                        .contains(&("stdout".to_string(), "ping".to_string()));
                    async move { ok.then_some(()) }
                },
            )
            .await;
        },
    )
    .await;
}
