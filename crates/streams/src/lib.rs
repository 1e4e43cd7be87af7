//! The streaming protocols kubectl speaks for `exec`, `attach` and `port-forward`, server side.
//!
//! * exec/attach over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`): every binary message
//!   is `[stream id][payload]` (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize, 255 close).
//! * exec/attach over SPDY/3.1 (kubectl's fallback): one SPDY stream per `streamtype`.
//! * port-forward over SPDY/3.1, either raw (HTTP upgrade) or tunnelled as a byte stream inside
//!   WebSocket binary messages (`SPDY/3.1+portforward.k8s.io`).
//!
//! Usage from a hyper handler: `negotiate_*` inspects the request and yields either the protocol
//! to speak or an error response; the handler returns [`Negotiated::response`] (the 101), takes
//! the upgraded connection with `hyper::upgrade::on`, and runs `serve_*` on it.

use std::future::Future;

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::Full;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

mod dictionary;
mod exec;
mod negotiate;
mod portforward;
pub mod spdy;
mod status;
mod ws;

pub use dictionary::SPDY_DICTIONARY;
pub use negotiate::{negotiate_exec, negotiate_portforward, Negotiated};

/// WebSocket subprotocols for exec/attach, in our order of preference.
pub const WS_EXEC_PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];
/// SPDY stream protocols (`X-Stream-Protocol-Version`) for exec/attach, in our order of preference.
/// v1–v3 report errors as plain text instead of Status JSON; kubectl has offered v4 since 1.4.
pub const SPDY_EXEC_PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];
/// The WebSocket subprotocol of kubectl's tunnelled port-forward.
pub const WS_PORTFORWARD_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// The SPDY stream protocol of port-forward.
pub const SPDY_PORTFORWARD_PROTOCOL: &str = "portforward.k8s.io";

/// Which streams the client asked for (kubectl's `stdin=true` or kubelet's `input=1` style).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

impl ExecOptions {
    /// Parses a request query. Both spellings are accepted: kubectl's
    /// (`stdin`, `stdout`, `stderr`, `tty`) and the kubelet's (`input`, `output`, `error`, `tty`),
    /// with Go `strconv.ParseBool` values (`1`, `t`, `true`, …).
    pub fn from_query(query: Option<&str>) -> ExecOptions {
        let mut o = ExecOptions::default();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let on = matches!(v.as_ref(), "1" | "t" | "T" | "true" | "TRUE" | "True");
            match k.as_ref() {
                "stdin" | "input" => o.stdin = on,
                "stdout" | "output" => o.stdout = on,
                "stderr" | "error" => o.stderr = on,
                "tty" => o.tty = on,
                _ => {}
            }
        }
        // With a TTY the terminal merges stderr into stdout, as upstream.
        if o.tty {
            o.stderr = false;
        }
        o
    }
}

/// The `command` query parameters, in order (one per argv element).
pub fn command_from_query(query: Option<&str>) -> Vec<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// A terminal size sent by the client (`{"Width":120,"Height":40}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TerminalSize {
    #[serde(rename = "Width")]
    pub width: u16,
    #[serde(rename = "Height")]
    pub height: u16,
}

/// The handler's side of an exec/attach session. Each field is present when the client asked for
/// that stream.
///
/// * `stdin` yields the client's input and closes on client EOF (v5 CLOSE, SPDY FIN, or the
///   connection ending).
/// * `stdout`/`stderr`: send output here. A send fails when the client has gone away. The final
///   status is written only after every clone of both senders has been dropped, so all output
///   reaches the client first: drop them (or let the tasks holding them end) when the process's
///   output is exhausted.
/// * `resize` yields terminal sizes (with `tty`), starting with the initial size.
#[derive(Debug)]
pub struct ExecStreams {
    pub stdin: Option<mpsc::Receiver<Bytes>>,
    pub stdout: Option<mpsc::Sender<Bytes>>,
    pub stderr: Option<mpsc::Sender<Bytes>>,
    pub resize: Option<mpsc::Receiver<TerminalSize>>,
}

/// How the command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecResult {
    /// Exit code: 0 is reported as Success, anything else as `NonZeroExitCode` (kubectl then
    /// prints `command terminated with exit code N` and exits N).
    Exited(i32),
    /// The command could not be run; the message is shown to the user.
    Error(String),
}

/// Runs an exec/attach session on an upgraded connection: hands the streams to `handler`, relays
/// them, then writes the status and closes. Returns when the session is over.
pub async fn serve_exec<IO>(
    io: IO,
    negotiated: Negotiated,
    opts: ExecOptions,
    handler: impl FnOnce(ExecStreams) -> BoxFuture<'static, ExecResult>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    exec::serve(io, negotiated, opts, handler).await
}

/// Runs a port-forward session on an upgraded connection: for each (port, requestid) pair of
/// streams the client opens, calls `dial(port)` and splices the connection with the data stream.
/// Dial errors are written to the pair's error stream, which kubectl prints. Returns when the
/// client goes away.
pub async fn serve_portforward<IO, D, F>(io: IO, negotiated: Negotiated, dial: D)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    D: Fn(u16) -> F + Send + Sync + 'static,
    F: Future<Output = std::io::Result<tokio::net::TcpStream>> + Send + 'static,
{
    portforward::serve(io, negotiated, dial).await
}

/// An HTTP response with a small body, as `negotiate_*` return.
pub type SimpleResponse = http::Response<Full<Bytes>>;
