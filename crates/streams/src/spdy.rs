//! SPDY/3.1, server side, as much as kubectl's client (moby/spdystream) uses: SYN_STREAM /
//! SYN_REPLY / DATA / RST_STREAM / PING / GOAWAY, header blocks compressed with zlib and the SPDY
//! dictionary (one zlib stream per direction for the whole connection). Flow control
//! (WINDOW_UPDATE) is ignored, as spdystream ignores it.

use std::collections::HashMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::dictionary::SPDY_DICTIONARY;

const VERSION: u16 = 3;
const FLAG_FIN: u8 = 0x01;
const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
/// Largest frame payload we accept (a SPDY length is 24 bits; kubectl sends at most 32 KiB).
const MAX_FRAME: usize = 1 << 24;
/// Outgoing DATA frames are cut to this size, kubectl's own buffer size.
pub const MAX_DATA_CHUNK: usize = 32 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    #[error("connection error: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad SPDY frame: {0}")]
    Protocol(String),
    #[error("bad SPDY header block: {0}")]
    Zlib(String),
}

/// Header name/value pairs (names lowercase, as SPDY/3 requires).
pub type Headers = Vec<(String, String)>;

/// A decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Data {
        stream: u32,
        fin: bool,
        data: Bytes,
    },
    SynStream {
        stream: u32,
        fin: bool,
        headers: Headers,
    },
    SynReply {
        stream: u32,
        fin: bool,
        headers: Headers,
    },
    RstStream {
        stream: u32,
        status: u32,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_stream: u32,
    },
    /// Anything else (SETTINGS, WINDOW_UPDATE, HEADERS…), already consumed.
    Other {
        kind: u16,
    },
}

/// Decompresses header blocks: one zlib stream for the whole connection.
pub struct HeaderDecoder {
    z: Decompress,
}

impl Default for HeaderDecoder {
    fn default() -> Self {
        HeaderDecoder {
            z: Decompress::new(true),
        }
    }
}

impl HeaderDecoder {
    pub fn decode(&mut self, block: &[u8]) -> Result<Headers, SpdyError> {
        let raw = self.inflate(block)?;
        parse_header_block(&raw)
    }

    fn inflate(&mut self, input: &[u8]) -> Result<Vec<u8>, SpdyError> {
        let mut out = Vec::with_capacity(input.len() * 4 + 256);
        let mut pos = 0;
        loop {
            if out.len() == out.capacity() {
                out.reserve(4096);
            }
            let (in_before, out_before) = (self.z.total_in(), out.len());
            let res = self
                .z
                .decompress_vec(&input[pos..], &mut out, FlushDecompress::Sync);
            pos += (self.z.total_in() - in_before) as usize;
            match res {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {
                    let room_left = out.len() < out.capacity();
                    if pos >= input.len() && room_left {
                        break;
                    }
                    if out.len() == out_before && self.z.total_in() == in_before && room_left {
                        return Err(SpdyError::Zlib("header block is truncated".into()));
                    }
                }
                Err(e) if e.needs_dictionary().is_some() => {
                    self.z
                        .set_dictionary(SPDY_DICTIONARY)
                        .map_err(|e| SpdyError::Zlib(e.to_string()))?;
                }
                Err(e) => return Err(SpdyError::Zlib(e.to_string())),
            }
        }
        Ok(out)
    }
}

/// Compresses header blocks: one zlib stream, SYNC_FLUSH after each block.
pub struct HeaderEncoder {
    z: Compress,
}

impl HeaderEncoder {
    pub fn new() -> Result<Self, SpdyError> {
        let mut z = Compress::new(Compression::default(), true);
        z.set_dictionary(SPDY_DICTIONARY)
            .map_err(|e| SpdyError::Zlib(e.to_string()))?;
        Ok(HeaderEncoder { z })
    }

    pub fn encode(&mut self, headers: &[(String, String)]) -> Result<Vec<u8>, SpdyError> {
        let mut raw = BytesMut::new();
        raw.put_u32(headers.len() as u32);
        for (k, v) in headers {
            raw.put_u32(k.len() as u32);
            raw.put_slice(k.as_bytes());
            raw.put_u32(v.len() as u32);
            raw.put_slice(v.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut pos = 0;
        loop {
            if out.len() == out.capacity() {
                out.reserve(1024);
            }
            let before = self.z.total_in();
            self.z
                .compress_vec(&raw[pos..], &mut out, FlushCompress::Sync)
                .map_err(|e| SpdyError::Zlib(e.to_string()))?;
            pos += (self.z.total_in() - before) as usize;
            if pos >= raw.len() && out.len() < out.capacity() {
                break;
            }
        }
        Ok(out)
    }
}

fn parse_header_block(mut b: &[u8]) -> Result<Headers, SpdyError> {
    let short = || SpdyError::Protocol("header block is shorter than it says".into());
    let take_str = |b: &mut &[u8]| -> Result<String, SpdyError> {
        if b.len() < 4 {
            return Err(short());
        }
        let n = b.get_u32() as usize;
        if b.len() < n {
            return Err(short());
        }
        let s = String::from_utf8_lossy(&b[..n]).into_owned();
        b.advance(n);
        Ok(s)
    };
    if b.len() < 4 {
        return Err(short());
    }
    let count = b.get_u32() as usize;
    let mut out = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let k = take_str(&mut b)?;
        let v = take_str(&mut b)?;
        // Several values of one header are NUL-separated.
        for v in v.split('\0') {
            out.push((k.to_ascii_lowercase(), v.to_string()));
        }
    }
    Ok(out)
}

/// Reads one frame. `Ok(None)` at a clean end of the connection.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    dec: &mut HeaderDecoder,
) -> Result<Option<Frame>, SpdyError> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let flags = head[4];
    let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    if len > MAX_FRAME {
        return Err(SpdyError::Protocol(format!("frame of {len} bytes")));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    let mut p: &[u8] = &payload;
    let fin = flags & FLAG_FIN != 0;
    if head[0] & 0x80 == 0 {
        let stream = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) & 0x7fff_ffff;
        return Ok(Some(Frame::Data {
            stream,
            fin,
            data: Bytes::from(payload),
        }));
    }
    let version = u16::from_be_bytes([head[0], head[1]]) & 0x7fff;
    let kind = u16::from_be_bytes([head[2], head[3]]);
    if version != VERSION {
        return Err(SpdyError::Protocol(format!(
            "SPDY version {version} (only 3 is supported)"
        )));
    }
    let need = |n: usize, p: &[u8]| {
        if p.len() < n {
            Err(SpdyError::Protocol(format!(
                "control frame type {kind} too short"
            )))
        } else {
            Ok(())
        }
    };
    Ok(Some(match kind {
        TYPE_SYN_STREAM => {
            need(10, p)?;
            let stream = p.get_u32() & 0x7fff_ffff;
            let _assoc = p.get_u32();
            let _priority_slot = p.get_u16();
            let headers = dec.decode(p)?;
            Frame::SynStream {
                stream,
                fin,
                headers,
            }
        }
        TYPE_SYN_REPLY => {
            need(4, p)?;
            let stream = p.get_u32() & 0x7fff_ffff;
            let headers = dec.decode(p)?;
            Frame::SynReply {
                stream,
                fin,
                headers,
            }
        }
        TYPE_RST_STREAM => {
            need(8, p)?;
            Frame::RstStream {
                stream: p.get_u32() & 0x7fff_ffff,
                status: p.get_u32(),
            }
        }
        TYPE_PING => {
            need(4, p)?;
            Frame::Ping { id: p.get_u32() }
        }
        TYPE_GOAWAY => {
            need(4, p)?;
            Frame::GoAway {
                last_stream: p.get_u32() & 0x7fff_ffff,
            }
        }
        TYPE_HEADERS => {
            // Decoded only to keep the zlib stream in step; the headers are not used.
            need(4, p)?;
            let _stream = p.get_u32();
            dec.decode(p)?;
            Frame::Other { kind }
        }
        other => Frame::Other { kind: other },
    }))
}

/// Encodes one frame.
pub fn encode_frame(frame: &Frame, enc: &mut HeaderEncoder) -> Result<Vec<u8>, SpdyError> {
    let control = |kind: u16, flags: u8, payload: &[u8]| {
        let mut b = Vec::with_capacity(8 + payload.len());
        b.extend_from_slice(&(0x8000u16 | VERSION).to_be_bytes());
        b.extend_from_slice(&kind.to_be_bytes());
        b.push(flags);
        b.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        b.extend_from_slice(payload);
        b
    };
    let fin_flag = |fin: bool| if fin { FLAG_FIN } else { 0 };
    Ok(match frame {
        Frame::Data { stream, fin, data } => {
            let mut b = Vec::with_capacity(8 + data.len());
            b.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
            b.push(fin_flag(*fin));
            b.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
            b.extend_from_slice(data);
            b
        }
        Frame::SynStream {
            stream,
            fin,
            headers,
        } => {
            let mut p = Vec::new();
            p.extend_from_slice(&stream.to_be_bytes());
            p.extend_from_slice(&0u32.to_be_bytes());
            p.extend_from_slice(&0u16.to_be_bytes());
            p.extend_from_slice(&enc.encode(headers)?);
            control(TYPE_SYN_STREAM, fin_flag(*fin), &p)
        }
        Frame::SynReply {
            stream,
            fin,
            headers,
        } => {
            let mut p = Vec::new();
            p.extend_from_slice(&stream.to_be_bytes());
            p.extend_from_slice(&enc.encode(headers)?);
            control(TYPE_SYN_REPLY, fin_flag(*fin), &p)
        }
        Frame::RstStream { stream, status } => {
            let mut p = stream.to_be_bytes().to_vec();
            p.extend_from_slice(&status.to_be_bytes());
            control(TYPE_RST_STREAM, 0, &p)
        }
        Frame::Ping { id } => control(TYPE_PING, 0, &id.to_be_bytes()),
        Frame::GoAway { last_stream } => {
            let mut p = last_stream.to_be_bytes().to_vec();
            p.extend_from_slice(&0u32.to_be_bytes());
            control(TYPE_GOAWAY, 0, &p)
        }
        Frame::Other { kind } => {
            return Err(SpdyError::Protocol(format!(
                "cannot encode frame type {kind}"
            )))
        }
    })
}

/// A stream the client opened (already answered with SYN_REPLY).
pub struct Stream {
    pub id: u32,
    pub headers: Headers,
    /// Data from the client; closes at the client's FIN or RST_STREAM, or when the connection ends.
    pub rx: mpsc::Receiver<Bytes>,
    pub tx: StreamWriter,
}

impl Stream {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Writes to one stream; cheap to clone.
#[derive(Clone, Debug)]
pub struct StreamWriter {
    id: u32,
    out: mpsc::Sender<Frame>,
}

impl StreamWriter {
    /// Sends data in frames of at most [`MAX_DATA_CHUNK`]. False when the connection is gone.
    pub async fn write(&self, mut data: Bytes) -> bool {
        while !data.is_empty() {
            let chunk = data.split_to(data.len().min(MAX_DATA_CHUNK));
            let frame = Frame::Data {
                stream: self.id,
                fin: false,
                data: chunk,
            };
            if self.out.send(frame).await.is_err() {
                return false;
            }
        }
        true
    }

    /// Half-closes the stream (an empty DATA frame with FIN).
    pub async fn close(&self) -> bool {
        let frame = Frame::Data {
            stream: self.id,
            fin: true,
            data: Bytes::new(),
        };
        self.out.send(frame).await.is_ok()
    }
}

/// A served SPDY connection: streams the client opens arrive on `incoming`; dropping the
/// session stops its tasks (and so closes the connection).
pub struct Session {
    pub incoming: mpsc::Receiver<Stream>,
    reader: Task,
    writer: Task,
    out: mpsc::Sender<Frame>,
}

/// A spawned task, aborted when dropped.
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Session {
    /// Starts reading and writing frames on `io`.
    pub fn start<IO>(io: IO) -> Session
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (rd, wr) = tokio::io::split(io);
        let (out_tx, out_rx) = mpsc::channel::<Frame>(64);
        let (in_tx, in_rx) = mpsc::channel::<Stream>(16);
        let writer = Task(tokio::spawn(write_loop(wr, out_rx)));
        let reader = Task(tokio::spawn(read_loop(rd, in_tx, out_tx.clone())));
        Session {
            incoming: in_rx,
            reader,
            writer,
            out: out_tx,
        }
    }

    /// Sends GOAWAY, lets queued frames go out, then waits (at most `grace`) for the client to
    /// close the connection. Consumes the session.
    pub async fn finish(self, grace: std::time::Duration) {
        let _ = self.out.send(Frame::GoAway { last_stream: 0 }).await;
        let Session {
            incoming,
            mut reader,
            writer,
            out,
        } = self;
        drop(incoming);
        drop(out);
        // The writer ends once every StreamWriter is gone and the queue is flushed; the reader
        // when the client hangs up.
        let _ = tokio::time::timeout(grace, &mut reader.0).await;
        drop(reader);
        let mut writer = writer;
        let _ = tokio::time::timeout(grace, &mut writer.0).await;
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(mut w: W, mut rx: mpsc::Receiver<Frame>) {
    let mut enc = match HeaderEncoder::new() {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start SPDY header compression");
            return;
        }
    };
    while let Some(frame) = rx.recv().await {
        let mut buf = Vec::new();
        let mut next = Some(frame);
        // Batch what is queued into one write, then flush.
        while let Some(f) = next.take() {
            match encode_frame(&f, &mut enc) {
                Ok(b) => buf.extend_from_slice(&b),
                Err(e) => tracing::warn!(error = %e, "cannot encode SPDY frame"),
            }
            if buf.len() < 256 * 1024 {
                next = rx.try_recv().ok();
            }
        }
        if w.write_all(&buf).await.is_err() || w.flush().await.is_err() {
            return;
        }
    }
    let _ = w.shutdown().await;
}

async fn read_loop<R: AsyncRead + Unpin>(
    r: R,
    incoming: mpsc::Sender<Stream>,
    out: mpsc::Sender<Frame>,
) {
    let mut r = tokio::io::BufReader::with_capacity(64 * 1024, r);
    let mut dec = HeaderDecoder::default();
    let mut streams: HashMap<u32, mpsc::Sender<Bytes>> = HashMap::new();
    loop {
        let frame = match read_frame(&mut r, &mut dec).await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "SPDY connection ended");
                break;
            }
        };
        match frame {
            Frame::SynStream {
                stream,
                fin,
                headers,
            } => {
                // kubectl waits for a SYN_REPLY to every stream it opens.
                let reply = Frame::SynReply {
                    stream,
                    fin: false,
                    headers: Vec::new(),
                };
                if out.send(reply).await.is_err() {
                    break;
                }
                let (tx, rx) = mpsc::channel(16);
                if !fin {
                    streams.insert(stream, tx);
                }
                let s = Stream {
                    id: stream,
                    headers,
                    rx,
                    tx: StreamWriter {
                        id: stream,
                        out: out.clone(),
                    },
                };
                if incoming.send(s).await.is_err() {
                    tracing::debug!(
                        stream,
                        "SPDY stream opened after the session stopped taking streams"
                    );
                }
            }
            Frame::Data { stream, fin, data } => {
                if let Some(tx) = streams.get(&stream) {
                    if !data.is_empty() && tx.send(data).await.is_err() {
                        streams.remove(&stream);
                    }
                }
                if fin {
                    streams.remove(&stream);
                }
            }
            Frame::RstStream { stream, .. } => {
                streams.remove(&stream);
            }
            Frame::Ping { id } => {
                if out.send(Frame::Ping { id }).await.is_err() {
                    break;
                }
            }
            Frame::GoAway { .. } => break,
            Frame::SynReply { .. } | Frame::Other { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_is_the_spdy3_one() {
        // Length and Adler-32 (the dictionary id kubectl's zlib header names: e3c6a7c2).
        assert_eq!(SPDY_DICTIONARY.len(), 1423);
        let (mut a, mut b) = (1u32, 0u32);
        for &x in SPDY_DICTIONARY {
            a = (a + x as u32) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!((b << 16) | a, 0xe3c6_a7c2);
    }

    #[test]
    fn header_blocks_round_trip_across_frames() {
        let mut enc = HeaderEncoder::new().expect("encoder");
        let mut dec = HeaderDecoder::default();
        for i in 0..5 {
            let h = vec![
                ("streamtype".to_string(), "data".to_string()),
                ("port".to_string(), "80".to_string()),
                ("requestid".to_string(), i.to_string()),
            ];
            let block = enc.encode(&h).expect("encode");
            if i == 0 {
                // zlib header with FDICT and the SPDY dictionary id, as kubectl sends.
                assert_eq!(block[1] & 0x20, 0x20);
                assert_eq!(&block[2..6], &[0xe3, 0xc6, 0xa7, 0xc2]);
            }
            assert_eq!(dec.decode(&block).expect("decode"), h);
        }
    }

    #[tokio::test]
    async fn frames_round_trip() {
        let mut enc = HeaderEncoder::new().expect("encoder");
        let mut dec = HeaderDecoder::default();
        let frames = vec![
            Frame::SynStream {
                stream: 1,
                fin: false,
                headers: vec![("streamtype".into(), "error".into())],
            },
            Frame::SynReply {
                stream: 1,
                fin: false,
                headers: vec![],
            },
            Frame::Data {
                stream: 3,
                fin: true,
                data: Bytes::from_static(b"hello"),
            },
            Frame::RstStream {
                stream: 3,
                status: 5,
            },
            Frame::Ping { id: 7 },
            Frame::GoAway { last_stream: 0 },
        ];
        let mut wire = Vec::new();
        for f in &frames {
            wire.extend(encode_frame(f, &mut enc).expect("encode"));
        }
        let mut r: &[u8] = &wire;
        for f in &frames {
            let got = read_frame(&mut r, &mut dec).await.expect("read");
            assert_eq!(got.as_ref(), Some(f));
        }
        assert!(read_frame(&mut r, &mut dec).await.expect("eof").is_none());
    }
}
