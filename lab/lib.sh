# Shared helpers for the lab scripts (sourced, not run). Everything the lab starts is a child of
# spawn(): own session, lab cgroup, log file, recorded "PID starttime" in $LAB_STATE/pids/<name>.pid.
# shellcheck shell=bash
set -euo pipefail
: "${LAB_STATE:=/var/lib/dvr-lab}"
: "${LAB_VENV:=/opt/dvr-lab/venv}"
# Fewer malloc arenas: the threaded Python services keep much less memory.
export MALLOC_ARENA_MAX=2
export PATH="$LAB_VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The cgroup that holds every lab process (a controller-less hierarchy: tracking only, no limits).
lab_cgroup() {
  local base
  for base in /sys/fs/cgroup/unified /sys/fs/cgroup /sys/fs/cgroup/systemd; do
    if [ -w "$base/cgroup.procs" ]; then echo "$base/dvr-lab"; return; fi
  done
}

starttime() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# node_pid NODE: PID of the node's anchor process (it holds its network, mount, UTS namespaces).
node_pid() { cut -d' ' -f1 "$LAB_STATE/pids/$1-anchor.pid"; }

# spawn NAME [--node NODE] CMD...: start a long-lived lab process.
spawn() {
  local name=$1 cg pid; shift
  local prefix=()
  if [ "${1:-}" = --node ]; then prefix=(nsenter -t "$(node_pid "$2")" -m -n -u --); shift 2; fi
  cg=$(cat "$LAB_STATE/cgroup" 2>/dev/null || true)
  mkdir -p "$LAB_STATE/pids" "$LAB_STATE/logs"
  # shellcheck disable=SC2016  # (expanded by the inner bash)
  setsid bash -c 'if [ -n "$1" ]; then echo $$ > "$1/cgroup.procs"; fi; shift; exec "$@"' \
    spawn "$cg" "${prefix[@]}" "$@" </dev/null >>"$LAB_STATE/logs/$name.log" 2>&1 &
  pid=$!
  echo "$pid $(starttime "$pid")" > "$LAB_STATE/pids/$name.pid"
}

# in_node NODE CMD...: run a command inside a node.
in_node() { local n=$1; shift; nsenter -t "$(node_pid "$n")" -m -n -u -- "$@"; }

# no_offload DEV [NETNS]: TX checksum offload off (veths feeding OVS userspace bridges need it).
no_offload() { if [ -n "${2:-}" ]; then ip netns exec "$2" ethtool -K "$1" tx off >/dev/null; else ethtool -K "$1" tx off >/dev/null; fi; }
