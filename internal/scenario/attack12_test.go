package scenario

import "testing"

// Twelfth adversarial review (attack12), against 4564fc6. Each scenario
// fails on the code it was written against; the fix makes it pass (then it
// belongs in scenarios/).

// runAttack12 runs one scenario and fails the test with what broke.
func runAttack12(t *testing.T, yaml string) {
	t.Helper()
	if r := runVigil(t, []byte(yaml)); !r.Pass() {
		t.Errorf("%s", r.Summary())
	}
}

// Finding P1 (safety, two writers): evacuate-copy-elsewhere counts only
// fresh evidence (a report or a disk watch within AgentTimeout×10 = 30 s)
// that another host runs the instance, and silence is not death. vm05
// live-migrated from cmp1 to cmp2 and switched over (it runs on cmp2, Nova
// still places it on cmp1). cmp2 hangs behind an unreachable BMC and a
// power-only topology: it cannot be fenced and is held (fence-failed),
// its guests frozen, not dead. cmp1 loses power, is fenced, and vm05 is
// rightly not evacuated at first (cmp2 listed it 10 s ago). Then its task
// state clears (an operator's reset-state, a rolled-back operation), and by
// then cmp2's last report and its RBD watch are older than the window: vm05
// is evacuated to cmp4 while its frozen copy on cmp2, which vigil never
// fenced, resumes writing when the hang clears. The rule must keep
// counting an unfenced host's last word (it listed the instance, or wrote
// its disk, and has said nothing since) until that host is fenced or
// reports without it.
func TestAttack12CopyOnAHungUnfencedHostIsNotLive(t *testing.T) {
	runAttack12(t, `
name: attack12-copy-on-a-hung-unfenced-host
cluster: {hosts: 4, instances: 8, fencing: [ipmi]}
faults:
  - {at: 5s, instance: migrating, vm: vm05, host: cmp2}
  - {at: 10s, bmc: unreachable, host: cmp2}
  - {at: 20s, hang: host, host: cmp2, for: 200s}
  - {at: 25s, power: "off", host: cmp1}
  - {at: 70s, instance: deleting, vm: vm05, for: 5s}
run: 400s
expect: {double_writers: 0}
`)
}

// Finding P2 (safety, two writers): evacuate-copy-elsewhere skips every
// host with a fence on record ("a fenced host's copy is no live copy",
// ece6141), also one whose fence no longer holds. vm05 switched over to
// cmp2 (Nova still places it on cmp1). cmp2 hangs behind an unreachable
// BMC and is fenced by blocklist; its entries lapse before the executor's
// re-read, so cmp2's incident goes to rejoining (fence-undone), its fence
// still on record. When the hang clears cmp2 runs vm05 and writes its disk,
// and vigil says so itself (rejoin-blocked: "cmp2 is back but still runs
// vm05"). cmp1 lost power and was fenced; once vm05's task state clears,
// vigil evacuates it from cmp1 to cmp4 next to the copy it knows runs on
// cmp2. A host's copy may be ignored only while its fence holds: a host in
// rejoining (fence undone or lifted, or back) runs what it lists.
func TestAttack12CopyOnAHostWhoseFenceWasUndoneIsLive(t *testing.T) {
	runAttack12(t, `
name: attack12-copy-on-a-host-whose-fence-was-undone
cluster: {hosts: 4, instances: 8, fencing: [ipmi, ceph-blocklist]}
faults:
  - {at: 5s, instance: migrating, vm: vm05, host: cmp2}
  - {at: 10s, bmc: unreachable, host: cmp2}
  - {at: 20s, hang: host, host: cmp2, for: 60s}
  - {at: 30100ms, blocklist: expire, host: cmp2}
  - {at: 35s, power: "off", host: cmp1}
  - {at: 100s, instance: deleting, vm: vm05, for: 5s}
run: 300s
expect: {double_writers: 0}
`)
}

// Finding P4 (safety, two writers): a clean rejoin opens the guest-start
// gate of a host that Nova still places an instance on which runs on
// another host. vm05 switched over to cmp2 (Nova still places it on cmp1);
// cmp1 loses power, is fenced, and vigil rightly keeps vm05 where it runs
// (evacuate-copy-elsewhere). Its task state clears (an operator's
// reset-state; real Nova's init_host resets a switched-over migration
// itself, the simulator leaves it to an operator). cmp1 is powered on:
// nova-compute's init_host waits at the gate, which holds guests while the
// incident holds the fence. rejoin() checks only the guests cmp1 runs (none
// vigil moved; each one Nova places there), finds it clean, ends the
// incident and grants guests: init_host resumes vm05 on cmp1 next to its
// copy on cmp2. A host must not rejoin (nor its grants let guests start)
// while Nova places on it an instance another host runs or writes
// (rejoin-blocked, saying to fix the instance's host in Nova first).
func TestAttack12RejoinResumesACopyThatRunsElsewhere(t *testing.T) {
	runAttack12(t, `
name: attack12-rejoin-resumes-a-copy-that-runs-elsewhere
cluster:
  hosts: 4
  instances: 8
  fencing: [ipmi]
  watchdog: {isolation_timeout: 10s, watchdog_timeout: 10s}
vigil:
  self_fence: {assume_dead_after: 46s}
faults:
  - {at: 5s, instance: migrating, vm: vm05, host: cmp2}
  - {at: 20s, power: "off", host: cmp1, for: 40s}
  - {at: 30s, instance: deleting, vm: vm05, for: 5s}
run: 300s
expect: {double_writers: 0}
`)
}

// Finding P6 (liveness, HA instances held for good, the operator told
// only "vigil waits for a clean rejoin"; found by vigil lab fuzz
// --schedules 10000 --seed 2955426362 --hosts 3-5 --mix
// classic=10,leader=2,world=2, schedule 2225): a host whose power fence was
// undone (powered on again before its guests moved) waits in rejoining for
// a clean rejoin. It is cut off on every network right after it boots:
// nova-compute resumes its guests there, cut off their disks. vigil never
// judges it again: rejoining waits for the agent (workflow's Rejoining
// case), and rejoin-stalled, the alert that would tell the operator, is
// suppressed because the BMC reads the power on (showsLife), which also
// makes a confirm refused. The fence device works (the BMC answers): a
// host in rejoining silent on every path for dead_after should be fenced
// again, as any failed host is, and its instances moved (or at least
// rejoin-stalled said, with "power it off, then confirm").
func TestAttack12RejoiningHostCutOffIsNeverFencedAgain(t *testing.T) {
	r := runVigil(t, []byte(`
name: attack12-rejoining-host-cut-off-is-never-fenced-again
cluster: {hosts: 4, instances: 8, fencing: [ipmi]}
faults:
  - {at: 20s, power: "off", host: cmp1}
  - {at: 25.1s, power: "on", host: cmp1}
  - {at: 27s, cut: bond, host: cmp1}
run: 600s
expect: {double_writers: 0, lost_instances: 0}
`))
	stalled := false
	for _, a := range r.Alerts {
		stalled = stalled || a.Host == "cmp1" && a.Code == "rejoin-stalled"
	}
	if r.States["cmp1"] == "rejoining" && !stalled {
		t.Errorf("%s: cmp1, cut off on every network since +27 s with vm01 and vm05 (its BMC answers, reads on), still waits in rejoining after 10 minutes, never fenced again, rejoin-stalled never said", r.Summary())
	}
}

// The fuzz's own schedule (shrunk): the evacuations failed first (the
// controllers lost Ceph, so no target was trusted), which leaves vm01 and
// vm04 listed for an operator, stranded with capacity for minutes.
func TestAttack12RejoiningHostCutOffFuzzSchedule(t *testing.T) {
	r := runVigil(t, []byte(`
name: fuzz-2955428587-minimal
seed: 2955428587
cluster: {hosts: 3, instances: 6}
faults:
  - {at: 35s, for: 1m31s, partition: storage, groups: [[controllers], [ceph, cmp1, cmp2, cmp3]]}
  - {at: 51s, host: cmp1, power: "off"}
  - {at: 1m25s, host: cmp1, for: 6s, power: "off"}
  - {at: 1m27s, host: cmp1, cut: storage}
  - {at: 1m27s, host: cmp1, cut: mgmt}
run: 6m40s
expect: {double_writers: 0, lost_instances: 0}
`))
	if !r.Pass() || len(r.Stranded) > 0 {
		t.Errorf("%s; stranded (left to an operator while hosts had room for 70 s): %v; cmp1 ends %s", r.Summary(), r.Stranded, r.States["cmp1"])
	}
}
