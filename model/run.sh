#!/usr/bin/env bash
# Checks model/watchdog.pml with Spin: the sound contract must hold in every
# state of its bounded world (errors: 0), and every unsound variant must give
# a counterexample (errors >= 1), whose trail's last steps are printed.
#   model/run.sh            the sound model and every variant
#   model/run.sh sound      the sound model only
#   model/run.sh PEER_FEEDS one variant (the name of its -D flag)
# Work files (pan.c, pan, trails) go under $VIGIL_RUN, never in the repo.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v spin >/dev/null || { echo "model: spin not installed (make deps)"; exit 1; }
base=${VIGIL_RUN:-/tmp/vigil-run}/model
mkdir -p "$base"
work=$(mktemp -d "$base/run.XXXXXX")
trap 'rm -rf "$work"' EXIT

# name | flags | what it breaks
variants=(
	"PEER_FEEDS|-DPEER_FEEDS|a peer merely answering feeds the watchdog (the rack uplink)"
	"FRESH_CLOCK|-DFRESH_CLOCK|an agent restart starts a fresh isolation clock"
	"DISARM_WITHOUT_ACK|-DDISARM_WITHOUT_ACK|a clean stop disarms without the leader's ack"
	"NO_ELECTION_FLOOR|-DNO_ELECTION_FLOOR|a successor counts from the grant time in the store"
	"GRANT_FROM_RECEIPT|-DGRANT_FROM_RECEIPT|the agent counts a grant from its arrival"
	"ZOMBIE_GRANTS|-DZOMBIE_GRANTS|a leader whose lease view ended goes on granting"
	"NO_START_GATE|-DNO_START_GATE|a host starts guests without a fresh grant"
	"NO_SEQ|-DNO_SEQ|a report sent before a stop notice re-arms the belief"
	"ACK_BEFORE_PERSIST|-DACK_BEFORE_PERSIST|the ack goes out although the disarm was not written"
	"SHORT_S|-DSHORT_S|assume_dead_after one tick below the model's minimum"
	"DRIFT_BEYOND_MARGIN|-DDRIFT=2 -DS=6|clocks drift twice what S was sized for"
	"BOOT_UNORDERED|-DBOOT_UNORDERED|grant.go before boot numbers: a late report of a dead boot re-arms"
	"STOP_NOT_RECORDED|-DSTOP_NOT_RECORDED|grant.go before persisted disarms: a disarm's boot and seq are not stored"
)

fail=0
# verify NAME EXPECT FLAGS...: EXPECT is "holds" or "counterexample".
verify() {
	local name=$1 expect=$2; shift 2
	local dir=$work/$name
	mkdir -p "$dir"
	cp "$here/watchdog.pml" "$dir/"
	(
		cd "$dir"
		spin -a "$@" watchdog.pml >spin.out 2>&1 || { cat spin.out; exit 1; }
		gcc -w -O2 -DSAFETY -DNOREDUCE -o pan pan.c
		./pan -m3000000 -w26 >pan.out 2>&1 || true
	) || { echo "model: $name: spin -a or gcc failed"; fail=1; return; }
	local out=$dir/pan.out errors states depth secs
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$out" | head -1)
	states=$(awk '/states, stored/ {print $1; exit}' "$out")
	depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$out" | head -1)
	secs=$(awk '/elapsed time/ {print $4; exit}' "$out")
	printf 'model: %-22s %-36s errors: %s  states: %s  depth: %s  %ss\n' \
		"$name" "$*" "${errors:-?}" "${states:-?}" "${depth:-?}" "${secs:-?}"
	if grep -q 'max search depth too small' "$out"; then
		echo "model: $name: search depth too small: the search did not complete"
		fail=1
		return
	fi
	case $expect in
	holds)
		if [ "${errors:-1}" != 0 ]; then
			echo "model: $name: the sound model has a counterexample; its trail:"
			(cd "$dir" && spin -t "$@" watchdog.pml | grep -E '^ *(t=|spin: text)' | tail -25)
			fail=1
		fi
		;;
	counterexample)
		if [ "${errors:-0}" = 0 ]; then
			echo "model: $name: no counterexample: the model no longer tells this fault apart"
			fail=1
		else
			(cd "$dir" && spin -t "$@" watchdog.pml | grep -E '^ *t=' | tail -8 | sed 's/^ */    /')
		fi
		;;
	esac
}

want=${1:-all}
start=$(date +%s)
if [ "$want" = all ] || [ "$want" = sound ]; then
	verify sound holds
fi
for v in "${variants[@]}"; do
	IFS='|' read -r name flags _ <<<"$v"
	if [ "$want" = all ] || [ "$want" = "$name" ]; then
		# shellcheck disable=SC2086
		verify "$name" counterexample $flags
	fi
done
echo "model: $(($(date +%s) - start))s in all"
exit $fail
