//! The WebSocket channel protocol at the frame level (what kubectl cannot easily show without a
//! terminal): resize messages, v5 CLOSE of stdin, pings, v4 without CLOSE, status then close.

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use minato_streams::{negotiate_exec, serve_exec, ExecOptions, ExecResult, TerminalSize};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

fn ws_request(protocol: &str) -> http::request::Parts {
    http::Request::builder()
        .method("GET")
        .uri("/exec/ns/pod/c?command=x")
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Sec-WebSocket-Protocol", protocol)
        .body(())
        .expect("request")
        .into_parts()
        .0
}

async fn next_binary(ws: &mut WebSocketStream<tokio::io::DuplexStream>) -> Option<Bytes> {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("message in time")?
        {
            Ok(Message::Binary(b)) => return Some(b),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

#[tokio::test]
async fn v5_resize_stdin_close_ping_and_status() {
    let negotiated = negotiate_exec(&ws_request("v5.channel.k8s.io")).expect("negotiated");
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let opts = ExecOptions {
        stdin: true,
        stdout: true,
        stderr: false,
        tty: true,
    };
    let server = tokio::spawn(serve_exec(server_io, negotiated, opts, |s| {
        Box::pin(async move {
            let (Some(mut stdin), Some(stdout), Some(mut resize)) = (s.stdin, s.stdout, s.resize)
            else {
                return ExecResult::Error("streams missing".into());
            };
            assert!(s.stderr.is_none(), "no stderr with a tty");
            let size: TerminalSize = resize.recv().await.expect("initial size");
            let _ = stdout
                .send(Bytes::from(format!(
                    "size {}x{}\n",
                    size.width, size.height
                )))
                .await;
            while let Some(b) = stdin.recv().await {
                let _ = stdout.send(b).await;
            }
            let _ = stdout.send(Bytes::from_static(b"eof\n")).await;
            ExecResult::Exited(0)
        })
    }));
    let mut ws = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
    ws.send(Message::Ping(Bytes::from_static(b"hb")))
        .await
        .expect("ping");
    // The pong comes back before anything else is written.
    let pong = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("pong in time")
        .expect("open")
        .expect("frame");
    assert_eq!(pong, Message::Pong(Bytes::from_static(b"hb")));

    ws.send(Message::Binary(Bytes::from_static(
        b"\x04{\"Width\":120,\"Height\":40}\n",
    )))
    .await
    .expect("resize");
    ws.send(Message::Binary(Bytes::from_static(b"\x00abc")))
        .await
        .expect("stdin");
    ws.send(Message::Binary(Bytes::from_static(b"\xff\x00")))
        .await
        .expect("close stdin");
    let mut stdout = Vec::new();
    let status = loop {
        let m = next_binary(&mut ws).await.expect("message before close");
        match m[0] {
            1 => stdout.extend_from_slice(&m[1..]),
            3 => break m.slice(1..),
            other => panic!("unexpected channel {other}"),
        }
    };
    assert_eq!(String::from_utf8_lossy(&stdout), "size 120x40\nabceof\n");
    assert_eq!(&status[..], br#"{"metadata":{},"status":"Success"}"#);
    assert!(
        next_binary(&mut ws).await.is_none(),
        "close after the status"
    );
    let _ = ws.close(None).await;
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server ends")
        .expect("server task");
}

#[tokio::test]
async fn v4_status_reports_exit_code() {
    let negotiated = negotiate_exec(&ws_request("v4.channel.k8s.io")).expect("negotiated");
    assert_eq!(negotiated.protocol(), "v4.channel.k8s.io");
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let opts = ExecOptions {
        stdin: false,
        stdout: true,
        stderr: true,
        tty: false,
    };
    let server = tokio::spawn(serve_exec(server_io, negotiated, opts, |s| {
        Box::pin(async move {
            if let Some(e) = s.stderr {
                let _ = e.send(Bytes::from_static(b"oops")).await;
            }
            // Output sent from a task that outlives the handler still comes before the status.
            if let Some(o) = s.stdout {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let _ = o.send(Bytes::from(vec![b'x'; 100_000])).await;
                });
            }
            ExecResult::Exited(7)
        })
    }));
    let mut ws = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
    let (mut out, mut err) = (0usize, Vec::new());
    let status = loop {
        let m = next_binary(&mut ws).await.expect("message before close");
        assert!(m.len() <= 32 * 1024 + 1, "messages are cut to 32 KiB");
        match m[0] {
            1 => out += m.len() - 1,
            2 => err.extend_from_slice(&m[1..]),
            3 => break m.slice(1..),
            other => panic!("unexpected channel {other}"),
        }
    };
    assert_eq!(out, 100_000);
    assert_eq!(err, b"oops");
    let v: serde_json::Value = serde_json::from_slice(&status).expect("status json");
    assert_eq!(v["status"], "Failure");
    assert_eq!(v["reason"], "NonZeroExitCode");
    assert_eq!(v["details"]["causes"][0]["message"], "7");
    assert!(next_binary(&mut ws).await.is_none());
    let _ = ws.close(None).await;
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server ends")
        .expect("server task");
}
