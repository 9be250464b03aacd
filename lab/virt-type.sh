#!/bin/bash
# virt-type.sh auto|kvm|qemu: the hypervisor Nova's computes use, with the reason on the lines
# before the last one, which is "virt_type kvm" or "virt_type qemu". auto: kvm only where the CPU
# has hardware virtualisation (vmx/svm) and qemu starts a machine under KVM; otherwise qemu (TCG).
# Some machines have a /dev/kvm that is a software hypervisor stock guest kernels cannot run under:
# that alone is not enough.
set -u
want=${1:-auto}
if [ "$want" != auto ]; then echo "virt_type $want is set by lab_up_virt_type"; echo "virt_type $want"; exit 0; fi
if ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
  echo "no hardware virtualisation (no vmx/svm CPU flag): guests run under TCG, slower but real"
elif [ ! -c /dev/kvm ]; then
  echo "the CPU has vmx/svm but there is no /dev/kvm: guests run under TCG"
elif ! timeout 20 qemu-system-x86_64 -accel kvm -machine q35 -nodefaults -display none -S \
    -qmp stdio </dev/null 2>&1 | grep -q QMP; then
  echo "qemu cannot start a machine under KVM: guests run under TCG"
else
  echo "hardware virtualisation works: guests run under KVM"
  echo "virt_type kvm"
  exit 0
fi
echo "virt_type qemu"
