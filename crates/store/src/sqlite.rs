//! SQLite backend (being written)
