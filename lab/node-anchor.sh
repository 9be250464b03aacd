#!/bin/bash
# node-anchor.sh NODE_DIR FQDN: runs in a node's fresh mount and UTS namespaces (inside its network
# namespace) and holds them: sets the host name, mounts a private /run/netns and /run/openvswitch
# and the node's own config/state/log dirs and hosts file at the standard paths, then sleeps.
set -eu
# (bash: exec -a names the sleeping anchor so it is recognisable in ps)
nd=$1
hostname "$2"
mount -t tmpfs -o mode=755 lab-netns /run/netns
mount -t tmpfs -o mode=755 lab-ovs /run/openvswitch
mount --bind "$nd/etc" /etc/neutron
mount --bind "$nd/lib" /var/lib/neutron
mount --bind "$nd/log" /var/log/neutron
mount --bind "$nd/hosts" /etc/hosts
mount --bind "$nd/hostname" /etc/hostname
# a compute node: its own Nova and libvirt config, state, logs and sockets
if [ -d "$nd/nova" ]; then
  for d in etc/nova var/lib/nova etc/libvirt var/lib/libvirt var/log/libvirt run/libvirt var/cache/libvirt; do
    mount --bind "$nd/nova/${d//\//-}" "/$d"
  done
  mount --bind "$nd/nova/passwd" /etc/passwd
  mount --bind "$nd/nova/group" /etc/group
fi
touch "$nd/ready"
exec -a dvr-lab-anchor sleep infinity
