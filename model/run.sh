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
	"watchdog|timeouts|holds|-DTIMEOUTS -DMAXBOOT=1 -DU=1 -DMAXSTART=2|per-process timeouts: the engine's check, the agent's resume rules"
	"watchdog|NO_TIMEOUT_CHECK|counterexample|-DTIMEOUTS -DMAXTERM=1 -DMAXBOOT=1 -DU=1 -DMAXSTART=2 -DNO_TIMEOUT_CHECK|a watchdog counts whatever timeouts its agent reports"
	"watchdog|RESUME_EXPIRY|counterexample|-DTIMEOUTS -DMAXTERM=1 -DMAXBOOT=1 -DU=1 -DMAXSTART=2 -DRESUME_EXPIRY|a restarted process resumes its predecessor's expiry (no Saved.Sent)"
	"watchdog|RESUME_LONGER_WD|counterexample|-DTIMEOUTS -DMAXTERM=1 -DMAXBOOT=1 -DU=1 -DMAXSTART=2 -DRESUME_LONGER_WD|a process with a longer device timeout feeds its predecessor's grant in full"
	"watchdog|device|holds|-DDEVICE -DU=1|the device as Linux has it: opened on a grant, late touches, release pings, S of three timer intervals"
	"watchdog|OPEN_AT_START|counterexample|-DDEVICE -DU=1 -DOPEN_AT_START|before 451bab2: the agent opens the device when it starts, grant or not"
	"watchdog|MANY_LATE_TOUCHES|counterexample|-DDEVICE -DU=1 -DMANY_LATE_TOUCHES|one check lets a stalled process touch the device again and again"
	"watchdog|DEVICE_SHORT_S|counterexample|-DDEVICE -DU=1 -DSHORT_S|the device's safe time one tick short: a late touch and the release ping outlive it"
	"watchdog|DEVICE_ONE_W|counterexample|-DDEVICE -DU=1 -DS=6|the safe time counts one timer interval, as before the device rule"
	"watchdog|GUESTS_UNSAVED|counterexample|-DDEVICE -DU=1 -DGUESTS_UNSAVED|guests start on a zombie's grant before the record placing the boot is written"
	"watchdog|device-timeouts|holds|-DDEVICE -DTIMEOUTS -DMAXBOOT=1 -DU=1 -DMAXSTART=2|per-process timeouts with the device: grants carry the leader's"
	"watchdog|NO_GRANT_CAP|counterexample|-DDEVICE -DTIMEOUTS -DMAXBOOT=1 -DU=1 -DMAXSTART=2 -DNO_GRANT_CAP|before the grant carried the leader's timeouts: a zombie's grant held for a longer own timeout"
	"tickets|sound|holds||tickets: two processes, three messages each, one failover or restore from a snapshot"
	"tickets|TWO_ELECTIONS|holds|-DMAXTERM=3 -DMAXSEQ=2|tickets: two failovers or restores, two messages each"
	"tickets|SLOW_COMMITS|holds|-DSLOW_COMMITS -DMAXSEQ=2|tickets: a Ready whose Persisted comes after later Readies"
	"tickets|NO_MARKER_P2|holds|-DNO_RESTORE_MARKER -DNO_P1 -DMAXSEQ=2|without the restore marker, ordered tickets still never judge the running process stale"
	"tickets|HOLDER_BY_NAME|counterexample|-DHOLDER_BY_NAME|grant.go before 9fe9453: the holder is matched by name, not boot"
	"tickets|STALE_ANY_TICKET|counterexample|-DSTALE_ANY_TICKET -DNO_RESTORE_MARKER -DNO_P1 -DMAXSEQ=2|grant.go before 9fe9453: stale is any other ticket (shows without the marker)"
	"tickets|NO_RESTORE_MARKER|counterexample|-DNO_RESTORE_MARKER -DMAXSEQ=2|before 9bbefa1: a store restored from a snapshot is read with plain Restore"
	"tickets|GUESTS_BEFORE_WRITE|counterexample|-DGUESTS_BEFORE_WRITE|guests start before the record placing the process is confirmed written"
	"tickets|NO_STOP_LIST|counterexample|-DNO_STOP_LIST|no per-process stop list: a stopped process's late report arms it again"
	"tickets|NO_STOPPING|counterexample|-DNO_STOPPING|reports after the stop notice do not say Stopping"
	"tickets|STOPPING_UNLISTED|counterexample|-DSTOPPING_UNLISTED|grant.go at 4564fc6: a Stopping report does not put its process on the stop list"
	"tickets|ACK_BEFORE_WRITE|counterexample|-DACK_BEFORE_WRITE|the ack goes out before a record saying the process stopped is written"
	"tickets|UNWRITTEN_DROPS_ACK|counterexample|-DUNWRITTEN_DROPS_ACK|unwritten.go at 4564fc6: the record goes again after Unwritten, its ack does not (P3)"
	"tickets|CONFIRM_ANY_READY|counterexample|-DCONFIRM_ANY_READY -DMAXSEQ=2|before a5252c5: Persisted of a Ready that did not carry the state confirms it (I7)"
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
		# a counterexample comes within seconds: -O1 compiles in half the time
		if [ "$expect" = holds ]; then opt=-O2; else opt=-O1; fi
		gcc -w $opt -DSAFETY -DNOREDUCE -o pan pan.c
		./pan -m3000000 -w27 >pan.out 2>&1 || true
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
