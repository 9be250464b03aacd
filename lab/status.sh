#!/bin/bash
# status.sh: the lab's recorded processes (alive or dead), namespaces and bridge.
# Exit 1 when no lab is up or a recorded process is dead.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
if [ ! -d "$LAB_STATE/pids" ]; then echo "no lab is up (no $LAB_STATE/pids)"; exit 1; fi
rc=0 up=0
for f in "$LAB_STATE"/pids/*.pid; do
  read -r pid st < "$f"
  if [ "$(starttime "$pid")" = "$st" ]; then up=$((up + 1)); else echo "DEAD: $(basename "$f" .pid) (pid $pid)"; rc=1; fi
done
cg=$(cat "$LAB_STATE/cgroup" 2>/dev/null || true)
echo "processes: $up recorded alive$( [ -n "$cg" ] && echo ", $(wc -l < "$cg/cgroup.procs") in cgroup $cg")"
echo "namespaces: $(ip netns list | awk '$1 ~ /^lab-/ {print $1}' | sort | tr '\n' ' ')"
echo "bridge lab-mgmt: $(ip -br addr show lab-mgmt 2>/dev/null | awk '{print $2, $3}')"
exit $rc
