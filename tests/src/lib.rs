//! end-to-end test helpers
