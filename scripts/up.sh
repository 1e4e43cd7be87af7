#!/usr/bin/env bash
# Starts minato on a fresh machine: installs what it needs, builds the binary, runs the server.
# Usage: scripts/up.sh [extra `minato server` flags]   (data in ${MINATO_DATA:-$HOME/.minato})
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
# The local node agent runs pods with crun (or runc) on a bridge; CNI portmap does hostPorts.
command -v crun >/dev/null || need_apt+=(crun)
[ -x /usr/lib/cni/portmap ] || [ -x /opt/cni/bin/portmap ] || need_apt+=(containernetworking-plugins)
command -v nft >/dev/null || need_apt+=(nftables)
command -v iptables >/dev/null || need_apt+=(iptables)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
# crun needs every cgroup controller mounted as v1 on a hybrid host.
scripts/mount-v1-controllers.sh
cargo build --release -p minato
data="${MINATO_DATA:-$HOME/.minato}"
mkdir -p "$data"
echo "kubeconfig: $data/admin.kubeconfig  (export KUBECONFIG=$data/admin.kubeconfig)"
exec ./target/release/minato server --data-dir "$data" "$@"
