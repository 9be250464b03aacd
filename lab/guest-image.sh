#!/bin/bash
# guest-image.sh CACHE_DIR: a cirros-like guest disk for the lab's Nova, from Debian packages only.
# Builds CACHE_DIR/<key>/dvr-guest.qcow2 and prints its path as the last stdout line; <key> hashes
# this script and the package versions used (kernel, busybox-static, dropbear-bin, gcc and
# libc6-dev for the guest's sudo), so a second
# call with nothing changed prints the path at once. The disk: MBR + one FAT16 partition with
# syslinux, the Debian cloud kernel (downloaded, never installed on the host) and an initramfs
# holding static busybox, dropbear with its shared libraries, the virtio/IDE/iso9660 modules and
# the /init below. The guest (console on ttyS0):
#   - loads the modules (virtio_net with csum=0 gso=0: userspace OVS corrupts partial checksums);
#   - reads hostname and public_keys from the config drive (label config-2, IDE cdrom: the cloud
#     kernel has no AHCI, so hw_machine_type=pc), else from the metadata service (busybox nc);
#   - DHCP with udhcpc: address, routers or classless static routes, DNS and the MTU option; without
#     a lease after 5 s, the config drive's network_data.json (one NIC) while udhcpc keeps trying;
#   - a fresh ed25519 dropbear host key every boot, printed to the console between
#     "-----BEGIN SSH HOST KEY KEYS-----" and "-----END SSH HOST KEY KEYS-----" (as cloud-init);
#   - SSH with the key as user cirros (uid 1000, /bin/sh) and as root; as on cirros, busybox is
#     setuid root (it keeps root only for ping and traceroute, which need raw sockets) and cirros
#     has a password-less sudo (a small static one built here: sudo [-n] COMMAND...). No
#     passwords: the console has no login;
#   - busybox init with acpid: the ACPI power button (Nova's stop) powers it off cleanly.
# GUEST_KERNEL_PACKAGE overrides the kernel package (default: what linux-image-cloud-amd64 depends
# on). A failed build leaves nothing in CACHE_DIR and names the failed step in one stderr line.
set -euo pipefail
export LC_ALL=C
cache=${1:?usage: guest-image.sh CACHE_DIR}
me=$(basename "$0")
fail() { echo "$me: $*" >&2; exit 1; }

# The versions that make the key (asked of apt and dpkg, nothing downloaded yet; one apt-cache
# call: the cloud metapackage depends on the kernel package with its exact version).
if [ -n "${GUEST_KERNEL_PACKAGE:-}" ]; then
  kpkg=$GUEST_KERNEL_PACKAGE
  kver=$(apt-cache show --no-all-versions "$kpkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n1) || true
else
  dep=$(apt-cache show --no-all-versions linux-image-cloud-amd64 2>/dev/null |
    sed -n 's/^Depends: \(linux-image-[^ ]*-cloud-amd64\) (= \([^)]*\)).*/\1 \2/p' | head -n1) || true
  kpkg=${dep% *} kver=${dep#* }
  [ -n "$dep" ] || kpkg=linux-image-cloud-amd64
fi
[ -n "$kver" ] || fail "kernel package $kpkg: not available from apt"
versions="$kpkg=$kver"
for p in busybox-static dropbear-bin gcc libc6-dev; do
  v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null) || fail "package $p is not installed"
  versions="$versions $p=$v"
done
key=$( { cat "$0"; echo "$versions"; } | sha256sum | cut -c1-12)
out="$cache/$key/dvr-guest.qcow2"
if [ -f "$out" ]; then echo "$out"; exit 0; fi

mkdir -p "$cache"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dvr-guest.XXXXXX")
stage=""
trap 'rm -rf "$tmp" ${stage:+"$stage"}' EXIT
trap 'fail "build failed at line $LINENO: $BASH_COMMAND"' ERR
log="$tmp/log"
# step WHAT CMD...: run a build step quietly; on failure one line: the step and its last output.
step() {
  local what=$1; shift
  if ! "$@" >"$log" 2>&1; then fail "$what failed: $(grep -v '^$' "$log" | tail -n1)"; fi
}
# (progress on stdout: stderr only ever carries the one line of a failure)
echo "$me: building $key ($versions)"

# ---- the kernel and its modules -----------------------------------------------------------------
cd "$tmp"
step "download of $kpkg=$kver" apt-get download -q "$kpkg=$kver"
step "extraction of $kpkg" dpkg-deb -x "$tmp/${kpkg}_"*.deb "$tmp/k"
rm -f "$tmp/${kpkg}_"*.deb
kname=$(ls "$tmp/k/lib/modules")
step "depmod of $kname" depmod -b "$tmp/k" "$kname"
r="$tmp/root"
mkdir -p "$r"/{bin,dev,etc/dropbear,home,mnt/config,proc,root,run,sys,tmp,var/log,lib64}
ln -s bin "$r/sbin"; mkdir -p "$r/usr"; ln -s ../bin "$r/usr/bin"; ln -s ../bin "$r/usr/sbin"
ln -s ../run "$r/var/run"
# (button + evdev: the ACPI power button that Nova's stop presses, for busybox acpid)
modules=(virtio_pci virtio_net virtio_blk virtio_scsi virtio_rng sd_mod ata_piix sr_mod isofs vfat
  button evdev)
step "module dependencies" modprobe -d "$tmp/k" -S "$kname" --show-depends -a "${modules[@]}"
# (insmod lines in load order; a module shared by several appears once, at its first place)
: > "$r/etc/modules"
while read -r verb path _; do
  [ "$verb" = insmod ] || continue
  rel=${path#"$tmp/k"}
  grep -qx "$rel" "$r/etc/modules" && continue
  mkdir -p "$r$(dirname "$rel")"
  cp "$path" "$r$rel"
  # Drop the appended signature (struct module_signature + magic, 40 bytes, after the signature
  # itself; sig_len is its last big-endian word): unsigned modules load faster under TCG.
  if [ "$(tail -c 28 "$r$rel")" = "~Module signature appended~" ]; then
    siglen=$(tail -c 32 "$r$rel" | head -c 4 | od -An -tu1 | awk '{print (($1*256+$2)*256+$3)*256+$4}')
    truncate -s "-$((siglen + 40))" "$r$rel"
  fi
  echo "$rel" >> "$r/etc/modules"
done < "$log"

# ---- userland: busybox applets, dropbear and its libraries --------------------------------------
cp /bin/busybox "$r/bin/busybox"
# setuid root as on cirros, where cirros pings without sudo: busybox drops root for every applet
# but those that need it (ping, traceroute), and busybox ping has no unprivileged ICMP socket.
chmod 4755 "$r/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"; done
for b in /usr/sbin/dropbear /usr/bin/dropbearkey; do
  cp "$b" "$r/bin/"
  for lib in $(ldd "$b" | grep -o '/[^ ]*'); do
    mkdir -p "$r$(dirname "$lib")"; cp -L "$lib" "$r$lib"
  done
done
# sudo as cirros has it: cirros (and root) run any command as root without a password; -n is
# accepted (it never asks). Setuid root and static: the initramfs has no libc for it.
cat > "$tmp/sudo.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--")) { i++; break; }
        if (strcmp(argv[i], "-n")) { fprintf(stderr, "sudo: unknown option %s\n", argv[i]); return 1; }
    }
    if (i >= argc) { fprintf(stderr, "usage: sudo [-n] command [arg...]\n"); return 1; }
    if (setgid(0) || setuid(0)) { perror("sudo"); return 1; }
    execvp(argv[i], argv + i);
    perror(argv[i]);
    return 127;
}
EOF
step "build of the guest's sudo" gcc -static -Os -s -o "$r/bin/sudo" "$tmp/sudo.c"
chmod 4755 "$r/bin/sudo"
cat > "$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
cirros:x:1000:1000:cirros:/home/cirros:/bin/sh
EOF
printf 'root:x:0:\ncirros:x:1000:\n' > "$r/etc/group"
printf 'root:*:1::::::\ncirros:*:1::::::\n' > "$r/etc/shadow"
printf '/bin/sh\n' > "$r/etc/shells"
printf '127.0.0.1 localhost\n' > "$r/etc/hosts"
chmod 600 "$r/etc/shadow"; chmod 700 "$r/root"

# The udhcpc event script: address, MTU, routes (RFC 3442: classless routes replace the router
# option), DNS. Variables are udhcpc's.
cat > "$r/etc/udhcpc.script" <<'EOF'
#!/bin/sh
case "$1" in
  deconfig) ip -4 addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    [ -z "$mtu" ] || ip link set "$interface" mtu "$mtu"
    [ "$1" = renew ] || ip -4 addr flush dev "$interface"
    ip addr replace "$ip/$mask" dev "$interface"
    if [ -n "$staticroutes" ]; then
      set -- $staticroutes
      while [ $# -ge 2 ]; do
        if [ "$2" = 0.0.0.0 ]; then ip route replace "$1" dev "$interface"
        else ip route replace "$1" via "$2" dev "$interface"; fi
        shift 2
      done
    elif [ -n "$router" ]; then
      ip route replace default via "${router%% *}" dev "$interface"
    fi
    : > /etc/resolv.conf
    [ -z "$domain" ] || echo "search $domain" >> /etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
    echo "udhcpc: $interface $ip/$mask mtu ${mtu:-default}" > /dev/console ;;
esac
EOF

# /init: modules, config drive or metadata, host key, network, dropbear, then busybox init.
cat > "$r/init" <<'EOF'
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts; mount -t devpts -o ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=755 run /run; mount -t tmpfs -o mode=1777 tmp /tmp
echo 1 > /proc/sys/kernel/printk
while read -r m; do
  case $m in */virtio_net.ko) insmod "$m" csum=0 gso=0 ;; *) insmod "$m" ;; esac
done < /etc/modules
ip link set lo up

# The JSON of meta_data.json and network_data.json, read with awk: json_after MARK KEY, the first
# value (a string or a number) of "KEY" after the text MARK; json_keys, public_keys' values.
json_after() {
  tr -d '\n' | awk -v mark="$1" -v key="\"$2\"" '{
    i = index($0, mark); if (!i) exit; s = substr($0, i)
    i = index(s, key); if (!i) exit; s = substr(s, i + length(key))
    if (match(s, /^[[:space:]]*:[[:space:]]*("[^"]*"|[0-9]+)/)) {
      v = substr(s, RSTART, RLENGTH); sub(/^[^"0-9]*"?/, "", v); sub(/"$/, "", v); print v
    } }'
}
json_keys() {
  awk '{ s = s $0 } END {
    i = index(s, "\"public_keys\""); if (!i) exit
    s = substr(s, i + 13); s = substr(s, index(s, "{") + 1); s = substr(s, 1, index(s, "}") - 1)
    while (match(s, /"([^"\\]|\\.)*"/)) {
      n++; v = substr(s, RSTART + 1, RLENGTH - 2); s = substr(s, RSTART + RLENGTH)
      if (n % 2 == 0) { gsub(/\\n/, "", v); gsub(/\\\//, "/", v); print v }
    } }'
}
md=""
i=0
while [ $i -lt 30 ]; do   # the IDE cdrom appears within ~1 s under TCG; 3 s at most
  dev=$(findfs LABEL=config-2 2>/dev/null) && break
  i=$((i + 1)); sleep 0.1
done
if [ -n "$dev" ] && mount -o ro "$dev" /mnt/config; then
  md=/mnt/config/openstack/latest/meta_data.json
  echo "config drive: $dev" > /dev/console
fi

# A fresh host key every boot (made while DHCP runs), printed to the console for the first SSH
# connection to trust.
hk=/etc/dropbear/dropbear_ed25519_host_key
dropbearkey -t ed25519 -f "$hk" >/dev/null 2>&1 &
keygen=$!
# DHCP: 5 s, then on in the background (-b); without a lease by then, the config drive's
# network_data.json (its first network with an address and the first route's gateway: a one-NIC
# guest's static configuration).
ip link set eth0 up 2>/dev/null
udhcpc -i eth0 -s /etc/udhcpc.script -O mtu -O staticroutes -t 5 -T 1 -A 5 -b -p /run/udhcpc.pid \
  >/dev/null 2>&1
nd=/mnt/config/openstack/latest/network_data.json
if ! ip -4 addr show dev eth0 2>/dev/null | grep -q inet; then
  a=$(json_after '"networks"' ip_address < "$nd" 2>/dev/null)
  m=$(json_after '"networks"' netmask < "$nd" 2>/dev/null)
  if [ -n "$a" ] && [ -n "$m" ]; then
    mtu=$(json_after '"links"' mtu < "$nd"); gw=$(json_after '"routes"' gateway < "$nd")
    [ -z "$mtu" ] || ip link set eth0 mtu "$mtu"
    eval "$(ipcalc -p "$a" "$m")"
    ip addr add "$a/$PREFIX" dev eth0
    [ -z "$gw" ] || ip route replace default via "$gw" dev eth0
    dns=$(json_after '"services"' address < "$nd")
    [ -z "$dns" ] || echo "nameserver $dns" > /etc/resolv.conf
    echo "static: eth0 $a/$PREFIX mtu ${mtu:-default} (network_data.json)" > /dev/console
  else
    echo "no DHCP lease, no static network: eth0 unconfigured" > /dev/console
  fi
fi
wait "$keygen"
{ echo "-----BEGIN SSH HOST KEY KEYS-----"; dropbearkey -y -f "$hk" | grep '^ssh-'
  echo "-----END SSH HOST KEY KEYS-----"; } > /dev/console

if [ -z "$md" ]; then   # no config drive: the metadata service, a few tries
  for i in 1 2 3 4 5; do
    printf 'GET /openstack/latest/meta_data.json HTTP/1.0\r\nHost: 169.254.169.254\r\n\r\n' |
      nc -w 3 169.254.169.254 80 > /run/md.http 2>/dev/null
    if head -n1 /run/md.http | grep -q ' 200 '; then
      sed '1,/^\r*$/d' /run/md.http > /run/meta_data.json; md=/run/meta_data.json; break
    fi
    sleep 2
  done
fi
name=dvr-guest
if [ -n "$md" ] && [ -f "$md" ]; then
  h=$(json_after '{' hostname < "$md"); [ -z "$h" ] || name=$h
  for home in /root /home/cirros; do
    mkdir -p "$home/.ssh"; json_keys < "$md" > "$home/.ssh/authorized_keys"
  done
else
  echo "no metadata: no SSH keys" > /dev/console
fi
hostname "$name"; echo "$name" > /etc/hostname
mkdir -p /home/cirros/.ssh; chown -R 1000:1000 /home/cirros; chmod 700 /home/cirros/.ssh /root/.ssh 2>/dev/null

acpid   # (before dropbear: a guest that can be logged into also hears its power button)
dropbear -s -r "$hk" -P /run/dropbear.pid 2>/dev/null
echo "dvr-guest $name up" > /dev/console
exec /sbin/init
EOF
# busybox init (PID 1 after /init); acpid runs /etc/acpi/PWRF/00000080 on the power button (a
# clean ACPI poweroff).
cat > "$r/etc/inittab" <<'EOF'
::ctrlaltdel:/sbin/reboot
EOF
mkdir -p "$r/etc/acpi/PWRF"
printf '#!/bin/sh\necho "dvr-guest: power button" > /dev/console\nexec poweroff\n' > "$r/etc/acpi/PWRF/00000080"
chmod 755 "$r/init" "$r/etc/udhcpc.script" "$r/etc/acpi/PWRF/00000080"

# ---- initramfs and disk: MBR + FAT16 partition (1 MiB on) with syslinux, no loop device or mount
# (file times, mtools' included, and the volume id fixed: the same inputs give the same bytes).
export SOURCE_DATE_EPOCH=1577836800
find "$r" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$r" && find . | sort | cpio -o -H newc -R 0:0 --reproducible --quiet | gzip -9 -n) > "$tmp/initrd.img" ||
  fail "initramfs (cpio | gzip) failed"
cp "$tmp/k/boot/vmlinuz-$kname" "$tmp/vmlinuz"
cat > "$tmp/syslinux.cfg" <<'EOF'
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL vmlinuz
  INITRD initrd.img
  APPEND console=ttyS0 quiet
EOF
touch -d "@$SOURCE_DATE_EPOCH" "$tmp/vmlinuz" "$tmp/initrd.img" "$tmp/syslinux.cfg"
mib=$(( ($(stat -c %s "$tmp/vmlinuz") + $(stat -c %s "$tmp/initrd.img")) / 1048576 + 4 ))
export MTOOLS_SKIP_CHECK=1
truncate -s "${mib}M" "$tmp/part.img"
step "mkfs.fat" mkfs.fat -F 16 -h 2048 -n DVRGUEST --invariant "$tmp/part.img"
step "syslinux install" syslinux --install "$tmp/part.img"
step "mcopy" mcopy -m -i "$tmp/part.img" "$tmp/syslinux.cfg" "$tmp/vmlinuz" "$tmp/initrd.img" ::
truncate -s "$((mib + 1))M" "$tmp/disk.raw"
printf 'label: dos\nlabel-id: 0x44565247\nstart=2048, type=6, bootable\n' > "$tmp/sfdisk.in"
step "partitioning (sfdisk)" sfdisk -q "$tmp/disk.raw" < "$tmp/sfdisk.in"
step "MBR boot code" dd if=/usr/lib/syslinux/mbr/mbr.bin of="$tmp/disk.raw" bs=440 count=1 conv=notrunc
step "partition copy" dd if="$tmp/part.img" of="$tmp/disk.raw" bs=1M seek=1 conv=notrunc
step "qemu-img convert" qemu-img convert -f raw -O qcow2 "$tmp/disk.raw" "$tmp/dvr-guest.qcow2"

# Into place atomically: a staging dir in CACHE_DIR renamed to <key> (a concurrent build that won
# the rename is as good).
stage=$(mktemp -d "$cache/.$key.XXXXXX")
mv "$tmp/dvr-guest.qcow2" "$stage/"
chmod 755 "$stage"
mv -T "$stage" "$cache/$key" 2>/dev/null || [ -f "$out" ] || fail "rename into $cache/$key failed"
echo "$out"
