# dvr-verify entry points. A new user needs no knowledge of venvs: every target installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help venv system-deps lint unit kernel test bench clean lab-up lab-down lab-status \
	verify cleanup e2e e2e-aio e2e-ha offline

help:
	@echo "make verify      bring the lab up and run verify_dvr.yml on it"
	@echo "make test        everything: lint, unit, kernel, then lab up, verify, lab + e2e tests, lab down"
	@echo "make offline     lint, unit and kernel tests only (no lab)"
	@echo "make cleanup     delete every run's resources (tag dvr-verify; off the lab: -e dvr_verify_cleanup_confirm=true)"
	@echo "make lint        ruff, yamllint, actionlint, ansible-lint (production profile)"
	@echo "make unit        unit tests (no privileges)"
	@echo "make kernel      collector tests on throwaway namespaces (root)"
	@echo "make bench       collector timing for 1, 10 and 100 namespaces (root)"
	@echo "make lab-up | lab-down | lab-status   the local Neutron DVR lab"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

venv: $(STAMP)

# Debian packages the collector tests and the lab use (root); from qemu-system-x86 on: the guest
# image (lab/guest-image.sh) and its test (tests/kernel/test_guest_image.py).
SYSTEM_PACKAGES := iproute2 iptables conntrack ethtool openvswitch-switch libpcap0.8 \
	qemu-system-x86 qemu-utils busybox-static dropbear-bin cpio genisoimage syslinux \
	syslinux-common mtools dosfstools fdisk dnsmasq-base

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi

# yamllint: every YAML file (.yamllint); actionlint: the GitHub Actions workflows, with shellcheck on
# their run: scripts when shellcheck is on PATH (optional).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint -s .
	$(BIN)/actionlint .github/workflows/*.yml
	$(BIN)/ansible-lint
	@for m in library/*.py; do $(BIN)/ansible-doc -M library $$(basename $$m .py) >/dev/null || exit 1; done; echo "ansible-doc: every module documented"

unit: venv
	$(BIN)/pytest -q tests/unit

kernel: venv system-deps
	$(BIN)/pytest -q tests/kernel

offline: lint unit kernel

# The lab is brought up (idempotent), verified, tested end to end, and always taken down again;
# then two more topologies, each up, verified, down: the all-in-one (the single-node DevStack
# shape) verified the way a DevStack run is (VMs reached over SSH, a FIP on an unbound port), and
# the runbook's three controllers with a DVR+HA router.
LAB_CLEAN_CHECK := LAB_EXPECT_DOWN=1 $(BIN)/pytest -q -p no:cacheprovider tests/lab/test_lab_clean.py
test:
	@stage() { s=$$(date +%s); "$$@"; r=$$?; echo "make test: stage '$$*' took $$(( $$(date +%s) - s ))s (rc $$r)"; return $$r; }; \
	stage $(MAKE) offline || exit $$?; \
	rc=0; stage $(MAKE) lab-up && stage $(MAKE) e2e || rc=$$?; \
	stage $(MAKE) lab-down && $(LAB_CLEAN_CHECK) || rc=1; \
	[ $$rc -ne 0 ] || { stage $(MAKE) lab-up LAB_TOPOLOGY=aio && stage $(MAKE) e2e-aio || rc=$$?; \
	  stage $(MAKE) lab-down && $(LAB_CLEAN_CHECK) || rc=1; }; \
	[ $$rc -ne 0 ] || { stage $(MAKE) lab-up LAB_TOPOLOGY=seed && stage $(MAKE) e2e-ha || rc=$$?; \
	  stage $(MAKE) lab-down && $(LAB_CLEAN_CHECK) || rc=1; }; \
	exit $$rc

verify: venv system-deps
	$(MAKE) lab-up
	$(BIN)/ansible-playbook verify_dvr.yml

# Strict mode in every run make test makes (tests/e2e passes it too): a "not verified" of the run's
# own FIPs, VMs or router (say, SSH reached no VM) fails the run (README: Strict mode).
STRICT := -e dvr_verify_strict=true

# On a running lab: verify_dvr.yml (its summary in the log), the lab tests, the e2e and fault tests.
e2e: venv
	@s=$$(date +%s); $(BIN)/ansible-playbook verify_dvr.yml $(STRICT) || exit $$?; \
	echo "make e2e: verify_dvr.yml took $$(( $$(date +%s) - s ))s"
	$(BIN)/pytest -q -p no:cacheprovider -m lab tests/lab tests/e2e

# On a running aio lab: verify_dvr.yml as on a single-node DevStack (SSH into VMs, unbound FIP),
# then two faults red and green again with the probes inside the VMs going over SSH, and the
# guests' fidelity (qemu on the node, os-vif's plug, the host key the guest printed).
E2E_AIO_VARS := {"dvr_verify_vm_access": "ssh", "dvr_verify_unbound_fips": 1, "dvr_verify_strict": true}
e2e-aio: venv
	DVR_E2E_EXTRA_VARS='$(E2E_AIO_VARS)' $(BIN)/pytest -q -p no:cacheprovider -m lab tests/e2e \
	  -k "first_run or DNAT or proxy_arp or qemu_guest or host_key"

# On a running seed lab (3 dvr_snat controllers): verify_dvr.yml with a DVR+HA router, SSH into
# the guests through their floating IPs (from the probe host, as from outside the cloud).
e2e-ha: venv
	$(BIN)/ansible-playbook verify_dvr.yml $(STRICT) -e dvr_verify_ha=true -e dvr_verify_vm_ssh_path=fip

# Every run's resources, kept ones too; the lab (inventory/lab) needs no confirmation (README:
# Leftovers).
cleanup: venv
	$(BIN)/ansible-playbook playbooks/cleanup.yml

bench: venv system-deps
	$(BIN)/python tools/bench_collect.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

# ---- lab: the local Neutron DVR cloud (roles/lab_*, lab/, tests/lab; root) ------------------------
.PHONY: lab-test lab-bench lab-recapture
LAB_TOPOLOGY ?= default
# Tenant networks: vlan (physnet1) or vxlan (br-tun).
LAB_TENANT_TYPE ?= vlan
LAB_PLAYBOOK := ANSIBLE_ROLES_PATH=$(CURDIR)/roles ANSIBLE_LOCALHOST_WARNING=False ANSIBLE_INVENTORY_UNPARSED_WARNING=False $(BIN)/ansible-playbook

lab-up: venv system-deps
	$(LAB_PLAYBOOK) playbooks/lab_up.yml -e lab_up_topology=$(LAB_TOPOLOGY) -e lab_up_tenant_network_type=$(LAB_TENANT_TYPE)

lab-down: venv
	$(LAB_PLAYBOOK) playbooks/lab_down.yml

lab-status: venv
	$(LAB_PLAYBOOK) playbooks/lab_status.yml

# Up, the end-to-end lab tests, down, then a check that nothing of the lab is left.
lab-test: venv
	rc=0; $(MAKE) lab-up && $(BIN)/pytest -q -p no:cacheprovider -m lab tests/lab || rc=$$?; \
	$(MAKE) lab-down && LAB_EXPECT_DOWN=1 $(BIN)/pytest -q -p no:cacheprovider tests/lab/test_lab_clean.py && exit $$rc

# Time to healthy and PSS per topology (LAB_TOPOLOGY may list several: default,aio,seed).
lab-bench: venv
	$(BIN)/python tools/bench_lab.py --topology $(LAB_TOPOLOGY)

# Real fixtures from the running lab (builds and removes the fixture scenario) into
# tests/fixtures/lab-<topology>/.
lab-recapture: venv
	$(BIN)/python tools/recapture_fixtures.py --build
# ---- end of lab ------------------------------------------------------------------------------------
