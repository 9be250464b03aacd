#!/bin/bash
# virt-type.sh auto|kvm|qemu [IMAGE]: the hypervisor Nova's computes use, with the reason on the
# lines before the last one, which is "virt_type kvm" or "virt_type qemu". auto: kvm only where the
# CPU has hardware virtualisation (vmx/svm), /dev/kvm exists and the guest IMAGE (lab/guest-image.sh)
# boots under KVM to userspace (prints its host key on the serial console) within
# VIRT_TYPE_BOOT_TIMEOUT seconds (default 60); otherwise qemu (TCG). Some machines have a /dev/kvm
# that is a software hypervisor: qemu starts a machine on it, but stock guest kernels never run,
# so only a guest that boots counts.
# virt-type.sh boots kvm|tcg IMAGE: exit 0 when IMAGE boots to userspace under that accelerator
# (the check itself, for its tests).
set -u
boot_timeout=${VIRT_TYPE_BOOT_TIMEOUT:-60}

# boots ACCEL IMAGE: the guest prints "BEGIN SSH HOST KEY" on its serial console in time. Nothing
# is written to IMAGE (snapshot=on); qemu is stopped by its PID.
boots() {
  local log pid ok=1 waited=0
  log=$(mktemp) || return 1
  qemu-system-x86_64 -accel "$1" -machine pc -m 192 -nodefaults -display none -no-reboot \
    -drive "file=$2,if=virtio,format=qcow2,snapshot=on" -serial "file:$log" \
    </dev/null >/dev/null 2>&1 &
  pid=$!
  # whole seconds slept, not $SECONDS (which can tick within a fraction of its first second)
  while [ "$waited" -lt "$boot_timeout" ] && kill -0 "$pid" 2>/dev/null; do
    if grep -q 'BEGIN SSH HOST KEY' "$log"; then ok=0; break; fi
    sleep 1
    waited=$((waited + 1))
  done
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -f "$log"
  return "$ok"
}

want=${1:-auto}
if [ "$want" = boots ]; then
  [ $# -eq 3 ] && [ -f "$3" ] || { echo "usage: virt-type.sh boots kvm|tcg IMAGE" >&2; exit 2; }
  boots "$2" "$3"
  exit
fi
if [ "$want" != auto ]; then echo "virt_type $want is set by lab_up_virt_type"; echo "virt_type $want"; exit 0; fi
image=${2:-}
if ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
  echo "no hardware virtualisation (no vmx/svm CPU flag): guests run under TCG, slower but real"
elif [ ! -c /dev/kvm ]; then
  echo "no /dev/kvm: guests run under TCG"
elif [ -z "$image" ] || [ ! -f "$image" ]; then
  echo "no guest image to try KVM with: guests run under TCG"
elif ! boots kvm "$image"; then
  echo "/dev/kvm is there but the guest image does not boot under KVM within ${boot_timeout} s: guests run under TCG"
else
  echo "hardware virtualisation boots the guest image: guests run under KVM"
  echo "virt_type kvm"
  exit 0
fi
echo "virt_type qemu"
