//go:build attack5fuzz

package decision

import (
	"fmt"
	"math/rand"
	"os"
	"strings"
	"testing"
	"time"
)

// go test -tags attack5fuzz -run Attack5Fuzz ./internal/decision/
// ATTACK5_LOWER=1 lets reboots number lower (the known limit).
// ATTACK5_ZOMBIE=1 lets a Tick's records be dropped (a leader that lost etcd).
func TestAttack5FuzzBelief(t *testing.T) {
	lower := os.Getenv("ATTACK5_LOWER") != ""
	zomb := os.Getenv("ATTACK5_ZOMBIE") != ""
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fails := 0
	for seed := int64(100000); seed < 100000+20000; seed++ {
		rng := rand.New(rand.NewSource(seed))
		e := watchdogEngine(t)
		now := t0
		e.Step(now, Leadership{Leader: true, Token: 1})
		store := map[string]Record{}
		cur := SelfReport{BootID: "b1", Boot: 1, WatchdogArmed: true, NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}
		armed := true
		boots := 1
		guests := false
		zombie := false
		var waiting *Ack
		var sent []SelfReport
		var story []string
		tick := func() {
			rd := e.Tick(now)
			if zombie {
				story = append(story, "tick (records dropped)")
				return // a leader that lost etcd steps no Persisted
			}
			for _, r := range rd.Records {
				store[r.Host] = r
			}
			if len(rd.Records) > 0 {
				e.Step(now, Persisted{Ready: rd.Seq})
			}
			for _, a := range rd.Acks {
				if waiting != nil && a == *waiting {
					armed, cur.WatchdogArmed, waiting = false, false, nil
					story = append(story, fmt.Sprintf("ack %d: disarmed", a.Seq))
				}
			}
		}
		deliver := func(s SelfReport, why string) {
			r := AgentReport{Host: "cmp1", Network: "mgmt", Self: s}
			e.Step(now, r)
			g, err := e.Grant(now, r)
			if err == nil && g.Guests && s.BootID == cur.BootID {
				guests = true
			}
			story = append(story, fmt.Sprintf("%s: %s no %d seq %d armed %v (guests %v, %v)", why, s.BootID, s.Boot, s.Seq, s.WatchdogArmed, g.Guests, err))
		}
		failover := func() {
			var recs []Record
			for _, r := range store {
				recs = append(recs, r)
			}
			e = watchdogEngine(t)
			e.Restore(recs)
			e.Step(now, Leadership{Leader: true, Token: uint64(len(story) + 2)})
			zombie = false
			story = append(story, "failover")
		}
		for i := 0; i < 60; i++ {
			now = now.Add(time.Duration(100+rng.Intn(900)) * time.Millisecond)
			story = append(story, "·")
			switch x := rng.Intn(12); {
			case x < 4:
				cur.Seq++
				waiting = nil
				sent = append(sent, cur)
				deliver(cur, "report")
			case x < 5:
				cur.Seq++
				e.Step(now, AgentStopping{Host: "cmp1", BootID: cur.BootID, Boot: cur.Boot, Seq: cur.Seq})
				waiting = &Ack{Host: "cmp1", BootID: cur.BootID, Seq: cur.Seq}
				story = append(story, fmt.Sprintf("stop notice seq %d", cur.Seq))
			case x < 6:
				cur.Seq++
				cur.WatchdogArmed, armed, waiting = true, true, nil
				sent = append(sent, cur)
				deliver(cur, "restarted agent reports")
			case x < 7:
				boots++
				no := uint64(boots)
				switch rng.Intn(6) {
				case 0:
					no = 0
				case 1:
					no = uint64(boots - 1)
				case 2:
					if lower {
						no = uint64(1 + rng.Intn(boots))
					}
				}
				armed, waiting, guests = rng.Intn(4) > 0, nil, false
				cur = SelfReport{BootID: fmt.Sprintf("b%d", boots), Boot: no, WatchdogArmed: armed,
					NovaCompute: Process{Running: true}, Libvirtd: Process{Running: true}}
				story = append(story, fmt.Sprintf("reboot into %s numbered %d, armed %v", cur.BootID, no, armed))
			case x < 9:
				if len(sent) > 0 {
					deliver(sent[rng.Intn(len(sent))], "late")
				}
			case x < 10 && zomb:
				if !zombie {
					zombie = true
					story = append(story, "leader loses etcd")
				}
			default:
				failover()
			}
			if rng.Intn(3) > 0 {
				tick()
				story[len(story)-1] += " +tick"
			}
			h := e.hosts["cmp1"]
			story[len(story)-1] += fmt.Sprintf("   [%v unsaved %v store %s/%s/%d/%s/%v]", h.watchdogState(), h.watchdogUnsaved,
				store["cmp1"].WatchdogBoot, store["cmp1"].WatchdogOffBoot, store["cmp1"].WatchdogBootNo, store["cmp1"].WatchdogNoBoot, store["cmp1"].WatchdogUnordered)
			if b := e.hosts["cmp1"].armedBoot(); b != "" && !armed && guests {
				fails++
				if fails <= 2 {
					t.Errorf("seed %d: vigil believes %s armed; the host runs %s, armed %v:\n  %s",
						seed, b, cur.BootID, armed, strings.Join(story[max(0, len(story)-14):], "\n  "))
				}
				break
			}
		}
	}
	t.Logf("%d failing seeds", fails)
}
