#!/bin/bash
# node-agents.sh NODE...: start neutron-openvswitch-agent and neutron-l3-agent inside each node,
# and neutron-dhcp-agent inside those listed in $LAB_DHCP_NODES, with the node's own /etc/neutron
# (mounted there by node-anchor.sh).
# The OVS agents start one after another: each registers its DVR MAC and the server fans it out to
# the agents already consuming; agents started together miss each other's MACs (a real Neutron
# race), leaving hosts without their peers' DVR MAC flows.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
for node in "$@"; do
  spawn "$node-openvswitch-agent" --node "$node" neutron-openvswitch-agent \
    --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/openvswitch_agent.ini
  # its own DVR MAC flow (br-int table 0, priority 5) means it registered and consumes fanouts
  for _ in $(seq 1 120); do
    in_node "$node" ovs-ofctl dump-flows br-int table=0 2>/dev/null | grep -q 'priority=5,.*dl_dst=' && break
    sleep 0.5
  done
  spawn "$node-l3-agent" --node "$node" neutron-l3-agent \
    --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/l3_agent.ini
  if [[ " ${LAB_DHCP_NODES:-} " == *" $node "* ]]; then
    spawn "$node-dhcp-agent" --node "$node" neutron-dhcp-agent \
      --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/dhcp_agent.ini
  fi
done
