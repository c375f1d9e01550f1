#!/usr/bin/env bash
# Checks the Spin models of model/: each sound run must hold in every state
# of its bounded world (errors: 0), and every unsound variant must give a
# counterexample (errors >= 1), whose trail's last steps are printed.
#   model/run.sh                  every run of every model
#   model/run.sh watchdog         every run of model/watchdog.pml (tickets: tickets.pml)
#   model/run.sh sound            the sound runs only
#   model/run.sh PEER_FEEDS       one run (its name), or watchdog/sound, tickets/sound
# Work files (pan.c, pan, trails) go under $VIGIL_RUN, never in the repo.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v spin >/dev/null || { echo "model: spin not installed (make deps)"; exit 1; }
base=${VIGIL_RUN:-/tmp/vigil-run}/model
mkdir -p "$base"
work=$(mktemp -d "$base/run.XXXXXX")
trap 'rm -rf "$work"' EXIT

# model | name | expect | flags | what it checks, or what it breaks
runs=(
	"watchdog|sound|holds||the grant/lease/watchdog contract"
	"watchdog|PEER_FEEDS|counterexample|-DPEER_FEEDS|a peer merely answering feeds the watchdog (the rack uplink)"
	"watchdog|FRESH_CLOCK|counterexample|-DFRESH_CLOCK|an agent restart starts a fresh isolation clock"
	"watchdog|DISARM_WITHOUT_ACK|counterexample|-DDISARM_WITHOUT_ACK|a clean stop disarms without the leader's ack"
	"watchdog|NO_ELECTION_FLOOR|counterexample|-DNO_ELECTION_FLOOR|a successor counts from the grant time in the store"
	"watchdog|GRANT_FROM_RECEIPT|counterexample|-DGRANT_FROM_RECEIPT|the agent counts a grant from its arrival"
	"watchdog|ZOMBIE_GRANTS|counterexample|-DZOMBIE_GRANTS|a leader whose lease view ended goes on granting"
	"watchdog|NO_START_GATE|counterexample|-DNO_START_GATE|a host starts guests without a fresh grant"
	"watchdog|NO_SEQ|counterexample|-DNO_SEQ|a report sent before a stop notice re-arms the belief"
	"watchdog|ACK_BEFORE_PERSIST|counterexample|-DACK_BEFORE_PERSIST|the ack goes out although the disarm was not written"
	"watchdog|SHORT_S|counterexample|-DSHORT_S|assume_dead_after one tick below the model's minimum"
	"watchdog|DRIFT_BEYOND_MARGIN|counterexample|-DDRIFT=2 -DS=6|clocks drift twice what S was sized for"
	"watchdog|BOOT_UNORDERED|counterexample|-DBOOT_UNORDERED|grant.go before boot numbers: a late report of a dead boot re-arms"
	"watchdog|STOP_NOT_RECORDED|counterexample|-DSTOP_NOT_RECORDED|grant.go before persisted disarms: a disarm's boot and seq are not stored"
	"tickets|sound|holds||tickets: three processes, one failover or restore from a snapshot"
	"tickets|TWO_ELECTIONS|holds|-DMAXPROC=2 -DMAXTERM=3|tickets: two processes, two failovers or restores"
	"tickets|NO_MARKER_P2|holds|-DNO_RESTORE_MARKER -DNO_P1 -DMAXPROC=2|without the restore marker, ordered tickets still never judge the running process stale"
	"tickets|HOLDER_BY_NAME|counterexample|-DHOLDER_BY_NAME|grant.go before 9fe9453: the holder is matched by name, not boot"
	"tickets|STALE_ANY_TICKET|counterexample|-DSTALE_ANY_TICKET -DNO_RESTORE_MARKER -DNO_P1 -DMAXPROC=2|grant.go before 9fe9453: stale is any other ticket (shows without the marker)"
	"tickets|NO_RESTORE_MARKER|counterexample|-DNO_RESTORE_MARKER -DMAXPROC=2|before 9bbefa1: a store restored from a snapshot is read with plain Restore"
	"tickets|GUESTS_BEFORE_WRITE|counterexample|-DGUESTS_BEFORE_WRITE|guests start before the record placing the process is confirmed written"
)

fail=0
# verify MODEL NAME EXPECT FLAGS...: EXPECT is "holds" or "counterexample".
verify() {
	local model=$1 name=$2 expect=$3; shift 3
	local dir=$work/$model-$name
	mkdir -p "$dir"
	cp "$here/$model.pml" "$dir/"
	(
		cd "$dir"
		spin -a "$@" "$model.pml" >spin.out 2>&1 || { cat spin.out; exit 1; }
		gcc -w -O2 -DSAFETY -DNOREDUCE -o pan pan.c
		./pan -m3000000 -w26 >pan.out 2>&1 || true
	) || { echo "model: $model/$name: spin -a or gcc failed"; fail=1; return; }
	local out=$dir/pan.out errors states depth secs
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$out" | head -1)
	states=$(awk '/states, stored/ {print $1; exit}' "$out")
	depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' "$out" | head -1)
	secs=$(awk '/elapsed time/ {print $4; exit}' "$out")
	printf 'model: %-29s %-48s errors: %s  states: %s  depth: %s  %ss\n' \
		"$model/$name" "$*" "${errors:-?}" "${states:-?}" "${depth:-?}" "${secs:-?}"
	if grep -q 'max search depth too small' "$out"; then
		echo "model: $model/$name: search depth too small: the search did not complete"
		fail=1
		return
	fi
	case $expect in
	holds)
		if [ "${errors:-1}" != 0 ]; then
			echo "model: $model/$name: the sound model has a counterexample; its trail:"
			(cd "$dir" && spin -t "$@" "$model.pml" | grep -E '^ *(t=|step |spin: text)' | tail -25)
			fail=1
		fi
		;;
	counterexample)
		if [ "${errors:-0}" = 0 ]; then
			echo "model: $model/$name: no counterexample: the model no longer tells this fault apart"
			fail=1
		else
			(cd "$dir" && spin -t "$@" "$model.pml" | grep -E '^ *(t=|step )' | tail -8 | sed 's/^ */    /')
		fi
		;;
	esac
}

want=${1:-all}
start=$(date +%s)
for r in "${runs[@]}"; do
	IFS='|' read -r model name expect flags _ <<<"$r"
	case $want in
	all | "$model" | "$name" | "$model/$name") ;;
	*) continue ;;
	esac
	# shellcheck disable=SC2086
	verify "$model" "$name" "$expect" $flags
done
echo "model: $(($(date +%s) - start))s in all"
exit $fail
