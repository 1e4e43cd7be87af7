//! Reading CRI-format container logs the way `kubectl logs` expects them.
//!
//! File format (one record per line): `<RFC3339Nano> <stdout|stderr> <F|P> <content>`.
//! `P` records are parts of a longer line; the line ends with the next `F` record.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Only the last N lines (logical lines: partial records merged).
    pub tail_lines: Option<u64>,
    /// Only records at or after this time.
    pub since: Option<SystemTime>,
    /// Prefix each line with its RFC3339Nano timestamp and a space.
    pub timestamps: bool,
    /// Stop after this many bytes of output.
    pub limit_bytes: Option<u64>,
}

/// One parsed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub timestamp: String,
    pub time: Option<SystemTime>,
    pub stream: String,
    pub partial: bool,
    pub content: Vec<u8>,
}

/// Parses one CRI log line (without its trailing newline).
pub fn parse_line(line: &[u8]) -> Option<LogRecord> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let ts = std::str::from_utf8(parts.next()?).ok()?;
    let stream = std::str::from_utf8(parts.next()?).ok()?;
    let tag = parts.next()?;
    let content = parts.next().unwrap_or_default();
    let time = chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(SystemTime::from);
    Some(LogRecord {
        timestamp: ts.to_string(),
        time,
        stream: stream.to_string(),
        partial: tag.first() == Some(&b'P'),
        content: content.to_vec(),
    })
}

struct Emitter {
    opts: LogOptions,
    sent: u64,
    /// Whether the next record starts a new logical line.
    at_line_start: bool,
    out: Vec<u8>,
}

impl Emitter {
    /// Appends a record's output; returns false once the byte limit is reached.
    fn push(&mut self, r: &LogRecord) -> bool {
        let starts = self.at_line_start;
        self.at_line_start = !r.partial;
        if let (Some(since), Some(t)) = (self.opts.since, r.time) {
            if t < since {
                return true;
            }
        }
        let mut chunk = Vec::with_capacity(r.content.len() + 40);
        if self.opts.timestamps && starts {
            chunk.extend_from_slice(r.timestamp.as_bytes());
            chunk.push(b' ');
        }
        chunk.extend_from_slice(&r.content);
        if !r.partial {
            chunk.push(b'\n');
        }
        if let Some(limit) = self.opts.limit_bytes {
            let left = limit.saturating_sub(self.sent) as usize;
            if chunk.len() >= left {
                self.out.extend_from_slice(&chunk[..left]);
                self.sent = limit;
                return false;
            }
        }
        self.sent += chunk.len() as u64;
        self.out.extend_from_slice(&chunk);
        true
    }

    fn take(&mut self) -> Option<Bytes> {
        (!self.out.is_empty()).then(|| Bytes::from(std::mem::take(&mut self.out)))
    }
}

/// Splits complete lines off `buf` (leaving an unterminated tail) and parses them.
fn parse_complete(buf: &mut Vec<u8>) -> Vec<LogRecord> {
    let Some(last_nl) = buf.iter().rposition(|b| *b == b'\n') else {
        return Vec::new();
    };
    let recs = buf[..last_nl]
        .split(|b| *b == b'\n')
        .filter_map(parse_line)
        .collect();
    buf.drain(..=last_nl);
    recs
}

/// Index of the first record of the last `n` logical lines.
fn tail_start(recs: &[LogRecord], n: u64) -> usize {
    if n == 0 {
        return recs.len();
    }
    let mut starts: Vec<usize> = Vec::new();
    let mut at_start = true;
    for (i, r) in recs.iter().enumerate() {
        if at_start {
            starts.push(i);
        }
        at_start = !r.partial;
    }
    let n = n as usize;
    if starts.len() <= n {
        0
    } else {
        starts[starts.len() - n]
    }
}

/// Streams a CRI log file as `kubectl logs` bytes. Must be called within a tokio runtime.
///
/// Without `follow` the stream ends at the end of the file. With `follow` it keeps polling
/// the file for new lines until `stop` resolves (pass e.g. "the container exited" —
/// [`crate::Runtime::wait_exited`] — or a client-disconnect signal); after `stop` the file
/// is drained once more and the stream ends. Dropping the receiver also ends it.
/// Log rotation is not followed.
pub fn read(
    path: &Path,
    opts: LogOptions,
    stop: impl Future<Output = ()> + Send + 'static,
) -> mpsc::Receiver<io::Result<Bytes>> {
    let (tx, rx) = mpsc::channel(16);
    let path = path.to_path_buf();
    tokio::spawn(async move {
        if let Err(e) = run(path, opts, stop, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    rx
}

async fn run(
    path: PathBuf,
    opts: LogOptions,
    stop: impl Future<Output = ()> + Send + 'static,
    tx: &mpsc::Sender<io::Result<Bytes>>,
) -> io::Result<()> {
    let mut file = tokio::fs::File::open(&path).await?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf).await?;
    let follow = opts.follow;
    let mut em = Emitter {
        at_line_start: true,
        sent: 0,
        out: Vec::new(),
        opts: opts.clone(),
    };
    let recs = parse_complete(&mut buf);
    let start = opts.tail_lines.map(|n| tail_start(&recs, n)).unwrap_or(0);
    for r in &recs[start..] {
        let more = em.push(r);
        if em.out.len() >= 32 * 1024 || !more {
            if let Some(b) = em.take() {
                if tx.send(Ok(b)).await.is_err() {
                    return Ok(());
                }
            }
        }
        if !more {
            return Ok(());
        }
    }
    if let Some(b) = em.take() {
        if tx.send(Ok(b)).await.is_err() {
            return Ok(());
        }
    }
    if !follow {
        return Ok(());
    }
    let mut pos = file.stream_position().await?;
    tokio::pin!(stop);
    let mut stopping = false;
    loop {
        // Read whatever was appended.
        file.seek(io::SeekFrom::Start(pos)).await?;
        let n = file.read_to_end(&mut buf).await?;
        pos += n as u64;
        for r in parse_complete(&mut buf) {
            if !em.push(&r) {
                if let Some(b) = em.take() {
                    let _ = tx.send(Ok(b)).await;
                }
                return Ok(());
            }
        }
        if let Some(b) = em.take() {
            if tx.send(Ok(b)).await.is_err() {
                return Ok(());
            }
        }
        if stopping {
            return Ok(());
        }
        tokio::select! {
            _ = &mut stop => stopping = true,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = tx.closed() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_records_and_tails_logical_lines() {
        let mut buf = b"2024-01-01T00:00:00.000000001Z stdout F one\n\
2024-01-01T00:00:00.000000002Z stdout P tw\n\
2024-01-01T00:00:00.000000003Z stdout F o\n\
2024-01-01T00:00:00.000000004Z stderr F three\n\
2024-01-01T00:00:00.0000000"
            .to_vec();
        let recs = parse_complete(&mut buf);
        assert_eq!(recs.len(), 4);
        assert_eq!(buf, b"2024-01-01T00:00:00.0000000");
        assert!(recs[1].partial);
        assert_eq!(recs[3].stream, "stderr");
        assert_eq!(tail_start(&recs, 2), 1);
        assert_eq!(tail_start(&recs, 1), 3);
        assert_eq!(tail_start(&recs, 10), 0);
        let mut em = Emitter {
            opts: LogOptions {
                timestamps: true,
                ..Default::default()
            },
            sent: 0,
            at_line_start: true,
            out: Vec::new(),
        };
        for r in &recs[1..] {
            em.push(r);
        }
        assert_eq!(
            em.take().unwrap(),
            Bytes::from_static(
                b"2024-01-01T00:00:00.000000002Z two\n2024-01-01T00:00:00.000000004Z three\n"
            )
        );
    }
}
