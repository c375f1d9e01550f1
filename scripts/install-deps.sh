#!/usr/bin/env bash
# Installs what vigil's build and tests need on a fresh Debian 12 machine.
# Idempotent: packages already present are skipped quickly. Run as root.
#   scripts/install-deps.sh build        # cgo libraries for the vigil binary (go-ceph)
#   scripts/install-deps.sh integration  # + real components the integration tests drive
#   scripts/install-deps.sh openstack    # only the single-machine OpenStack (in integration too)
set -euo pipefail
tier=${1:-integration}

build_pkgs=(gcc make librados-dev librbd-dev)
integ_pkgs=(iproute2 iputils-ping iptables openipmi ipmitool fence-agents etcd-server etcd-client
	ceph-mon ceph-mgr ceph-osd ceph-common python3-rbd python3-rados uuid-runtime openssl
	spin # spin: the model checker of model/ (it compiles its verifier with gcc)
	libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 # agent/probe: a session libvirtd, TCG guests
	docker.io busybox-static # agent/probe: a Docker engine, and a static busybox for its only image
	) # iptables: hostlab drops a share of packets with its statistic match (this kernel has no netem)
# internal/testbed/openstack: Zed's Python services run by hand (no daemon packages: their
# postinst scripts want dbconfig and systemd), MariaDB, RabbitMQ, uwsgi for the WSGI apps,
# socat to reach the control plane from a compute host's network namespace.
openstack_pkgs=(python3-keystone python3-keystoneclient python3-nova python3-placement python3-glance
	rabbitmq-server mariadb-server uwsgi-core uwsgi-plugin-python3 socat)
# Nova's and Glance's api-paste.ini ship only in the daemon packages: extracted, not installed.
openstack_templates=/var/lib/vigil-testbed/openstack
openstack_template_debs=(nova-common glance-common)

want=("${build_pkgs[@]}")
case $tier in
build) ;;
integration) want+=("${integ_pkgs[@]}" "${openstack_pkgs[@]}") ;;
openstack) want=("${openstack_pkgs[@]}") ;;
*) echo "install-deps: unknown tier $tier (build, integration, openstack)" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt_opts=(-o DPkg::Lock::Timeout=600 -y --no-install-recommends)
	apt-get -o DPkg::Lock::Timeout=600 update -qq
	# rabbitmq-server and mariadb-server must not start system daemons: the harness runs its own
	rcd=""
	[ -e /usr/sbin/policy-rc.d ] || { rcd=/usr/sbin/policy-rc.d; printf '#!/bin/sh\nexit 101\n' >$rcd; chmod +x $rcd; }
	apt-get "${apt_opts[@]}" install "${missing[@]}" >/dev/null
	[ -z "$rcd" ] || rm -f "$rcd"
fi
if [ "$tier" != build ] && [ ! -f "$openstack_templates/usr/share/nova-common/api-paste.ini" ]; then
	echo "install-deps: extracting ${openstack_template_debs[*]} into $openstack_templates"
	debs=$(mktemp -d) && chmod 755 "$debs" # apt's _apt user downloads into it
	mkdir -p "$openstack_templates"
	(cd "$debs" && apt-get -o DPkg::Lock::Timeout=600 download "${openstack_template_debs[@]}" >/dev/null)
	for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$openstack_templates"; done
	rm -rf "$debs"
fi
echo "install-deps: $tier dependencies present"
