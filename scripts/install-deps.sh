#!/usr/bin/env bash
# Installs what vigil's build and tests need on a fresh Debian 12 machine.
# Idempotent: packages already present are skipped quickly. Run as root.
#   scripts/install-deps.sh build        # cgo libraries for the vigil binary (go-ceph)
#   scripts/install-deps.sh integration  # + real components the integration tests drive
set -euo pipefail
tier=${1:-integration}

build_pkgs=(gcc make librados-dev librbd-dev)
integ_pkgs=(iproute2 iputils-ping openipmi ipmitool fence-agents etcd-server etcd-client
	ceph-mon ceph-mgr ceph-osd ceph-common python3-rbd python3-rados uuid-runtime openssl
	spin # spin: the model checker of model/ (it compiles its verifier with gcc)
	libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 # agent/probe: a session libvirtd, TCG guests
	docker.io busybox-static) # agent/probe: a Docker engine, and a static busybox for its only image

want=("${build_pkgs[@]}")
[ "$tier" = integration ] && want+=("${integ_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt_opts=(-o DPkg::Lock::Timeout=600 -y --no-install-recommends)
	apt-get -o DPkg::Lock::Timeout=600 update -qq
	apt-get "${apt_opts[@]}" install "${missing[@]}" >/dev/null
fi
echo "install-deps: $tier dependencies present"
