//! WebSocket plumbing: framing from tungstenite on an already-upgraded connection, and a byte
//! stream view of binary messages (the port-forward tunnel carries SPDY that way).

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Wraps an upgraded connection (the 101 has been sent) as the server end of a WebSocket.
pub(crate) async fn server<IO>(io: IO) -> WebSocketStream<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    WebSocketStream::from_raw_socket(io, Role::Server, Some(WebSocketConfig::default())).await
}

pub(crate) fn normal_close() -> Message {
    Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))
}

/// Presents the binary messages of a WebSocket as a byte stream: message payloads are
/// concatenated (kubectl splits SPDY frames across messages and sends empty ones); bytes written
/// go out as binary messages. Reading ends when the client closes; the returned task ends when
/// either side is done.
pub(crate) fn byte_stream<IO>(
    ws: WebSocketStream<IO>,
) -> (DuplexStream, tokio::task::JoinHandle<()>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    let task = tokio::spawn(async move {
        let (mut sink, mut stream) = ws.split();
        let (mut rd, mut wr) = tokio::io::split(ours);
        let inbound = async {
            while let Some(msg) = stream.next().await {
                match msg {
                    Ok(Message::Binary(data)) => {
                        if wr.write_all(&data).await.is_err() {
                            break;
                        }
                    }
                    Ok(Message::Close(_)) | Err(_) => break,
                    // Pings are answered by tungstenite; text is not part of this protocol.
                    Ok(_) => {}
                }
            }
            let _ = wr.shutdown().await;
        };
        let outbound = async {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let msg = Message::Binary(Bytes::copy_from_slice(&buf[..n]));
                        if sink.send(msg).await.is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = sink.send(normal_close()).await;
        };
        // When the client goes, the server side sees EOF; when the server side is done, the
        // client gets a close frame.
        tokio::select! {
            _ = inbound => {}
            _ = outbound => {}
        }
    });
    (theirs, task)
}
