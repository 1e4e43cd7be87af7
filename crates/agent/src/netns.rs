//! Connecting from inside a pod's network namespace (port-forward reaches the pod's
//! localhost, as the kubelet does, not only addresses bound to the pod IP).

use std::os::fd::AsFd;
use std::path::Path;

/// Connects to 127.0.0.1:`port` inside the network namespace at `netns` (None: the host's).
pub async fn connect_in(netns: Option<&Path>, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let Some(netns) = netns else {
        return tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    };
    let netns = netns.to_path_buf();
    // setns affects only the calling thread: do it on a short-lived thread of our own; the
    // socket keeps the namespace it was made in.
    let std_stream =
        tokio::task::spawn_blocking(move || -> std::io::Result<std::net::TcpStream> {
            std::thread::spawn(move || -> std::io::Result<std::net::TcpStream> {
                let file = std::fs::File::open(&netns)?;
                nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(std::io::Error::from)?;
                std::net::TcpStream::connect_timeout(
                    &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
                    std::time::Duration::from_secs(10),
                )
            })
            .join()
            .map_err(|_| std::io::Error::other("namespace thread panicked"))?
        })
        .await
        .map_err(std::io::Error::other)??;
    std_stream.set_nonblocking(true)?;
    tokio::net::TcpStream::from_std(std_stream)
}
