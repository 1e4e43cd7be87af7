#!/usr/bin/env bash
# On a hybrid cgroup host (v1 controllers plus cgroup2 at /sys/fs/cgroup/unified), mounts as
# cgroup v1 the controllers nobody mounted (they sit on cgroup2 instead, typically hugetlb).
# crun refuses such hosts ("cgroups in hybrid mode not supported"); with them mounted the node
# agent picks crun, which starts containers about twice as fast as runc. Idempotent; a no-op
# on pure v1 or v2 hosts. Needs root.
set -euo pipefail
unified=/sys/fs/cgroup/unified
[ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = tmpfs ] || exit 0
[ "$(stat -f -c %T "$unified" 2>/dev/null)" = cgroup2fs ] || exit 0
[ -z "$(cat "$unified/cgroup.subtree_control")" ] || { echo "cgroup2 has controllers enabled; leaving the cgroup mounts as they are" >&2; exit 0; }
for c in $(cat "$unified/cgroup.controllers"); do
  mkdir -p "/sys/fs/cgroup/$c"
  mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"
  echo "mounted the $c cgroup controller at /sys/fs/cgroup/$c (cgroup v1)"
done
