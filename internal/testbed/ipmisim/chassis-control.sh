#!/bin/bash
# ipmi_sim's chassis_control program. ipmisim.Start writes this file into the
# BMC's runtime directory, next to host.sh, and ipmi_sim runs it as:
#   chassis-control.sh NAMESPACE get power      prints power:1 or power:0
#   chassis-control.sh NAMESPACE set power 1|0  powers the host on or off
#   chassis-control.sh NAMESPACE check          exits 0
# The "host" is network namespace NAMESPACE and it is on while any process
# lives in it. Off SIGKILLs every one of them and sets every link except lo
# down, so the host goes silent on all networks at once, like a pulled plug.
# On sets the links up again and starts host.sh detached (ipmi_sim waits for
# this script's output, so nothing may keep it open).
set -u
ns=$1 op=$2
shift 2
dir=$(dirname "$(readlink -f "$0")")

log() { printf '%s %s\n' "$(date +%T.%N)" "$*" >>"$dir/power.log"; }
running() { [ -n "$(ip netns pids "$ns" 2>/dev/null)" ]; }
links() { ip -n "$ns" -o link show | sed -n 's/^[0-9]*: \([^:@]*\).*/\1/p' | grep -vx lo; }

power_off() {
	ip netns pids "$ns" | xargs -r kill -KILL
	for l in $(links); do ip -n "$ns" link set "$l" down; done
	log "power off: processes killed, links down"
}

power_on() {
	if running; then
		log "power on: already on"
		return
	fi
	for l in $(links); do ip -n "$ns" link set "$l" up; done
	setsid "$dir/host.sh" </dev/null >>"$dir/host.log" 2>&1 &
	for _ in $(seq 100); do running && break; sleep 0.02; done
	log "power on: links up, host started"
}

case $op in
get)
	for key in "$@"; do
		if [ "$key" = power ]; then
			if running; then echo power:1; else echo power:0; fi
		fi
	done
	;;
set)
	while [ $# -ge 2 ]; do
		case $1 in
		power) if [ "$2" = 1 ]; then power_on; else power_off; fi ;;
		reset) power_off; power_on ;;
		shutdown) power_off ;;
		esac
		shift 2
	done
	;;
esac
exit 0
