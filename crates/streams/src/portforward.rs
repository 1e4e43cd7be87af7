//! port-forward: SPDY/3.1, raw or tunnelled in WebSocket. For each local connection kubectl
//! opens an `error` and a `data` stream carrying the same `port` and `requestid` headers.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinSet;

use crate::negotiate::{Negotiated, Transport};
use crate::spdy;

pub(crate) async fn serve<IO, D, F>(io: IO, negotiated: Negotiated, dial: D)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    D: Fn(u16) -> F + Send + Sync + 'static,
    F: Future<Output = std::io::Result<tokio::net::TcpStream>> + Send + 'static,
{
    match negotiated.transport {
        Transport::WebSocket { .. } => {
            let ws = crate::ws::server(io).await;
            let (bytes, bridge) = crate::ws::byte_stream(ws);
            serve_spdy(bytes, dial).await;
            bridge.abort();
        }
        Transport::Spdy => serve_spdy(io, dial).await,
    }
}

#[derive(Default)]
struct Pair {
    error: Option<spdy::Stream>,
    data: Option<spdy::Stream>,
}

async fn serve_spdy<IO, D, F>(io: IO, dial: D)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    D: Fn(u16) -> F + Send + Sync + 'static,
    F: Future<Output = std::io::Result<tokio::net::TcpStream>> + Send + 'static,
{
    let dial = Arc::new(dial);
    let mut session = spdy::Session::start(io);
    let mut pending: HashMap<String, Pair> = HashMap::new();
    // Every forwarded connection's task; aborted (closing its TCP connection) when the client
    // goes away.
    let mut tasks = JoinSet::new();
    loop {
        let stream = tokio::select! {
            s = session.incoming.recv() => match s { Some(s) => s, None => break },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let request = stream.header("requestid").unwrap_or("").to_string();
        let slot = pending.entry(request.clone()).or_default();
        match stream.header("streamtype") {
            Some("error") => slot.error = Some(stream),
            Some("data") => slot.data = Some(stream),
            other => {
                tracing::debug!(streamtype = ?other, "ignoring port-forward stream of unknown type");
                stream.tx.close().await;
                continue;
            }
        }
        if slot.error.is_some() && slot.data.is_some() {
            if let Some(Pair {
                error: Some(error),
                data: Some(data),
            }) = pending.remove(&request)
            {
                let dial = dial.clone();
                tasks.spawn(async move { forward(error, data, dial).await });
            }
        }
    }
    tasks.abort_all();
}

async fn forward<D, F>(error: spdy::Stream, data: spdy::Stream, dial: Arc<D>)
where
    D: Fn(u16) -> F,
    F: Future<Output = std::io::Result<tokio::net::TcpStream>>,
{
    let port = data.header("port").and_then(|p| p.parse::<u16>().ok());
    let Some(port) = port.filter(|p| *p > 0) else {
        let msg = format!(
            "invalid port {:?} in port-forward request",
            data.header("port").unwrap_or("")
        );
        error.tx.write(Bytes::from(msg)).await;
        error.tx.close().await;
        data.tx.close().await;
        return;
    };
    let tcp = match dial(port).await {
        Ok(t) => t,
        Err(e) => {
            // kubectl prints this as "an error occurred forwarding L -> P: <text>".
            let msg = format!("error forwarding port {port}: {e}");
            error.tx.write(Bytes::from(msg)).await;
            error.tx.close().await;
            data.tx.close().await;
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    let (mut rd, mut wr) = tcp.into_split();
    let spdy::Stream {
        rx: mut from_client,
        tx: to_client,
        ..
    } = data;
    let upstream = async move {
        while let Some(chunk) = from_client.recv().await {
            if wr.write_all(&chunk).await.is_err() {
                return;
            }
        }
        // The client closed its side (FIN or reset): pass the half-close on.
        let _ = wr.shutdown().await;
    };
    let downstream = async {
        let mut buf = vec![0u8; spdy::MAX_DATA_CHUNK];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !to_client.write(Bytes::copy_from_slice(&buf[..n])).await {
                        return;
                    }
                }
            }
        }
        to_client.close().await;
        // An empty error stream tells kubectl the connection ended without error; it waits for
        // this EOF before closing its local connection.
        error.tx.close().await;
    };
    futures::future::join(upstream, downstream).await;
}
