#!/bin/bash
# node-compute.sh NODE...: start virtlogd, libvirtd and nova-compute inside each compute node, with
# the node's own /etc/libvirt, /run/libvirt (their pid files too: /run itself is shared),
# /etc/nova and /var/lib/nova (mounted there by node-anchor.sh), so that taps, qbr/qvb/qvo and the
# qemu processes live on that node.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
for node in "$@"; do
  spawn "$node-virtlogd" --node "$node" virtlogd --pid-file /run/libvirt/virtlogd.pid
  spawn "$node-libvirtd" --node "$node" libvirtd -f /etc/libvirt/libvirtd.conf --pid-file /run/libvirt/libvirtd.pid
done
for node in "$@"; do
  for _ in $(seq 200); do in_node "$node" test -S /run/libvirt/libvirt-sock && break; sleep 0.1; done
  in_node "$node" test -S /run/libvirt/libvirt-sock || { echo "$node: libvirtd did not open its socket" >&2; exit 1; }
  spawn "$node-nova-compute" --node "$node" nova-compute --config-file /etc/nova/nova.conf
done
