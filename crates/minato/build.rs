//! Links `minato` as a position-dependent executable, as Go links its binaries (k3s, kubelet).
//!
//! A PIE of this size carries about 63,000 relative relocations: every process start (each
//! container's shim is one) applies them, and the 1.2 MB of `.data.rel.ro` they write becomes
//! private memory in every process instead of page cache shared by all. The price is that the
//! binary's own code and data are not at random addresses (libraries, heap and stacks still
//! are).
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
