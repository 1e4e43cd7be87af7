//! Patches as the API server applies them: strategic merge patch, JSON merge patch and JSON
//! patch, plus the per-type list rules (merge keys, sets, atomic lists) that strategic merge
//! patch and server-side apply share.

pub mod keys;
