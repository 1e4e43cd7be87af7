//! SQLite backend of the [`Store`] trait.
//!
//! # Schema
//!
//! * `log(rev INTEGER PRIMARY KEY, key, kind, create_rev, prev_rev, value)`: one row per write,
//!   keyed by revision, so watch replay is a range scan on the primary key. `prev_rev` points at
//!   the key's previous row (0 for a create). A delete row (tombstone) stores no value; its last
//!   value is the one in the `prev_rev` row.
//! * `kv(key TEXT PRIMARY KEY, mod_rev) WITHOUT ROWID`: the live keys, in key order, each
//!   pointing at its current `log` row. Get is a point lookup, range a key-ordered scan, CAS a
//!   comparison on `mod_rev`. Values are stored once (in `log`).
//! * `meta(name, value)`: the compacted revision and the compaction cursor.
//!
//! The current revision is `max(max(log.rev), compacted)`: compaction may delete the newest
//! row (a tombstone) but never goes beyond the compacted revision, which is stored.
//!
//! # Compaction
//!
//! Compacting to `C` deletes, for every row `r <= C`, the row `r.prev_rev` (superseded by `r`)
//! and `r` itself if it is a tombstone. So every row after `C` keeps its predecessor, which is
//! what watch replay needs for `prev` values and for the last value of a delete, while every
//! key's current row stays. It runs in chunks of revisions on the writer thread, interleaved
//! with write batches, and resumes after a restart (`meta.compact_cursor`).
//!
//! # Threads
//!
//! One writer thread owns the write connection and commits all write requests queued at that
//! moment in one transaction (group commit); each request is answered after the commit. Reads run
//! on a small pool of read connections inside `spawn_blocking` (WAL lets them run alongside the
//! writer), so tokio worker threads never wait on SQLite.
//!
//! # Durability
//!
//! The database runs in WAL mode. The default, [`Synchronous::Normal`], acknowledges a write once
//! its commit is in the WAL file (the OS page cache), which survives a crashed or `kill -9`ed
//! process at any moment (tested), and fsyncs at checkpoints only, so the database stays
//! consistent on power loss but may lose the last acknowledged writes then. It is the default
//! because fsync per commit costs 1-30 ms on typical (virtual) disks, which alone breaks the
//! API server's 10 ms p99 write target. [`Synchronous::Full`] fsyncs every commit (group commit
//! amortises it over a batch) and so also survives power loss, as etcd does; pick it when the
//! disk's fsync is fast or that guarantee matters more than latency.
//!
//! # Space
//!
//! Automatic compaction (see [`SqliteOptions`]) bounds the history; freed pages are reused and,
//! when many are free, returned to the file system (`auto_vacuum = INCREMENTAL`). The WAL is
//! checkpointed by a background connection and restarted by the writer once it reaches
//! `wal_autocheckpoint` pages, truncated after each compaction, and capped on disk by
//! `journal_size_limit`.

use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use tokio::sync::{broadcast, oneshot, Semaphore};

use crate::{
    Event, KeyValue, RangeOptions, RangeResult, Result, Revision, Store, StoreError, WatchStream,
    MAX_VALUE_BYTES,
};

/// SQLite's `synchronous` setting for the write connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// fsync on every commit: acknowledged writes survive power loss.
    Full,
    /// fsync only at checkpoints: acknowledged writes survive process crashes; power loss keeps
    /// the database consistent but may lose the latest writes.
    #[default]
    Normal,
}

/// Tuning knobs of [`SqliteStore`]. The defaults suit an API server.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
    /// How often automatic compaction runs; `None` turns it off.
    pub compact_interval: Option<Duration>,
    /// Automatic compaction keeps at least this much wall-clock history (the apiserver's
    /// compactor keeps 5 minutes)...
    pub retain_duration: Duration,
    /// ...and at least this many of the latest revisions.
    pub retain_revisions: i64,
    /// Revisions handled per compaction transaction; bounds how long one chunk blocks writes.
    pub compact_chunk: i64,
    /// Most write requests committed in one transaction.
    pub max_batch: usize,
    /// Most read connections (and concurrent reads).
    pub max_readers: usize,
    /// Write batches buffered for watchers; a watcher further behind catches up from the log.
    pub watch_buffer: usize,
    /// WAL size in pages at which it is checkpointed into the database and restarted (0:
    /// never). A background thread does the copying, so commits rarely wait for it; SQLite's
    /// own `wal_autocheckpoint` is off.
    pub wal_autocheckpoint: u32,
    /// The WAL file is truncated to this size after checkpoints (`journal_size_limit`).
    pub journal_size_limit: i64,
    /// Page cache of the writer, in KiB (each reader gets a quarter, at least 1 MiB).
    pub cache_kib: i64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Normal,
            compact_interval: Some(Duration::from_secs(60)),
            retain_duration: Duration::from_secs(5 * 60),
            retain_revisions: 1000,
            compact_chunk: 2000,
            max_batch: 512,
            max_readers: 8,
            watch_buffer: 1024,
            wal_autocheckpoint: 4000,
            journal_size_limit: 64 * 1024 * 1024,
            cache_kib: 16 * 1024,
        }
    }
}

const KIND_PUT: i64 = 0;
const KIND_DELETE: i64 = 1;
const SCHEMA_VERSION: i64 = 1;
/// Rows read per query while a watcher replays history.
const REPLAY_PAGE: i64 = 1000;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    rev INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    kind INTEGER NOT NULL,
    create_rev INTEGER NOT NULL,
    prev_rev INTEGER NOT NULL,
    value BLOB
);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    mod_rev INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('compacted', 0), ('compact_cursor', 0);
";

type EventBatch = Arc<Vec<Arc<Event>>>;
type Reply<T> = oneshot::Sender<Result<T>>;

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite: {e}"))
}

fn closed() -> StoreError {
    StoreError::Backend("store is closed".into())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the pool inconsistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The smallest string greater than every string that starts with `prefix`, or `None` if there
/// is none (empty prefix). Keys compare as UTF-8 bytes, which is code point order.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(c) = chars.pop() {
        let mut next = c as u32 + 1;
        if next == 0xD800 {
            next = 0xE000;
        }
        if let Some(n) = char::from_u32(next) {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Steps a statement to completion (some pragmas do their work one row at a time).
fn run_all(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}

fn open_reader(path: &Path, opts: &SqliteOptions) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
    // Readers do point reads and range scans that the OS page cache serves well; a quarter
    // of the writer's cache each keeps eight of them from holding 128 MiB.
    conn.execute_batch(&format!(
        "PRAGMA query_only = 1; PRAGMA cache_size = -{};",
        (opts.cache_kib / 4).max(1024)
    ))
    .map_err(db_err)?;
    Ok(conn)
}

/// State shared by the store handle, the writer thread and watch streams.
struct Shared {
    path: PathBuf,
    opts: SqliteOptions,
    readers: Mutex<Vec<Connection>>,
    read_permits: Semaphore,
    current: AtomicI64,
    compacted: AtomicI64,
    /// The background checkpointer finished a checkpoint the writer asked for.
    checkpoint_done: AtomicBool,
}

impl Shared {
    /// Runs `f` on a pooled read connection on the blocking thread pool.
    async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let _permit = self.read_permits.acquire().await.map_err(|_| closed())?;
        let shared = self.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = lock(&shared.readers).pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => open_reader(&shared.path, &shared.opts)?,
            };
            let out = f(&mut conn);
            if conn.is_autocommit() {
                lock(&shared.readers).push(conn);
            }
            out
        })
        .await
        .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?
    }
}

/// Revision as of a read transaction's snapshot.
fn snapshot_revisions(conn: &Connection) -> rusqlite::Result<(Revision, Revision)> {
    let compacted: i64 = conn
        .prepare_cached("SELECT value FROM meta WHERE name = 'compacted'")?
        .query_row([], |r| r.get(0))?;
    let max: Option<i64> = conn
        .prepare_cached("SELECT max(rev) FROM log")?
        .query_row([], |r| r.get(0))?;
    Ok((max.unwrap_or(0).max(compacted), compacted))
}

/// One page of history after `after` for keys in `[prefix, end)`.
struct HistoryPage {
    events: Vec<Event>,
    /// Revisions up to this one are covered by `events`.
    covered: Revision,
}

fn read_history(
    conn: &mut Connection,
    prefix: &str,
    end: Option<&str>,
    after: Revision,
) -> Result<HistoryPage> {
    let tx = conn.transaction().map_err(db_err)?;
    let (snapshot, compacted) = snapshot_revisions(&tx).map_err(db_err)?;
    if after < compacted {
        return Err(StoreError::Compacted {
            requested: after,
            compacted,
        });
    }
    let sql = format!(
        "SELECT l.rev, l.key, l.kind, l.create_rev, l.prev_rev, l.value, p.value \
         FROM log l LEFT JOIN log p ON p.rev = l.prev_rev \
         WHERE l.rev > ?1 AND l.key >= ?2 {} ORDER BY l.rev LIMIT ?4",
        if end.is_some() {
            "AND l.key < ?3"
        } else {
            "AND ?3 IS NULL"
        }
    );
    let mut stmt = tx.prepare_cached(&sql).map_err(db_err)?;
    let rows = stmt
        .query_map(params![after, prefix, end, REPLAY_PAGE], |r| {
            let rev: i64 = r.get(0)?;
            let key: String = r.get(1)?;
            let kind: i64 = r.get(2)?;
            let create_revision: i64 = r.get(3)?;
            let prev_rev: i64 = r.get(4)?;
            let value: Option<Vec<u8>> = r.get(5)?;
            let prev_value: Option<Vec<u8>> = r.get(6)?;
            Ok(if kind == KIND_DELETE {
                Event::Delete {
                    kv: KeyValue {
                        key,
                        value: prev_value.unwrap_or_default(),
                        create_revision,
                        mod_revision: rev,
                    },
                }
            } else {
                let prev = match (prev_rev, prev_value) {
                    (p, Some(v)) if p > 0 => Some(KeyValue {
                        key: key.clone(),
                        value: v,
                        create_revision,
                        mod_revision: p,
                    }),
                    _ => None,
                };
                Event::Put {
                    kv: KeyValue {
                        key,
                        value: value.unwrap_or_default(),
                        create_revision,
                        mod_revision: rev,
                    },
                    prev,
                }
            })
        })
        .map_err(db_err)?;
    let events = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)?;
    let covered = if (events.len() as i64) < REPLAY_PAGE {
        snapshot.max(after)
    } else {
        events.last().map_or(after, Event::revision)
    };
    Ok(HistoryPage { events, covered })
}

enum Write {
    Create {
        key: String,
        value: Vec<u8>,
    },
    Update {
        key: String,
        value: Vec<u8>,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
}

enum Req {
    Write(Write, Reply<KeyValue>),
    Compact {
        revision: Revision,
        reply: Reply<()>,
    },
}

/// A revisioned key-value store in one SQLite database file (plus its `-wal` and `-shm`).
pub struct SqliteStore {
    shared: Arc<Shared>,
    requests: Option<mpsc::Sender<Req>>,
    events: broadcast::Sender<EventBatch>,
    writer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and starts its writer thread.
    ///
    /// Synchronous: it does file I/O and may take a moment on a large database, so call it at
    /// startup or from `spawn_blocking`. Needs no tokio runtime; the store's methods do.
    pub fn open(path: &Path, opts: SqliteOptions) -> Result<Arc<SqliteStore>> {
        let conn = Connection::open(path).map_err(db_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db_err)?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(db_err)?;
        if tables > 0 && version != SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "{} is not a minato store (schema version {version}, expected {SCHEMA_VERSION})",
                path.display()
            )));
        }
        // auto_vacuum only takes effect on a new database, so set it before anything else.
        run_all(&conn, "PRAGMA auto_vacuum = INCREMENTAL").map_err(db_err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(db_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "cannot put {} in WAL mode (got {mode})",
                path.display()
            )));
        }
        let sync = match opts.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {sync};
             PRAGMA wal_autocheckpoint = 0;
             PRAGMA cache_size = -{};",
            opts.cache_kib
        ))
        .map_err(db_err)?;
        run_all(
            &conn,
            &format!("PRAGMA journal_size_limit = {}", opts.journal_size_limit),
        )
        .map_err(db_err)?;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(db_err)?;

        let (current, compacted) = snapshot_revisions(&conn).map_err(db_err)?;
        let cursor: i64 = conn
            .query_row(
                "SELECT value FROM meta WHERE name = 'compact_cursor'",
                [],
                |r| r.get(0),
            )
            .map_err(db_err)?;

        let shared = Arc::new(Shared {
            path: path.to_path_buf(),
            readers: Mutex::new(Vec::new()),
            read_permits: Semaphore::new(opts.max_readers.max(1)),
            current: AtomicI64::new(current),
            compacted: AtomicI64::new(compacted),
            checkpoint_done: AtomicBool::new(false),
            opts,
        });
        let (events, _) = broadcast::channel(shared.opts.watch_buffer.max(1));
        let (tx, rx) = mpsc::channel();
        // After the pragmas: setting wal_autocheckpoint replaces the WAL hook.
        conn.wal_hook(Some(record_wal_pages));
        let checkpointer = Checkpointer::start(shared.clone())?;
        let writer = Writer {
            conn,
            shared: shared.clone(),
            events: events.clone(),
            rx,
            // An interrupted compaction resumes where it stopped.
            job: (cursor < compacted).then(|| CompactJob {
                target: compacted,
                waiters: Vec::new(),
            }),
            cursor,
            samples: VecDeque::new(),
            checkpointer,
            checkpoint_requested: false,
        };
        let handle = std::thread::Builder::new()
            .name("minato-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::Backend(format!("cannot start writer thread: {e}")))?;
        Ok(Arc::new(SqliteStore {
            shared,
            requests: Some(tx),
            events,
            writer: Some(handle),
        }))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    async fn submit<T>(&self, make: impl FnOnce(Reply<T>) -> Req) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .as_ref()
            .ok_or_else(closed)?
            .send(make(reply))
            .map_err(|_| closed())?;
        rx.await
            .map_err(|_| StoreError::Backend("store writer stopped".into()))?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the queue stops the writer after its current batch; joining makes sure the
        // database is closed before a reopen.
        self.requests.take();
        if let Some(h) = self.writer.take() {
            let _ = h.join();
        }
    }
}

fn check_size(value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StoreError::TooLarge {
            size: value.len(),
            limit: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

const KV_SELECT: &str =
    "SELECT kv.key, l.value, l.create_rev, l.rev FROM kv JOIN log l ON l.rev = kv.mod_rev";

fn kv_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: r.get(0)?,
        value: r.get::<_, Option<Vec<u8>>>(1)?.unwrap_or_default(),
        create_revision: r.get(2)?,
        mod_revision: r.get(3)?,
    })
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let key = key.to_owned();
        self.shared
            .read(move |conn| {
                conn.prepare_cached(&format!("{KV_SELECT} WHERE kv.key = ?1"))
                    .and_then(|mut s| s.query_row([&key], kv_from_row).optional())
                    .map_err(db_err)
            })
            .await
    }

    async fn range(&self, prefix: &str, opts: RangeOptions) -> Result<RangeResult> {
        let prefix = prefix.to_owned();
        self.shared
            .read(move |conn| {
                let end = prefix_end(&prefix);
                // One lower bound, so SQLite uses it for the index seek.
                let (lower_op, lower) = match opts.start_after {
                    Some(s) if s.as_str() >= prefix.as_str() => (">", s),
                    _ => (">=", prefix),
                };
                let limit = match opts.limit {
                    Some(n) if n > 0 => n as i64,
                    _ => -1,
                };
                let sql = format!(
                    "{KV_SELECT} WHERE kv.key {lower_op} ?1 {} ORDER BY kv.key LIMIT ?3",
                    if end.is_some() {
                        "AND kv.key < ?2"
                    } else {
                        "AND ?2 IS NULL"
                    }
                );
                let tx = conn.transaction().map_err(db_err)?;
                let (revision, _) = snapshot_revisions(&tx).map_err(db_err)?;
                let mut stmt = tx.prepare_cached(&sql).map_err(db_err)?;
                // Fetch one more than asked to learn whether more follow.
                let fetch = if limit < 0 { -1 } else { limit + 1 };
                let mut kvs = stmt
                    .query_map(params![lower, end, fetch], kv_from_row)
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(db_err)?;
                let more = limit >= 0 && kvs.len() as i64 > limit;
                if more {
                    kvs.truncate(limit as usize);
                }
                Ok(RangeResult {
                    kvs,
                    revision,
                    more,
                })
            })
            .await
    }

    async fn count(&self, prefix: &str) -> Result<usize> {
        let prefix = prefix.to_owned();
        self.shared
            .read(move |conn| {
                let end = prefix_end(&prefix);
                let sql = format!(
                    "SELECT count(*) FROM kv WHERE key >= ?1 {}",
                    if end.is_some() {
                        "AND key < ?2"
                    } else {
                        "AND ?2 IS NULL"
                    }
                );
                let n: i64 = conn
                    .prepare_cached(&sql)
                    .and_then(|mut s| s.query_row(params![prefix, end], |r| r.get(0)))
                    .map_err(db_err)?;
                Ok(n as usize)
            })
            .await
    }

    async fn count_after(&self, prefix: &str, start_after: &str) -> Result<usize> {
        let prefix = prefix.to_owned();
        let start = start_after.to_owned().max(prefix.clone());
        self.shared
            .read(move |conn| {
                let end = prefix_end(&prefix);
                let sql = format!(
                    "SELECT count(*) FROM kv WHERE key > ?1 {}",
                    if end.is_some() {
                        "AND key < ?2"
                    } else {
                        "AND ?2 IS NULL"
                    }
                );
                let n: i64 = conn
                    .prepare_cached(&sql)
                    .and_then(|mut s| s.query_row(params![start, end], |r| r.get(0)))
                    .map_err(db_err)?;
                Ok(n as usize)
            })
            .await
    }

    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        check_size(&value)?;
        let key = key.to_owned();
        self.submit(|reply| Req::Write(Write::Create { key, value }, reply))
            .await
    }

    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<KeyValue> {
        check_size(&value)?;
        let key = key.to_owned();
        self.submit(|reply| {
            Req::Write(
                Write::Update {
                    key,
                    value,
                    expected,
                },
                reply,
            )
        })
        .await
    }

    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        let key = key.to_owned();
        self.submit(|reply| Req::Write(Write::Delete { key, expected }, reply))
            .await
    }

    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        // Subscribe before reading history so nothing falls between the two.
        let rx = self.events.subscribe();
        let end = prefix_end(prefix);
        let mut state = WatchState {
            shared: self.shared.clone(),
            rx,
            prefix: prefix.to_owned(),
            end,
            cursor: 0,
            pending: VecDeque::new(),
            catch_up: false,
            done: false,
        };
        if after <= 0 {
            // Everything committed so far is "before now"; later batches are delivered.
            state.cursor = self.shared.current.load(Ordering::SeqCst);
        } else {
            state.cursor = after;
            // The first page is read here so a compacted start fails the call itself.
            state.load_history().await?;
        }
        Ok(Box::pin(futures::stream::unfold(
            state,
            |mut st| async move {
                let item = st.next().await?;
                Some((item, st))
            },
        )))
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.shared.current.load(Ordering::SeqCst))
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        Ok(self.shared.compacted.load(Ordering::SeqCst))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let current = self.shared.current.load(Ordering::SeqCst);
        if revision > current {
            return Err(StoreError::Backend(format!(
                "cannot compact to future revision {revision} (current {current})"
            )));
        }
        if revision <= self.shared.compacted.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.submit(|reply| Req::Compact { revision, reply }).await
    }
}

struct WatchState {
    shared: Arc<Shared>,
    rx: broadcast::Receiver<EventBatch>,
    prefix: String,
    end: Option<String>,
    /// Every revision up to here has been delivered or skipped.
    cursor: Revision,
    pending: VecDeque<Arc<Event>>,
    /// History after `cursor` must be read from the log before following live batches.
    catch_up: bool,
    done: bool,
}

impl WatchState {
    /// Reads history after `cursor` into `pending`, page by page as the stream is consumed.
    async fn load_history(&mut self) -> Result<()> {
        let (prefix, end, after) = (self.prefix.clone(), self.end.clone(), self.cursor);
        let page = self
            .shared
            .read(move |conn| read_history(conn, &prefix, end.as_deref(), after))
            .await?;
        // A full page means more history may follow; read it before going live.
        self.catch_up = page.events.len() as i64 >= REPLAY_PAGE;
        self.cursor = page.covered;
        self.pending.extend(page.events.into_iter().map(Arc::new));
        Ok(())
    }

    async fn next(&mut self) -> Option<Result<Arc<Event>>> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(Ok(ev));
            }
            if self.done {
                return None;
            }
            if self.catch_up {
                if let Err(e) = self.load_history().await {
                    self.done = true;
                    return Some(Err(e));
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(batch) => {
                    for ev in batch.iter() {
                        let rev = ev.revision();
                        if rev <= self.cursor {
                            continue;
                        }
                        self.cursor = rev;
                        if ev.kv().key.starts_with(&self.prefix) {
                            self.pending.push_back(ev.clone());
                        }
                    }
                }
                // Missed batches: the log has them if they are not compacted yet.
                Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up = true,
                Err(broadcast::error::RecvError::Closed) => self.done = true,
            }
        }
    }
}

thread_local! {
    /// Pages in the WAL after the last commit on this thread's connection (set by the WAL
    /// hook; each store's writer has its own thread).
    static WAL_PAGES: Cell<i64> = const { Cell::new(0) };
}

fn record_wal_pages(_: &rusqlite::hooks::Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.with(|c| c.set(i64::from(pages)));
    Ok(())
}

/// A thread that copies WAL frames into the database file with its own connection when the
/// writer asks, so commits don't pay for checkpoints.
struct Checkpointer {
    requests: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Checkpointer {
    fn start(shared: Arc<Shared>) -> Result<Checkpointer> {
        let conn = Connection::open_with_flags(
            &shared.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db_err)?;
        let (requests, incoming) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("minato-store-checkpoint".into())
            .spawn(move || loop {
                if incoming.recv().is_err() {
                    break;
                }
                // PASSIVE never waits for the writer or readers; it copies what it can. Repeat
                // while passes are slow, so little is left for the writer to finish.
                for _ in 0..3 {
                    let started = Instant::now();
                    if let Err(e) = run_all(&conn, "PRAGMA wal_checkpoint(PASSIVE)") {
                        tracing::warn!(error = %e, "store background checkpoint failed");
                        break;
                    }
                    if started.elapsed() < Duration::from_millis(10) {
                        break;
                    }
                }
                shared.checkpoint_done.store(true, Ordering::SeqCst);
            })
            .map_err(|e| StoreError::Backend(format!("cannot start checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            requests: Some(requests),
            handle: Some(handle),
        })
    }

    /// Asks for a checkpoint now; false if the thread is gone.
    fn request(&self) -> bool {
        self.requests.as_ref().is_some_and(|r| r.send(()).is_ok())
    }

    fn stop(&mut self) {
        self.requests.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

struct CompactJob {
    target: Revision,
    waiters: Vec<Reply<()>>,
}

struct Writer {
    conn: Connection,
    shared: Arc<Shared>,
    events: broadcast::Sender<EventBatch>,
    rx: mpsc::Receiver<Req>,
    job: Option<CompactJob>,
    /// History up to here is compacted (persisted as `meta.compact_cursor`).
    cursor: Revision,
    /// (time, current revision) at each automatic-compaction tick, oldest first.
    samples: VecDeque<(Instant, Revision)>,
    checkpointer: Checkpointer,
    checkpoint_requested: bool,
}

/// The outcome of one write inside a batch: `Ok` with the client's answer (which may be a
/// logical error like `Conflict`), or `Err` when SQLite failed and the batch must roll back.
type Applied = rusqlite::Result<Result<(KeyValue, Event)>>;

impl Writer {
    fn run(mut self) {
        let interval = self.shared.opts.compact_interval;
        let mut next_tick = interval.map(|i| Instant::now() + i);
        loop {
            let first = if self.job.is_some() {
                match self.rx.try_recv() {
                    Ok(r) => Some(r),
                    Err(mpsc::TryRecvError::Empty) => None,
                    Err(mpsc::TryRecvError::Disconnected) => break,
                }
            } else if let Some(t) = next_tick {
                match self
                    .rx
                    .recv_timeout(t.saturating_duration_since(Instant::now()))
                {
                    Ok(r) => Some(r),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            } else {
                match self.rx.recv() {
                    Ok(r) => Some(r),
                    Err(_) => break,
                }
            };
            if let Some(first) = first {
                let mut batch = vec![first];
                while batch.len() < self.shared.opts.max_batch.max(1) {
                    match self.rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                self.process(batch);
                self.maybe_restart_wal();
            }
            if let (Some(t), Some(i)) = (next_tick, interval) {
                if Instant::now() >= t {
                    self.tick();
                    next_tick = Some(Instant::now() + i);
                }
            }
            if self.job.is_some() {
                self.compact_step();
            }
        }
        self.checkpointer.stop();
    }

    /// Keeps the WAL bounded without making commits pay for checkpoints. Past the limit the
    /// background thread is asked to copy the WAL into the database; once it has, the writer
    /// finishes the checkpoint itself (copying only what was committed meanwhile), so the next
    /// commit starts the WAL over. Only the writer can finish: while it keeps committing, a
    /// checkpoint from another connection never catches up with the end of the WAL.
    fn maybe_restart_wal(&mut self) {
        let limit = i64::from(self.shared.opts.wal_autocheckpoint);
        if limit == 0 {
            return;
        }
        if !self.checkpoint_requested {
            if WAL_PAGES.with(Cell::get) >= limit {
                self.checkpoint_requested = true;
                if !self.checkpointer.request() {
                    // No background thread: do it all here.
                    self.shared.checkpoint_done.store(true, Ordering::SeqCst);
                }
            }
            return;
        }
        if !self.shared.checkpoint_done.load(Ordering::SeqCst) {
            return;
        }
        let busy = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
        match busy {
            Ok(0) => {
                self.shared.checkpoint_done.store(false, Ordering::SeqCst);
                self.checkpoint_requested = false;
            }
            // Another checkpoint is running; try again after the next batch.
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "store checkpoint failed");
                self.shared.checkpoint_done.store(false, Ordering::SeqCst);
                self.checkpoint_requested = false;
            }
        }
    }

    fn process(&mut self, batch: Vec<Req>) {
        let mut writes = Vec::with_capacity(batch.len());
        let mut compactions = Vec::new();
        for req in batch {
            match req {
                Req::Write(w, reply) => writes.push((w, reply)),
                Req::Compact { revision, reply } => compactions.push((revision, reply)),
            }
        }
        if !writes.is_empty() {
            self.commit_writes(writes);
        }
        for (revision, reply) in compactions {
            self.start_compaction(revision, Some(reply));
        }
    }

    fn commit_writes(&mut self, writes: Vec<(Write, Reply<KeyValue>)>) {
        let mut rev = self.shared.current.load(Ordering::SeqCst);
        let mut answers = Vec::with_capacity(writes.len());
        let mut events = Vec::new();
        let result = match self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
        {
            Err(e) => {
                answers.extend(writes.into_iter().map(|(_, reply)| (reply, None)));
                Err(e)
            }
            Ok(tx) => {
                let mut failure = None;
                for (write, reply) in writes {
                    if failure.is_some() {
                        answers.push((reply, None));
                        continue;
                    }
                    let applied = match write {
                        Write::Create { key, value } => apply_create(&tx, rev + 1, key, value),
                        Write::Update {
                            key,
                            value,
                            expected,
                        } => apply_update(&tx, rev + 1, key, value, expected),
                        Write::Delete { key, expected } => {
                            apply_delete(&tx, rev + 1, key, expected)
                        }
                    };
                    match applied {
                        Ok(Ok((kv, ev))) => {
                            rev += 1;
                            events.push(Arc::new(ev));
                            answers.push((reply, Some(Ok(kv))));
                        }
                        Ok(Err(e)) => answers.push((reply, Some(Err(e)))),
                        Err(e) => {
                            failure = Some(e);
                            answers.push((reply, None));
                        }
                    }
                }
                // Dropping the transaction on failure rolls it back.
                match failure {
                    Some(e) => Err(e),
                    None => tx.commit(),
                }
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "store write batch rolled back");
            for (reply, answer) in answers {
                let answer = match answer {
                    // Logical answers (Conflict, NotFound...) were decided on state that did
                    // not change, so they still hold.
                    Some(Err(logical)) => Err(logical),
                    _ => Err(StoreError::Backend(format!("sqlite: write failed: {e}"))),
                };
                let _ = reply.send(answer);
            }
            return;
        }
        self.shared.current.store(rev, Ordering::SeqCst);
        if !events.is_empty() {
            // Having no receivers is fine.
            let _ = self.events.send(Arc::new(events));
        }
        for (reply, answer) in answers {
            if let Some(answer) = answer {
                let _ = reply.send(answer);
            }
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        let current = self.shared.current.load(Ordering::SeqCst);
        self.samples.push_back((now, current));
        let opts = &self.shared.opts;
        // Keep only the newest sample that is at least retain_duration old, and newer ones.
        while self
            .samples
            .get(1)
            .is_some_and(|&(t, _)| now.duration_since(t) >= opts.retain_duration)
        {
            self.samples.pop_front();
        }
        let by_time = match self.samples.front() {
            Some(&(t, r)) if now.duration_since(t) >= opts.retain_duration => r,
            _ => return,
        };
        let target = by_time.min(current - opts.retain_revisions);
        let compacted = self.shared.compacted.load(Ordering::SeqCst);
        if target > compacted {
            self.start_compaction(target, None);
        } else if self.job.is_none() && self.cursor < compacted {
            // A failed compaction is retried.
            self.job = Some(CompactJob {
                target: compacted,
                waiters: Vec::new(),
            });
        }
    }

    fn start_compaction(&mut self, target: Revision, reply: Option<Reply<()>>) {
        let compacted = self.shared.compacted.load(Ordering::SeqCst);
        if target <= compacted {
            if let Some(r) = reply {
                // Covered by a running job: answer when it is done.
                match self.job.as_mut() {
                    Some(job) => job.waiters.push(r),
                    None => {
                        let _ = r.send(Ok(()));
                    }
                }
            }
            return;
        }
        // Publish the new compacted revision before deleting anything, so readers that see
        // missing rows also see that they may be missing.
        if let Err(e) = self.conn.execute(
            "UPDATE meta SET value = ?1 WHERE name = 'compacted'",
            [target],
        ) {
            tracing::error!(error = %e, "store compaction could not start");
            if let Some(r) = reply {
                let _ = r.send(Err(db_err(e)));
            }
            return;
        }
        self.shared.compacted.store(target, Ordering::SeqCst);
        let job = self.job.get_or_insert(CompactJob {
            target,
            waiters: Vec::new(),
        });
        job.target = target;
        job.waiters.extend(reply);
    }

    fn compact_step(&mut self) {
        let Some(job) = self.job.as_mut() else { return };
        let lo = self.cursor;
        let hi = (lo + self.shared.opts.compact_chunk.max(1)).min(job.target);
        let result = (|| -> rusqlite::Result<()> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Rows superseded by a row in (lo, hi]; their successors keep every later event's
            // predecessor intact. Then the tombstones in (lo, hi].
            tx.prepare_cached(
                "DELETE FROM log WHERE rev IN \
                 (SELECT prev_rev FROM log WHERE rev > ?1 AND rev <= ?2 AND prev_rev > 0)",
            )?
            .execute([lo, hi])?;
            tx.prepare_cached("DELETE FROM log WHERE rev > ?1 AND rev <= ?2 AND kind = ?3")?
                .execute([lo, hi, KIND_DELETE])?;
            tx.prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'compact_cursor'")?
                .execute([hi])?;
            tx.commit()
        })();
        match result {
            Ok(()) => self.cursor = hi,
            Err(e) => {
                // The cursor is persisted, so the next compaction or restart resumes here.
                tracing::error!(error = %e, "store compaction failed");
                if let Some(job) = self.job.take() {
                    for w in job.waiters {
                        let _ = w.send(Err(StoreError::Backend(format!(
                            "sqlite: compaction failed: {e}"
                        ))));
                    }
                }
                return;
            }
        }
        if self.cursor >= job.target {
            if let Some(job) = self.job.take() {
                for w in job.waiters {
                    let _ = w.send(Ok(()));
                }
            }
            self.reclaim_space();
        }
    }

    /// Returns freed pages to the file system and resets the WAL after a compaction.
    fn reclaim_space(&mut self) {
        let result = (|| -> rusqlite::Result<()> {
            let pages: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
            let free: i64 = self
                .conn
                .query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            // Free pages are reused by later writes; only shrink when a lot is free.
            if free > 256 && free * 4 > pages {
                run_all(
                    &self.conn,
                    &format!("PRAGMA incremental_vacuum({})", free / 2),
                )?;
            }
            // Don't stall writes behind a long reader: retry at the next compaction instead.
            self.conn.busy_timeout(Duration::from_millis(100))?;
            let r = run_all(&self.conn, "PRAGMA wal_checkpoint(TRUNCATE)");
            self.conn.busy_timeout(BUSY_TIMEOUT)?;
            r
        })();
        if let Err(e) = result {
            tracing::warn!(error = %e, "store space reclaim failed");
        }
    }
}

/// Current row of `key`: (mod_rev, create_rev, value).
fn lookup(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
) -> rusqlite::Result<Option<(Revision, Revision, Vec<u8>)>> {
    tx.prepare_cached(
        "SELECT kv.mod_rev, l.create_rev, l.value FROM kv JOIN log l ON l.rev = kv.mod_rev \
         WHERE kv.key = ?1",
    )?
    .query_row([key], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get::<_, Option<Vec<u8>>>(2)?.unwrap_or_default(),
        ))
    })
    .optional()
}

fn insert_log(
    tx: &rusqlite::Transaction<'_>,
    rev: Revision,
    key: &str,
    kind: i64,
    create_rev: Revision,
    prev_rev: Revision,
    value: Option<&[u8]>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO log (rev, key, kind, create_rev, prev_rev, value) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![rev, key, kind, create_rev, prev_rev, value])?;
    Ok(())
}

fn apply_create(
    tx: &rusqlite::Transaction<'_>,
    rev: Revision,
    key: String,
    value: Vec<u8>,
) -> Applied {
    let exists = tx
        .prepare_cached("SELECT 1 FROM kv WHERE key = ?1")?
        .exists([&key])?;
    if exists {
        return Ok(Err(StoreError::AlreadyExists(key)));
    }
    insert_log(tx, rev, &key, KIND_PUT, rev, 0, Some(&value))?;
    tx.prepare_cached("INSERT INTO kv (key, mod_rev) VALUES (?1, ?2)")?
        .execute(params![key, rev])?;
    let kv = KeyValue {
        key,
        value,
        create_revision: rev,
        mod_revision: rev,
    };
    Ok(Ok((kv.clone(), Event::Put { kv, prev: None })))
}

fn apply_update(
    tx: &rusqlite::Transaction<'_>,
    rev: Revision,
    key: String,
    value: Vec<u8>,
    expected: Revision,
) -> Applied {
    let Some((mod_rev, create_rev, old)) = lookup(tx, &key)? else {
        return Ok(Err(StoreError::NotFound(key)));
    };
    if mod_rev != expected {
        return Ok(Err(StoreError::Conflict {
            key,
            expected,
            actual: mod_rev,
        }));
    }
    insert_log(tx, rev, &key, KIND_PUT, create_rev, mod_rev, Some(&value))?;
    tx.prepare_cached("UPDATE kv SET mod_rev = ?2 WHERE key = ?1")?
        .execute(params![key, rev])?;
    let prev = KeyValue {
        key: key.clone(),
        value: old,
        create_revision: create_rev,
        mod_revision: mod_rev,
    };
    let kv = KeyValue {
        key,
        value,
        create_revision: create_rev,
        mod_revision: rev,
    };
    Ok(Ok((
        kv.clone(),
        Event::Put {
            kv,
            prev: Some(prev),
        },
    )))
}

fn apply_delete(
    tx: &rusqlite::Transaction<'_>,
    rev: Revision,
    key: String,
    expected: Option<Revision>,
) -> Applied {
    let Some((mod_rev, create_rev, old)) = lookup(tx, &key)? else {
        return Ok(Err(StoreError::NotFound(key)));
    };
    if let Some(expected) = expected {
        if mod_rev != expected {
            return Ok(Err(StoreError::Conflict {
                key,
                expected,
                actual: mod_rev,
            }));
        }
    }
    insert_log(tx, rev, &key, KIND_DELETE, create_rev, mod_rev, None)?;
    tx.prepare_cached("DELETE FROM kv WHERE key = ?1")?
        .execute([&key])?;
    let kv = KeyValue {
        key,
        value: old,
        create_revision: create_rev,
        mod_revision: rev,
    };
    Ok(Ok((kv.clone(), Event::Delete { kv })))
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_bounds_prefix() {
        assert_eq!(
            prefix_end("/registry/pods/").as_deref(),
            Some("/registry/pods0")
        );
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
    }
}
