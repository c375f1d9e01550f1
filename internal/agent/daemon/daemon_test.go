package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/controller/agentnet"
	"github.com/vigil-ha/vigil/internal/decision"
	"github.com/vigil-ha/vigil/internal/heartbeat"
	"github.com/vigil-ha/vigil/internal/testbed/ctlbed"
	"github.com/vigil-ha/vigil/internal/wire"
)

// The whole agent process as `vigil agent` runs it, against a controller
// in this process (the engine, loop and runner, on real UDP sockets; its
// journal in memory): it reports on both networks over loopback, is
// granted, writes its storage heartbeat, and on shutdown stops cleanly
// with the leader's acknowledgement. No watchdog device here, nova-compute
// and libvirtd found as processes that do not run, no libvirtd socket
// (guests unknown): the host is alive to the engine but degraded.
func TestAgentProcessAgainstAController(t *testing.T) {
	dir := t.TempDir()
	r := byte(10 + rand.IntN(240))
	addr := func(net, x, port int) string { return fmt.Sprintf("127.%d.%d.%d:%d", r, net, x, port) }
	s, err := wire.NewSecret(1)
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"cmp1", "cmp2", "cmp3"}
	keys, err := wire.NewClusterKeys([]wire.Secret{s}, hosts)
	if err != nil {
		t.Fatal(err)
	}
	acfg := agentnet.DefaultConfig()
	for i, n := range []string{"mgmt", "storage"} {
		acfg.Networks = append(acfg.Networks, agentnet.Network{Name: n, Listen: addr(i+1, 100, 7700)})
	}
	ctl := ctlbed.Start(t, hosts, decision.DefaultConfig(), acfg, keys, ctlbed.NewMemStore(), 1)

	kb, err := wire.FormatHostKeys([]wire.Secret{s}, "cmp1")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "cmp1.key")
	if err := os.WriteFile(keyFile, kb, 0o600); err != nil {
		t.Fatal(err)
	}
	bootFile := filepath.Join(dir, "boot_id")
	if err := os.WriteFile(bootFile, []byte("0b5e6c4a-2f7d-4e1b-9c3a-1d2e3f4a5b6c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hbDir := filepath.Join(dir, "heartbeats")
	if err := os.Mkdir(hbDir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := fmt.Sprintf(`host: cmp1
networks:
  - {name: mgmt, listen: "%s", controllers: ["%s"]}
  - {name: storage, listen: "%s", controllers: ["%s"]}
key_file: %s
state_dir: %s
services:
  nova_compute: {process: vigil-no-nova}
  libvirtd: {process: vigil-no-libvirtd}
libvirt: {socket: %s}
heartbeat: {dir: %s}
`, addr(1, 1, 7701), addr(1, 100, 7700), addr(2, 1, 7701), addr(2, 100, 7700), keyFile, filepath.Join(dir, "state"), filepath.Join(dir, "no-libvirt-sock"), hbDir)
	cfg, err := config.ParseAgentFile([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	hk, err := wire.LoadHostKeys(keyFile, "cmp1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, hk, Paths{BootID: bootFile}, slog.New(slog.DiscardHandler)) }()

	ctlbed.Eventually(t, 20*time.Second, "the engine hears cmp1 on both networks and its heartbeat moves", func() error {
		st, err := ctl.Runner.Status(context.Background())
		if err != nil {
			return err
		}
		i := slices.IndexFunc(st, func(s decision.HostStatus) bool { return s.Name == "cmp1" })
		if i < 0 || st[i].State != decision.ServiceDegraded {
			return fmt.Errorf("cmp1 is %+v, want service-degraded (alive, nova-compute not running)", st)
		}
		b, ok, err := heartbeat.Dir{Path: hbDir}.Read(context.Background(), "cmp1")
		if err != nil || !ok || b.Seq < 3 {
			return fmt.Errorf("heartbeat %+v %v %v", b, ok, err)
		}
		if ctl.Server.Stats().Grants == 0 {
			return errors.New("no grant sent")
		}
		return nil
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("clean stop: %v, want the leader's ack", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not stop within 30 s of its shutdown")
	}
	if ctl.Server.Stats().Acks == 0 {
		t.Error("the controller sent no ack for the clean stop")
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "contract.json")); err != nil {
		t.Errorf("no state kept for a successor: %v", err)
	}
}

// One agent process per host at a time: a second one is refused, naming
// the holder, and the lock is free again once the holder lets go (the
// kernel lets go when the process ends).
func TestLockStateAdmitsOneAgent(t *testing.T) {
	dir := t.TempDir()
	unlock, err := LockState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockState(dir); err == nil || !strings.Contains(err.Error(), "locked by another vigil agent (pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("a second agent on the state dir: %v; want refused, naming the holder's pid", err)
	}
	unlock()
	unlock2, err := LockState(dir)
	if err != nil {
		t.Fatalf("after the holder let go: %v", err)
	}
	unlock2()
}
