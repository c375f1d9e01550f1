package netns

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/tier"

	"github.com/google/go-cmp/cmp"
)

func rootLinks(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatalf("ip link show: %v", err)
	}
	return string(out)
}

func namespaceExists(ns string) bool {
	_, err := os.Stat("/run/netns/" + ns)
	return err == nil
}

func TestLab(t *testing.T) {
	tier.Integration(t, tier.Root, "ip", "ping")
	ctx := context.Background()
	before := rootLinks(t)

	start := time.Now()
	lab, err := Up(ctx, DefaultConfig(UniquePrefix(t.Name())))
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Cleanup(func() { _ = lab.Down(context.Background()) })
	t.Logf("lab of %d hosts up in %s", len(lab.Hosts()), time.Since(start))

	if diff := cmp.Diff(before, rootLinks(t)); diff != "" {
		t.Errorf("root namespace links changed (-before +after):\n%s", diff)
	}

	t.Run("hosts reach each other on every network", func(t *testing.T) {
		for _, n := range lab.Config().Networks {
			for from := range lab.Hosts() {
				to := (from + 1) % len(lab.Hosts())
				if err := lab.Ping(ctx, from, lab.Addr(to, n.Name)); err != nil {
					t.Errorf("ping host%d -> host%d on %s: %v", from, to, n.Name, err)
				}
			}
		}
	})

	t.Run("cut mgmt keeps storage", func(t *testing.T) {
		if err := lab.Cut(ctx, 0, "mgmt"); err != nil {
			t.Fatalf("Cut: %v", err)
		}
		if err := lab.Ping(ctx, 1, lab.Addr(0, "mgmt")); !errors.Is(err, ErrNoReply) {
			t.Errorf("ping host1 -> host0 mgmt after cut = %v, want ErrNoReply", err)
		}
		if err := lab.Ping(ctx, 1, lab.Addr(0, "storage")); err != nil {
			t.Errorf("ping host1 -> host0 storage after mgmt cut = %v, want a reply", err)
		}
		if err := lab.Heal(ctx, 0, "mgmt"); err != nil {
			t.Fatalf("Heal: %v", err)
		}
		tier.Eventually(t, 5*time.Second, "mgmt reachable after heal", func() error {
			return lab.Ping(ctx, 1, lab.Addr(0, "mgmt"))
		})
	})

	t.Run("processes and kill", func(t *testing.T) {
		ns := lab.Host(2).Namespace
		cmd := lab.Command(ctx, 2, "sleep", "infinity")
		if err := cmd.Start(); err != nil {
			t.Fatalf("start sleep: %v", err)
		}
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		tier.Eventually(t, 5*time.Second, "process in "+ns, func() error {
			pids, err := Pids(ctx, ns)
			if err == nil && len(pids) == 0 {
				err = errors.New("no process yet")
			}
			return err
		})
		if err := Kill(ctx, ns); err != nil {
			t.Fatalf("Kill: %v", err)
		}
		<-waited
		if pids, err := Pids(ctx, ns); err != nil || len(pids) != 0 {
			t.Errorf("Pids after Kill = %v, %v; want none", pids, err)
		}
	})

	if err := lab.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	for _, ns := range append([]string{lab.Fabric()}, lab.Host(0).Namespace, lab.Host(2).Namespace) {
		if namespaceExists(ns) {
			t.Errorf("namespace %s still exists after Down", ns)
		}
	}
	if err := lab.Down(ctx); err != nil {
		t.Errorf("second Down: %v", err)
	}
}

// A prefix that is in use must not be taken over, and the failed Up must not
// delete the other lab's namespaces.
func TestUpRefusesExistingPrefix(t *testing.T) {
	tier.Integration(t, tier.Root, "ip")
	ctx := context.Background()
	cfg := DefaultConfig(UniquePrefix(t.Name()))
	cfg.Hosts = 1
	first, err := Up(ctx, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Cleanup(func() { _ = first.Down(context.Background()) })
	if second, err := Up(ctx, cfg); err == nil {
		_ = second.Down(ctx)
		t.Fatal("second Up with the same prefix succeeded, want an error")
	}
	if !namespaceExists(first.Fabric()) || !namespaceExists(first.Host(0).Namespace) {
		t.Error("the failed Up removed the first lab's namespaces")
	}
}
