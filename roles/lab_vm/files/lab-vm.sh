#!/bin/bash
# lab-vm.sh plug NAME PORT_ID MAC IP/PLEN GATEWAY VM_UUID [MTU [HYBRID]]
# lab-vm.sh sshd NAME PORT_ID AUTHORIZED_KEY
# lab-vm.sh serve NAME PORT_ID TCP_PORT
# lab-vm.sh unplug NAME PORT_ID
# lab-vm.sh reap SINCE LIVE_PORT_ID...
# A lab VM on a lab compute node (run there, as root): namespace vm-<PORT_ID[:11]> (unique per
# port, as Nova's tap<PORT_ID[:11]>; NAME only labels it) plugged into br-int the way os-vif does,
# with the Neutron port's MAC and IP and a default route via the subnet gateway.
#  - HYBRID=0 (the port's binding says no ovs_hybrid_plug; openvswitch/noop firewall): an OVS
#    internal port tap<port id[:11]> on br-int, moved into the VM namespace.
#  - HYBRID=1 (iptables_hybrid firewall): Linux bridge qbr<id>, veth qvb<id>/qvo<id> with qvo on
#    br-int, and veth tap<id> (on qbr) / eth0 (in the VM namespace), as os-vif's hybrid plug.
# The OVS port carries external_ids iface-id, attached-mac, iface-status=active, vm-uuid.
# What the VM runs is recorded in /run/dvr-lab-vm-<id>/ (pid files, its name and port).
# sshd: an sshd inside the VM namespace letting root in with AUTHORIZED_KEY only (what a cloud
# image's sshd and cloud-init's key injection give a Nova VM).
# serve: a TCP listener on TCP_PORT in the VM namespace (nc, accepting connection after
# connection) for the VM's lifetime, as a server in a VM would; the inbound TCP probe's target.
# Returns once the port listens.
# unplug stops what runs in the VM namespace (processes the lab and the harness started there),
# removes whichever plug was made. reap unplugs every VM on this node (an OVS port with a vm-uuid)
# whose Neutron port is not among LIVE_PORT_IDs, whatever made it, as a Nova delete would have;
# LIVE_PORT_IDs are the ports that existed at SINCE (Unix seconds), so a VM plugged after SINCE is
# spared. Prints "changed" when it changed something, else "ok".
set -euo pipefail
action=$1 name=${2:-} port=${3:-}
names() {  # names PORT_ID: the VM's namespace, run dir and devices
  id=${1:0:11}
  ns=vm-$id run=/run/dvr-lab-vm-$id tap=tap$id qbr=qbr$id qvb=qvb$id qvo=qvo$id
}
names "$port"
if ! ovs-vsctl --timeout=5 br-exists br-int 2>/dev/null; then
  echo "no Open vSwitch with br-int here: $(hostname) is not a lab compute node" >&2
  exit 1
fi

ovs_port() {  # ovs_port DEV TYPE MAC UUID: the OVS port of the VM, as os-vif sets it
  ovs-vsctl --timeout=30 -- --may-exist add-port br-int "$1" \
    -- set Interface "$1" "type=$2" \
    "external_ids:iface-id=$port" "external_ids:attached-mac=$3" \
    external_ids:iface-status=active "external_ids:vm-uuid=$4"
}

# runs_here PIDFILE COMMAND: the pid file names a live COMMAND in this VM's namespace (a pid file
# left by an earlier lab, its PID since reused, does not count).
runs_here() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] &&
    [ "$(ip netns identify "$pid" 2>/dev/null)" = "$ns" ]
}

listens() { ip netns exec "$ns" ss -Hltn "sport = :$1" 2>/dev/null | grep -q LISTEN; }

# holder DEV: the namespace holding DEV (a VM plugged under another naming rule), if any.
holder() {
  local n
  for n in $(ip netns list | awk '{print $1}'); do
    if ip -n "$n" link show "$1" >/dev/null 2>&1; then echo "$n"; return; fi
  done
}

unplug() {  # stop what runs in the VM, remove the plug and the namespace; prints changed or ok
  local changed=ok pids d
  [ -e "/run/netns/$ns" ] || ns=$(holder "$tap")
  [ -n "$ns" ] || ns=vm-$id
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
    changed=changed
  fi
  rm -rf "$run"
  for d in "$tap" "$qvo"; do
    if ovs-vsctl --timeout=30 list-ports br-int | grep -qx "$d"; then
      ovs-vsctl --timeout=30 del-port br-int "$d"
      changed=changed
    fi
  done
  for d in "$qvb" "$tap" "$qbr"; do
    if ip link show "$d" >/dev/null 2>&1; then ip link del "$d"; changed=changed; fi
  done
  if [ -e "/run/netns/$ns" ]; then ip netns del "$ns"; changed=changed; fi
  echo "$changed"
}

case $action in
plug)
  mac=$4 cidr=$5 gw=$6 uuid=$7 mtu=${8:-1500} hybrid=${9:-0}
  if ip -n "$ns" -br addr show 2>/dev/null | grep -q " ${cidr%/*}/"; then
    echo ok
    exit 0
  fi
  install -d -m 0700 "$run"
  printf '%s\n' "$name" >"$run/name"
  printf '%s\n' "$port" >"$run/port"  # first: reap spares what is being plugged
  ip netns add "$ns" 2>/dev/null || true
  ip -n "$ns" link set lo up
  if [ "$hybrid" = 1 ]; then
    ip link add "$qbr" type bridge forward_delay 0 stp_state 0
    ip link set "$qbr" up
    ip link add "$qvb" mtu "$mtu" type veth peer name "$qvo" mtu "$mtu"
    ip link set "$qvb" master "$qbr" up
    ip link set "$qvo" up
    ip link add "$tap" mtu "$mtu" type veth peer name eth0 mtu "$mtu" netns "$ns"
    ip link set "$tap" master "$qbr" up
    for d in "$qvb" "$qvo" "$tap"; do ethtool -K "$d" tx off >/dev/null; done
    ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
    ovs_port "$qvo" system "$mac" "$uuid"
    dev=eth0
  else
    ovs_port "$tap" internal "$mac" "$uuid"
    for _ in $(seq 100); do ip link show "$tap" >/dev/null 2>&1 && break; sleep 0.05; done
    ip link set "$tap" netns "$ns"
    dev=$tap
  fi
  ip -n "$ns" link set "$dev" address "$mac" mtu "$mtu" up
  ip -n "$ns" addr add "$cidr" dev "$dev"
  ip -n "$ns" route replace default via "$gw" dev "$dev"
  echo changed
  ;;
sshd)
  if runs_here "$run/sshd.pid" sshd; then
    echo ok
    exit 0
  fi
  install -d -m 0700 "$run"
  printf '%s\n' "$4" >"$run/authorized_keys"
  chmod 0600 "$run/authorized_keys"
  [ -f "$run/host_key" ] || ssh-keygen -q -t ed25519 -N "" -f "$run/host_key"
  install -d -m 0755 /run/sshd
  ip netns exec "$ns" /usr/sbin/sshd -f /dev/null -h "$run/host_key" \
    -o PidFile="$run/sshd.pid" -o AuthorizedKeysFile="$run/authorized_keys" \
    -o PermitRootLogin=prohibit-password -o PasswordAuthentication=no -o UsePAM=no
  echo changed
  ;;
serve)
  tcp_port=$4
  if runs_here "$run/tcp.pid" nc && listens "$tcp_port"; then
    echo ok
    exit 0
  fi
  install -d -m 0700 "$run"
  setsid -f sh -c 'echo $$ > "$1"; exec ip netns exec "$2" nc -dlk "$3"' \
    sh "$run/tcp.pid" "$ns" "$tcp_port" </dev/null >>"$run/tcp.log" 2>&1
  for _ in $(seq 100); do listens "$tcp_port" && break; sleep 0.05; done
  if ! listens "$tcp_port"; then
    echo "lab VM $name ($ns): nothing listens on TCP $tcp_port: $(cat "$run/tcp.log")" >&2
    exit 1
  fi
  echo changed
  ;;
unplug)
  unplug
  ;;
reap)
  since=$2
  shift 2
  live=" $* "
  changed=ok
  for port in $(ovs-vsctl --timeout=30 --bare --columns=external_ids \
    find Interface 'external_ids:vm-uuid!=""' | grep -o 'iface-id=[^ ]*' | cut -d= -f2); do
    [[ $live != *" $port "* ]] || continue
    names "$port"
    if [ -f "$run/port" ] && [ "$(stat -c %Y "$run/port")" -ge "$since" ]; then continue; fi
    [ "$(unplug)" = changed ] && changed=changed
  done
  echo "$changed"
  ;;
*)
  echo "usage: $0 plug|sshd|serve|unplug|reap ..." >&2
  exit 2
  ;;
esac
