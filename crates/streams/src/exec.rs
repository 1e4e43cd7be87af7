//! exec/attach sessions over WebSocket channels (v4/v5) and over SPDY/3.1.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::negotiate::{Negotiated, Transport};
use crate::status::exec_status;
use crate::{spdy, ExecOptions, ExecResult, ExecStreams, TerminalSize};

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;
/// Largest payload per WebSocket message: kubectl reads messages in 32 KiB pieces.
const MAX_MESSAGE: usize = 32 * 1024;
/// How long the client has to open the streams it asked for (the kubelet's default).
const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the client to hang up after the status is written.
const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// How long a WebSocket exec waits before starting the command (see `serve_ws`).
const WS_CLIENT_SETUP: Duration = Duration::from_millis(50);

pub(crate) async fn serve<IO>(
    io: IO,
    negotiated: Negotiated,
    opts: ExecOptions,
    handler: impl FnOnce(ExecStreams) -> BoxFuture<'static, ExecResult>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match negotiated.transport {
        Transport::WebSocket { .. } => {
            let v5 = negotiated.protocol.starts_with("v5.");
            serve_ws(io, v5, opts, handler).await
        }
        Transport::Spdy => serve_spdy(io, opts, handler).await,
    }
}

/// Output channels handed to the handler, and our ends of them.
struct Outputs {
    stdout_tx: Option<mpsc::Sender<Bytes>>,
    stderr_tx: Option<mpsc::Sender<Bytes>>,
    stdout_rx: Option<mpsc::Receiver<Bytes>>,
    stderr_rx: Option<mpsc::Receiver<Bytes>>,
}

fn outputs(opts: &ExecOptions) -> Outputs {
    let pair = |on: bool| {
        if on {
            let (tx, rx) = mpsc::channel(16);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        }
    };
    let (stdout_tx, stdout_rx) = pair(opts.stdout);
    let (stderr_tx, stderr_rx) = pair(opts.stderr);
    Outputs {
        stdout_tx,
        stderr_tx,
        stdout_rx,
        stderr_rx,
    }
}

async fn recv_opt(rx: &mut Option<mpsc::Receiver<Bytes>>) -> Option<Bytes> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs the handler while relaying its output through `write(channel, bytes)` (false = the client
/// is gone; further output is discarded so the handler never blocks). Returns the handler's
/// result once it has finished and all output senders are gone.
async fn drive<W, Fut>(
    handler_fut: BoxFuture<'static, ExecResult>,
    mut stdout_rx: Option<mpsc::Receiver<Bytes>>,
    mut stderr_rx: Option<mpsc::Receiver<Bytes>>,
    mut write: W,
) -> ExecResult
where
    W: FnMut(u8, Bytes) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut handler_fut = handler_fut;
    let mut result = None;
    let mut client_gone = false;
    loop {
        if result.is_some() && stdout_rx.is_none() && stderr_rx.is_none() {
            break;
        }
        let (chan, data) = tokio::select! {
            r = &mut handler_fut, if result.is_none() => { result = Some(r); continue; }
            d = recv_opt(&mut stdout_rx), if stdout_rx.is_some() => match d {
                Some(d) => (STDOUT, d),
                None => { stdout_rx = None; continue; }
            },
            d = recv_opt(&mut stderr_rx), if stderr_rx.is_some() => match d {
                Some(d) => (STDERR, d),
                None => { stderr_rx = None; continue; }
            },
        };
        if !client_gone && !write(chan, data).await {
            // The client is gone: close our ends so the handler's sends fail (its SIGPIPE).
            client_gone = true;
            stdout_rx = None;
            stderr_rx = None;
        }
    }
    result.unwrap_or(ExecResult::Error("the command's handler stopped".into()))
}

async fn serve_ws<IO>(
    io: IO,
    v5: bool,
    opts: ExecOptions,
    handler: impl FnOnce(ExecStreams) -> BoxFuture<'static, ExecResult>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let ws = crate::ws::server(io).await;
    let (mut sink, mut source) = ws.split();

    let (stdin_tx, stdin_rx) = if opts.stdin {
        let (tx, rx) = mpsc::channel::<Bytes>(16);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let (resize_tx, resize_rx) = if opts.tty {
        let (tx, rx) = mpsc::channel::<TerminalSize>(4);
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };

    // Reader: client messages to stdin/resize. Ends (closing stdin) when the client closes.
    let reader = tokio::spawn(async move {
        let mut stdin_tx = stdin_tx;
        let resize_tx = resize_tx;
        while let Some(msg) = source.next().await {
            let data = match msg {
                Ok(Message::Binary(d)) => d,
                Ok(Message::Close(_)) | Err(_) => break,
                // Pings are answered by tungstenite; text frames belong to the base64
                // protocols, which we do not offer.
                Ok(_) => continue,
            };
            let Some((&chan, payload)) = data.split_first() else {
                continue;
            };
            match chan {
                STDIN => {
                    if let Some(tx) = &stdin_tx {
                        if tx.send(data.slice(1..)).await.is_err() {
                            stdin_tx = None;
                        }
                    }
                }
                RESIZE => {
                    if let Some(tx) = &resize_tx {
                        for size in parse_sizes(payload) {
                            let _ = tx.send(size).await;
                        }
                    }
                }
                CLOSE if v5 => {
                    if payload.first() == Some(&STDIN) {
                        stdin_tx = None;
                    }
                }
                other => tracing::debug!(channel = other, "ignoring message on unknown channel"),
            }
        }
    });

    let out = outputs(&opts);
    let streams = ExecStreams {
        stdin: stdin_rx,
        stdout: out.stdout_tx,
        stderr: out.stderr_tx,
        resize: resize_rx,
    };
    // client-go starts reading the WebSocket before it registers its streams, and drops
    // messages for streams it does not know yet ("Unknown stream id 1, discarding message").
    // A command that prints at once could lose its output; give the client a moment first.
    tokio::time::sleep(WS_CLIENT_SETUP).await;
    let fut = handler(streams);
    let sink_ref = &mut sink;
    let sink_cell = std::sync::Arc::new(tokio::sync::Mutex::new(sink_ref));
    let result = drive(fut, out.stdout_rx, out.stderr_rx, |chan, data| {
        let sink = sink_cell.clone();
        async move {
            let mut sink = sink.lock().await;
            for piece in data.chunks(MAX_MESSAGE) {
                let mut m = BytesMut::with_capacity(piece.len() + 1);
                m.extend_from_slice(&[chan]);
                m.extend_from_slice(piece);
                if sink.send(Message::Binary(m.freeze())).await.is_err() {
                    return false;
                }
            }
            true
        }
    })
    .await;
    drop(sink_cell);

    let mut status = vec![ERROR];
    status.extend(exec_status(&result));
    let _ = sink.send(Message::Binary(Bytes::from(status))).await;
    let _ = sink.send(crate::ws::normal_close()).await;
    // Let the client answer the close (the reader sees it and ends), then hang up.
    let mut reader = reader;
    if tokio::time::timeout(CLOSE_GRACE, &mut reader)
        .await
        .is_err()
    {
        reader.abort();
    }
    let _ = sink.close().await;
}

/// Terminal sizes in a resize payload: JSON objects, one after another (newline-separated).
fn parse_sizes(payload: &[u8]) -> Vec<TerminalSize> {
    serde_json::Deserializer::from_slice(payload)
        .into_iter::<TerminalSize>()
        .map_while(Result::ok)
        .collect()
}

async fn serve_spdy<IO>(
    io: IO,
    opts: ExecOptions,
    handler: impl FnOnce(ExecStreams) -> BoxFuture<'static, ExecResult>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut session = spdy::Session::start(io);
    let mut error: Option<spdy::Stream> = None;
    let mut stdin: Option<spdy::Stream> = None;
    let mut stdout: Option<spdy::Stream> = None;
    let mut stderr: Option<spdy::Stream> = None;
    let mut resize: Option<spdy::Stream> = None;
    let mut extra: Vec<spdy::Stream> = Vec::new();
    let complete = |e: &Option<spdy::Stream>,
                    i: &Option<spdy::Stream>,
                    o: &Option<spdy::Stream>,
                    r: &Option<spdy::Stream>,
                    s: &Option<spdy::Stream>| {
        e.is_some()
            && (i.is_some() || !opts.stdin)
            && (o.is_some() || !opts.stdout)
            && (s.is_some() || !opts.stderr)
            && (r.is_some() || !opts.tty)
    };
    let deadline = tokio::time::Instant::now() + STREAM_CREATION_TIMEOUT;
    while !complete(&error, &stdin, &stdout, &resize, &stderr) {
        let s = match tokio::time::timeout_at(deadline, session.incoming.recv()).await {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(_) => {
                tracing::debug!("timed out waiting for the client to create streams");
                return;
            }
        };
        let slot = match s.header("streamtype") {
            Some("error") => &mut error,
            Some("stdin") => &mut stdin,
            Some("stdout") => &mut stdout,
            Some("stderr") => &mut stderr,
            Some("resize") => &mut resize,
            _ => {
                extra.push(s);
                continue;
            }
        };
        *slot = Some(s);
    }
    let Some(error) = error else { return };

    let resize_rx = resize.map(|r| {
        let (tx, rx) = mpsc::channel::<TerminalSize>(4);
        let mut data = r.rx;
        tokio::spawn(async move {
            let mut buf = Vec::new();
            while let Some(chunk) = data.recv().await {
                buf.extend_from_slice(&chunk);
                // Complete objects are consumed; a partial one waits for more bytes.
                let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<TerminalSize>();
                let mut sizes = Vec::new();
                for v in it.by_ref() {
                    match v {
                        Ok(size) => sizes.push(size),
                        Err(_) => break,
                    }
                }
                let used = it.byte_offset();
                buf.drain(..used);
                for size in sizes {
                    if tx.send(size).await.is_err() {
                        return;
                    }
                }
            }
        });
        rx
    });
    let out = outputs(&opts);
    let streams = ExecStreams {
        stdin: stdin.map(|s| s.rx),
        stdout: out.stdout_tx,
        stderr: out.stderr_tx,
        resize: resize_rx,
    };
    let stdout_w = stdout.as_ref().map(|s| s.tx.clone());
    let stderr_w = stderr.as_ref().map(|s| s.tx.clone());
    let fut = handler(streams);
    let result = drive(fut, out.stdout_rx, out.stderr_rx, |chan, data| {
        let w = if chan == STDOUT {
            stdout_w.clone()
        } else {
            stderr_w.clone()
        };
        async move {
            match w {
                Some(w) => w.write(data).await,
                None => true,
            }
        }
    })
    .await;
    for s in [&stdout, &stderr].into_iter().flatten() {
        s.tx.close().await;
    }
    for s in &extra {
        s.tx.close().await;
    }
    error.tx.write(Bytes::from(exec_status(&result))).await;
    error.tx.close().await;
    drop((error, stdout, stderr, extra, stdout_w, stderr_w));
    session.finish(CLOSE_GRACE).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_payloads_parse() {
        assert_eq!(
            parse_sizes(b"{\"Width\":120,\"Height\":40}\n"),
            vec![TerminalSize {
                width: 120,
                height: 40
            }]
        );
        assert_eq!(
            parse_sizes(b"{\"Width\":1,\"Height\":2}{\"Width\":3,\"Height\":4}").len(),
            2
        );
        assert!(parse_sizes(b"garbage").is_empty());
    }
}
