#!/bin/bash
# node-up.sh NAME FQDN MGMT_CIDR NETS [EXT_CIDR EXT_GW]
# One lab host: network namespace lab-NAME with mgmt0 (MGMT_CIDR, on lab-mgmt) and one veth per
# fabric network in NETS ("tenant,ext" for a Neutron node, "ext" for the probe), private mount and
# UTS namespaces (node-anchor.sh) and an sshd on the management address. A Neutron node also gets its
# own Open vSwitch (userspace datapath) with br-vlan <- eth-tenant and br-ex <- eth-ext.
# The probe gets EXT_CIDR on eth-ext and a default route via EXT_GW instead.
# With LAB_TUNNEL_CIDR set (VXLAN tenant networks) eth-tenant goes into br-phy instead of br-vlan,
# and the node's tunnel endpoint address LAB_TUNNEL_CIDR sits on br-phy (userspace tunnelling
# routes through an OVS bridge that holds the local endpoint).
# With LAB_COMPUTE=1 (a Nova compute node) the node also gets its own /etc/nova, /var/lib/nova,
# /etc/libvirt, /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt and /run/libvirt.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
name=$1 fqdn=$2 mgmt=$3 nets=$4 ext_cidr=${5:-} ext_gw=${6:-}
ns=lab-$name nd=$LAB_STATE/nodes/$name
mkdir -p "$nd"/{etc,lib,log,ovs,ssh}
dirs="/run/netns /run/openvswitch /run/sshd /etc/neutron /var/lib/neutron /var/log/neutron"
if [ "${LAB_COMPUTE:-0}" = 1 ]; then
  for d in etc/nova var/lib/nova etc/libvirt var/lib/libvirt var/log/libvirt run/libvirt var/cache/libvirt; do
    mkdir -p "$nd/nova/${d//\//-}"
    dirs="$dirs /$d"
  done
  mkdir -p "$nd/nova/var-lib-nova/instances" "$nd/nova/var-log-libvirt/qemu"
  # libvirt's qemu driver looks up its built-in user and group libvirt-qemu before it reads
  # qemu.conf (user root): the node's own passwd and group have them, the host's are not touched
  cp /etc/passwd "$nd/nova/passwd"
  cp /etc/group "$nd/nova/group"
  getent passwd libvirt-qemu >/dev/null ||
    echo 'libvirt-qemu:x:64055:64055:libvirt qemu of a dvr-lab node:/var/lib/libvirt:/usr/sbin/nologin' >> "$nd/nova/passwd"
  getent group libvirt-qemu >/dev/null || echo 'libvirt-qemu:x:64055:' >> "$nd/nova/group"
fi
for d in $dirs; do
  if [ ! -d "$d" ]; then mkdir -p "$d"; echo "$d" >> "$LAB_STATE/created-dirs"; fi
done
printf '127.0.0.1 localhost\n%s %s %s\n' "${mgmt%/*}" "$fqdn" "${fqdn%%.*}" > "$nd/hosts"
echo "$fqdn" > "$nd/hostname"

ip netns add "$ns"
ip -n "$ns" link set lo up
ip link add "m-$name" type veth peer name mgmt0 netns "$ns"
ip link set "m-$name" master lab-mgmt up
ip -n "$ns" addr add "$mgmt" dev mgmt0
ip -n "$ns" link set mgmt0 up
for net in ${nets//,/ }; do
  peer=${net:0:1}-$name
  ip -n lab-fabric link add "$peer" type veth peer name "eth-$net" netns "$ns"
  ip -n lab-fabric link set "$peer" master "lab-$net" up
  ip -n "$ns" link set "eth-$net" up
  no_offload "$peer" lab-fabric
  no_offload "eth-$net" "$ns"
done
if [ -n "$ext_cidr" ]; then
  ip -n "$ns" addr add "$ext_cidr" dev eth-ext
  ip -n "$ns" route add default via "$ext_gw"
fi

spawn "$name-anchor" ip netns exec "$ns" unshare --mount --uts --propagation private \
  "$(dirname "$(readlink -f "$0")")/node-anchor.sh" "$nd" "$fqdn"
for _ in $(seq 100); do [ -e "$nd/ready" ] && break; sleep 0.05; done
[ -e "$nd/ready" ] || { echo "node $name did not come up" >&2; exit 1; }

if [[ ",$nets," == *,tenant,* ]]; then
  rm -f "$nd/ovs/conf.db"
  ovsdb-tool create "$nd/ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema
  spawn "$name-ovsdb-server" --node "$name" ovsdb-server "$nd/ovs/conf.db" \
    --remote=punix:/run/openvswitch/db.sock --pidfile -vconsole:off -vfile:info \
    --log-file="$nd/log/ovsdb-server.log"
  for _ in $(seq 100); do in_node "$name" test -S /run/openvswitch/db.sock && break; sleep 0.05; done
  in_node "$name" ovs-vsctl --no-wait -- init -- set Open_vSwitch . \
    "external_ids:hostname=$fqdn" "external_ids:system-id=$fqdn"
  spawn "$name-ovs-vswitchd" --node "$name" ovs-vswitchd unix:/run/openvswitch/db.sock \
    --pidfile -vconsole:off -vfile:info --log-file="$nd/log/ovs-vswitchd.log"
  tenant_br=br-vlan
  [ -n "${LAB_TUNNEL_CIDR:-}" ] && tenant_br=br-phy
  in_node "$name" ovs-vsctl --timeout=20 \
    -- --may-exist add-br "$tenant_br" -- set Bridge "$tenant_br" datapath_type=netdev \
    -- --may-exist add-port "$tenant_br" eth-tenant \
    -- --may-exist add-br br-ex -- set Bridge br-ex datapath_type=netdev \
    -- --may-exist add-port br-ex eth-ext
  if [ -n "${LAB_TUNNEL_CIDR:-}" ]; then
    in_node "$name" ip addr add "$LAB_TUNNEL_CIDR" dev br-phy
    in_node "$name" ip link set br-phy up
  fi
fi

[ -e "$nd/ssh/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "$fqdn" -f "$nd/ssh/host_ed25519"
cat > "$nd/ssh/sshd_config" <<CONF
ListenAddress ${mgmt%/*}
HostKey $nd/ssh/host_ed25519
PidFile none
AuthorizedKeysFile $LAB_STATE/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
Subsystem sftp internal-sftp
CONF
spawn "$name-sshd" --node "$name" /usr/sbin/sshd -D -e -f "$nd/ssh/sshd_config"
