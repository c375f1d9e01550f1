package wire

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A rotation from generation 1 to 2 without a moment's silence: the
// controllers take secret 2 first and answer each host with the key it
// used; hosts then take key 2 and seal with it; old packets are taken
// while both generations are held, and refused once 1 is retired.
func TestRotationWithoutDowntime(t *testing.T) {
	now := time.Hour
	gate := newGate(t, clusterKeys(t, 1))
	agent := hostKeys(t, "cmp1", 1)

	// exchange sends a report from agent and opens the grant it gets.
	exchange := func(step string, agent HostKeys) (sentWith, answeredWith uint32) {
		t.Helper()
		now += time.Second
		b := seal(t, agent.Newest(), "cmp1", Report{Echo: gate.Challenge(now - time.Second), Self: self(0)})
		in, err := gate.Receive(b, now)
		if err != nil {
			t.Fatalf("%s: report refused: %v", step, err)
		}
		k, err := gate.keys.Lookup(in.Host, in.KeyID)
		if err != nil {
			t.Fatalf("%s: no key to answer with: %v", step, err)
		}
		p, err := OpenDown(agent, seal(t, k, in.Host, Grant{Next: gate.Challenge(now)}))
		if err != nil {
			t.Fatalf("%s: grant refused: %v", step, err)
		}
		return in.KeyID, p.KeyID
	}

	if s, a := exchange("before", agent); s != 1 || a != 1 {
		t.Fatalf("before: sent with %d, answered with %d", s, a)
	}
	old := seal(t, agent.Newest(), "cmp1", Report{Echo: gate.Challenge(now), Self: self(0)})

	gate.SetKeys(clusterKeys(t, 2, 1)) // controllers first
	if s, a := exchange("controllers hold 2", agent); s != 1 || a != 1 {
		t.Fatalf("controllers hold 2: sent with %d, answered with %d; want 1, 1 (the host has no 2 yet)", s, a)
	}
	agent = hostKeys(t, "cmp1", 2, 1) // then the hosts
	if s, a := exchange("host holds 2", agent); s != 2 || a != 2 {
		t.Fatalf("host holds 2: sent with %d, answered with %d; want 2, 2", s, a)
	}
	if _, err := gate.Receive(old, now); err != nil {
		t.Fatalf("a packet of generation 1 during the overlap: %v", err)
	}
	if _, err := gate.Receive(old, now); !errors.Is(err, ErrReplay) {
		t.Fatalf("the rotation made the gate forget what it took: %v", err)
	}
	// A grant of generation 1 still in flight opens at the host.
	k1, _ := clusterKeys(t, 1).Lookup("cmp1", 1)
	if _, err := OpenDown(agent, seal(t, k1, "cmp1", Grant{})); err != nil {
		t.Fatalf("a grant of generation 1 during the overlap: %v", err)
	}

	gate.SetKeys(clusterKeys(t, 2)) // 1 retired
	agent = hostKeys(t, "cmp1", 2)
	stale := seal(t, hostKeys(t, "cmp1", 1).Newest(), "cmp1", Report{Echo: gate.Challenge(now), Self: self(0)})
	if _, err := gate.Receive(stale, now); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "[2]") {
		t.Fatalf("generation 1 after its retirement: %v; want ErrUnknownKey naming the ids held", err)
	}
	if _, err := OpenDown(agent, seal(t, k1, "cmp1", Grant{})); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("a grant of generation 1 after its retirement: %v; want ErrUnknownKey", err)
	}
	if s, a := exchange("after", agent); s != 2 || a != 2 {
		t.Fatalf("after: sent with %d, answered with %d", s, a)
	}
}

// A host given the new key before the controllers is refused, and the
// refusal says which order works.
func TestRotationOutOfOrderSaysTheOrder(t *testing.T) {
	gate := newGate(t, clusterKeys(t, 1))
	b := seal(t, hostKeys(t, "cmp1", 2, 1).Newest(), "cmp1", Report{Echo: gate.Challenge(0), Self: self(0)})
	_, err := gate.Receive(b, 0)
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "controllers a new secret before the hosts") {
		t.Fatalf("%v; want ErrUnknownKey saying the order", err)
	}
}

func TestRingsHoldOneOrTwoGenerations(t *testing.T) {
	for _, tc := range []struct {
		name string
		ids  []uint32
		want string
	}{
		{"none", nil, "0 cluster secret generations"},
		{"three", []uint32{1, 2, 3}, "3 cluster secret generations"},
		{"twice", []uint32{2, 2}, "id 2 given twice"},
		{"zero", []uint32{0}, "start at 1"},
	} {
		var s []Secret
		for _, id := range tc.ids {
			s = append(s, Secret{ID: id})
		}
		if _, err := NewClusterKeys(s, []string{"cmp1"}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.name, err, tc.want)
		}
	}
	if _, err := NewSecret(0); err == nil {
		t.Error("a secret of id 0 was drawn")
	}
	a, _ := NewSecret(1)
	b, _ := NewSecret(1)
	if a.b == b.b {
		t.Error("two drawn secrets are alike")
	}
}
