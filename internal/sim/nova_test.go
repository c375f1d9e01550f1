package sim

import (
	"errors"
	"testing"
	"time"
)

// The Nova rules that decide what an evacuation leaves behind: vm_state and
// task_state, the scheduler's capacity, a rebuild failing on its destination.

func forcedDownWorld(t *testing.T, cfg Config) *World {
	t.Helper()
	cfg.Hosts, cfg.Instances = 3, 3
	w, err := NewWorld(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.runFor(20 * time.Second)
	w.PowerOff(w.Host("cmp1"), "test")
	if err := w.Nova.ForceDown("cmp1", true); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestEvacuatedStoppedServerStaysStopped(t *testing.T) {
	w := forcedDownWorld(t, Config{})
	w.StopInstance("vm01")
	dest, err := w.Nova.Evacuate("vm01", "")
	if err != nil {
		t.Fatal(err)
	}
	w.runFor(3 * time.Second)
	inst := w.Nova.Instances["vm01"]
	if inst.Host != dest || inst.Status() != "SHUTOFF" || w.Host(dest).Domains["vm01"] {
		t.Fatalf("after the rebuild: on %s status %s, guest running %v; want SHUTOFF on %s, no guest",
			inst.Host, inst.Status(), w.Host(dest).Domains["vm01"], dest)
	}
}

func TestEvacuateRefusedWithATaskState(t *testing.T) {
	for _, task := range []TaskState{TaskMigrating, TaskDeleting, TaskRebuilding} {
		t.Run(string(task), func(t *testing.T) {
			w := forcedDownWorld(t, Config{})
			w.SetTask("vm01", task, "")
			if _, err := w.Nova.Evacuate("vm01", ""); !errors.Is(err, ErrBadState) {
				t.Fatalf("evacuate with task_state %s = %v, want ErrBadState (409)", task, err)
			}
			w.Nova.ResetState("vm01")
			if _, err := w.Nova.Evacuate("vm01", ""); err != nil {
				t.Fatalf("evacuate after reset-state = %v", err)
			}
		})
	}
}

func TestSchedulerHonoursCapacity(t *testing.T) {
	// cmp2 and cmp3 hold one instance each and may hold no more.
	w := forcedDownWorld(t, Config{Capacity: map[string]int{"cmp2": 1, "cmp3": 1}})
	if _, err := w.Nova.Evacuate("vm01", ""); !errors.Is(err, ErrNoHost) {
		t.Fatalf("evacuate with every host full = %v, want ErrNoHost", err)
	}
	if inst := w.Nova.Instances["vm01"]; inst.Host != "cmp1" || inst.VM != Errored {
		t.Fatalf("after no valid host: on %s, %s; want ERROR on cmp1 (the conductor's NoValidHost)", inst.Host, inst.VM)
	}
	if _, err := w.Nova.Evacuate("vm01", "cmp2"); !errors.Is(err, ErrNoHost) {
		t.Fatalf("evacuate to a full host = %v, want ErrNoHost", err)
	}
}

func TestRebuildFailsOnItsDestination(t *testing.T) {
	w := forcedDownWorld(t, Config{})
	w.FailRebuilds("cmp2", true)
	if _, err := w.Nova.Evacuate("vm01", "cmp2"); err != nil {
		t.Fatal(err)
	}
	w.runFor(3 * time.Second)
	inst := w.Nova.Instances["vm01"]
	if inst.Host != "cmp2" || inst.Status() != "ERROR" || w.Host("cmp2").Domains["vm01"] {
		t.Fatalf("after a failed rebuild: on %s, %s, guest %v; want ERROR on cmp2, no guest", inst.Host, inst.Status(), w.Host("cmp2").Domains["vm01"])
	}
}

func TestSwitchedOverMigrationRunsOnItsDestination(t *testing.T) {
	w := newTestWorld(t)
	w.SetTask("vm01", TaskMigrating, "cmp3")
	w.runFor(5 * time.Second)
	if w.Host("cmp1").Domains["vm01"] || !w.Host("cmp3").Domains["vm01"] || w.Nova.Instances["vm01"].Host != "cmp1" {
		t.Fatal("a switched-over live migration runs its guest on the destination while Nova still places it on the source")
	}
	if d := w.DoubleWriters(); len(d) != 0 {
		t.Fatalf("the switch-over counted as two writers: %v", d)
	}
}

// A host rebooting under a live migration: init_host aborts one that had
// not switched over and resumes its guest; one that had switched over stays
// in flight and is not resumed (its guest runs on the destination).
func TestInitHostResetsInterruptedLiveMigration(t *testing.T) {
	for _, tc := range []struct {
		dest       string
		wantTask   TaskState
		wantResume bool
	}{
		{dest: "", wantTask: "", wantResume: true},
		{dest: "cmp2", wantTask: TaskMigrating, wantResume: false},
	} {
		t.Run("dest="+tc.dest, func(t *testing.T) {
			w, err := NewWorld(Config{Hosts: 3, Instances: 3})
			if err != nil {
				t.Fatal(err)
			}
			w.runFor(5 * time.Second)
			w.SetTask("vm01", TaskMigrating, tc.dest)
			h := w.Host("cmp1")
			w.PowerOff(h, "test")
			w.PowerOn(h, "test")
			w.runFor(5 * time.Second)
			inst := w.Nova.Instances["vm01"]
			if inst.Task != tc.wantTask || h.Domains["vm01"] != tc.wantResume {
				t.Fatalf("after init_host: task_state %q, guest on cmp1 %v; want %q, %v", inst.Task, h.Domains["vm01"], tc.wantTask, tc.wantResume)
			}
		})
	}
}
