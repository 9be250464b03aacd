#!/bin/bash
# fabric-up.sh MGMT_CIDR EXT_GW_CIDR INTERNET_CIDR
# The lab's wires. Root namespace: bridge lab-mgmt holding MGMT_CIDR, the only lab address there.
# Namespace lab-fabric: bridges lab-tenant (VLAN trunk, physnet1) and lab-ext (flat external
# network), no addresses. Namespace lab-upstream: the external gateway (EXT_GW_CIDR on lab-ext) and
# a router (forwarding on in that namespace only) towards namespace lab-internet, which holds
# INTERNET_CIDR on its loopback: the internet, a traceroute destination one hop beyond the gateway.
# Nothing here is connected to the root namespace or the real NIC.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
mgmt=$1 gw=$2 inet=$3
mkdir -p "$LAB_STATE/ssh" "$LAB_STATE/pids" "$LAB_STATE/logs"
cg=$(lab_cgroup)
if [ -n "$cg" ]; then mkdir -p "$cg"; echo "$cg" > "$LAB_STATE/cgroup"; fi

ip link add lab-mgmt type bridge
sysctl -qw net.ipv6.conf.lab-mgmt.disable_ipv6=1
ip addr add "$mgmt" dev lab-mgmt
ip link set lab-mgmt up

ip netns add lab-fabric
ip -n lab-fabric link set lo up
for br in lab-tenant lab-ext; do
  ip -n lab-fabric link add "$br" type bridge
  ip -n lab-fabric link set "$br" up
done

ip netns add lab-upstream
ip -n lab-upstream link set lo up
ip -n lab-fabric link add x-upstream type veth peer name eth-ext netns lab-upstream
ip -n lab-fabric link set x-upstream master lab-ext up
no_offload x-upstream lab-fabric
no_offload eth-ext lab-upstream
ip -n lab-upstream addr add "$gw" dev eth-ext
ip -n lab-upstream link set eth-ext up

ip netns add lab-internet
ip -n lab-internet link set lo up
ip -n lab-internet addr add "$inet" dev lo   # (this kernel has no dummy driver)
ip -n lab-upstream link add eth-inet type veth peer name eth-up netns lab-internet
ip -n lab-upstream addr add 198.51.100.1/30 dev eth-inet
ip -n lab-upstream link set eth-inet up
ip -n lab-internet addr add 198.51.100.2/30 dev eth-up
ip -n lab-internet link set eth-up up
ip -n lab-internet route add default via 198.51.100.1
ip -n lab-upstream route add "$inet" via 198.51.100.2
ip netns exec lab-upstream sysctl -qw net.ipv4.ip_forward=1
