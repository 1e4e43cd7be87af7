//! The revisioned key-value store behind the API server.
//!
//! The interface follows etcd's model, so an etcd backend can follow without the API server
//! noticing: every write bumps one global revision; each key remembers the revision that
//! created it and the one that last modified it; writes are compare-and-swap on the
//! modification revision; watches replay history from any retained revision and then follow
//! live writes; compaction forgets history older than a revision.
//!
//! Only the API server uses this crate. Keys are `/registry/...` paths; values are opaque bytes
//! (the API server stores JSON).

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;

pub mod sqlite;

/// A store-wide, strictly increasing write counter. The API server exposes it as
/// `metadata.resourceVersion`.
pub type Revision = i64;

/// One key's current value and its revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    /// Revision of the write that created this incarnation of the key.
    pub create_revision: Revision,
    /// Revision of the last write to the key (for a delete event: the delete's revision).
    pub mod_revision: Revision,
}

/// A change seen by a watcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The key was created (`prev` is `None`) or updated (`prev` is the value before).
    Put {
        kv: KeyValue,
        prev: Option<KeyValue>,
    },
    /// The key was deleted. `kv.value` is the last value; `kv.mod_revision` the delete's revision.
    Delete { kv: KeyValue },
}

impl Event {
    pub fn kv(&self) -> &KeyValue {
        match self {
            Event::Put { kv, .. } | Event::Delete { kv } => kv,
        }
    }
    pub fn revision(&self) -> Revision {
        self.kv().mod_revision
    }
}

/// A page of keys under a prefix.
#[derive(Clone, Debug, Default)]
pub struct RangeResult {
    pub kvs: Vec<KeyValue>,
    /// The store revision the range was read at.
    pub revision: Revision,
    /// True when `limit` cut the result and more keys follow the last one returned.
    pub more: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("key {0} already exists")]
    AlreadyExists(String),
    #[error("key {0} not found")]
    NotFound(String),
    /// Compare-and-swap failed: the key's mod revision is no longer the expected one.
    #[error("key {key} was modified (expected revision {expected}, found {actual})")]
    Conflict {
        key: String,
        expected: Revision,
        actual: Revision,
    },
    /// The requested watch start revision has been compacted away.
    #[error("required revision {requested} has been compacted (oldest retained {compacted})")]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },
    #[error("value of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("store backend failure: {0}")]
    Backend(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A stream of watch events for one prefix, in revision order. It ends only when the store is
/// dropped or the watcher falls too far behind (then the last item is an error and the client
/// re-watches from its last revision, as with etcd).
/// Events are shared by every watcher of the store (one allocation per write, not per
/// watcher).
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<Arc<Event>>> + Send>>;

/// Options for [`Store::range`].
#[derive(Clone, Debug, Default)]
pub struct RangeOptions {
    /// Return only keys strictly greater than this one (paging).
    pub start_after: Option<String>,
    /// At most this many keys; `None` or 0 means all.
    pub limit: Option<usize>,
}

/// The etcd-like interface the API server programs against.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// The current value of one key.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Current values of all keys that start with `prefix`, in key order.
    async fn range(&self, prefix: &str, opts: RangeOptions) -> Result<RangeResult>;

    /// Count of keys under `prefix`.
    async fn count(&self, prefix: &str) -> Result<usize>;

    /// Count of keys under `prefix` that sort after `start_after` (a list's remaining items).
    async fn count_after(&self, prefix: &str, start_after: &str) -> Result<usize>;

    /// Creates `key`; fails with `AlreadyExists` if it is present.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue>;

    /// Replaces `key`'s value if its mod revision is still `expected`; `Conflict` otherwise,
    /// `NotFound` if it is gone.
    async fn update(&self, key: &str, value: Vec<u8>, expected: Revision) -> Result<KeyValue>;

    /// Deletes `key`, if `expected` is given only when its mod revision still matches. Returns the
    /// deleted key-value with `mod_revision` set to the delete's revision.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue>;

    /// Events for keys under `prefix` with revision greater than `after`. `after == 0` means
    /// "from now". Fails with `Compacted` if history after `after` is no longer retained.
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;

    /// The revision of the last write.
    async fn current_revision(&self) -> Result<Revision>;

    /// The oldest revision whose history is still retained (watches may start at or after it).
    async fn compacted_revision(&self) -> Result<Revision>;

    /// Forgets history at or before `revision` (current values are kept).
    async fn compact(&self, revision: Revision) -> Result<()>;
}

/// Largest value accepted, as etcd's default request limit (1.5 MiB).
pub const MAX_VALUE_BYTES: usize = 3 * 512 * 1024;
