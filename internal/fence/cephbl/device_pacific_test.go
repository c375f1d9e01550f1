//go:build pacific

package cephbl

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/fence"
)

// localhost is where the test itself, the driver and the "other host"
// writers connect from.
var localhost = netip.MustParseAddr("127.0.0.1")

// The whole story on one host: a writer holds the lock and writes; Off cuts
// it off and proves it; another client takes over; On gives the host back
// without touching anybody else's entries.
func TestOffFencesWriterAndOnRestoresHost(t *testing.T) {
	e := setup(t, "127.0.0.2")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	img := e.image("story")
	// Entries that are not this driver's: another host's, and one on this
	// host's IP added by someone else. On must leave both.
	e.addEntry("127.0.0.9:0/0")
	t.Cleanup(func() { e.clearBlocklist(netip.MustParseAddr("127.0.0.9")) })
	e.addEntry("127.0.0.2:0/4242")

	victim := e.startWriter(ctx, img, "victim", e.hostIP)
	d := e.device(e.config(img))

	start := time.Now()
	proof, err := d.Off(ctx)
	if err != nil {
		t.Fatal(err)
	}
	offTook := time.Since(start)
	t.Logf("Off took %v: %s", offTook, proof.Detail)

	failed, err := victim.WaitFailedWrite(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	if failed.Errno != int(syscall.ESHUTDOWN) {
		t.Errorf("victim's failed write: errno %d (%s), want %d (ESHUTDOWN)", failed.Errno, failed.Err, syscall.ESHUTDOWN)
	}
	if cutOff := failed.Time.Sub(start); cutOff > 5*time.Second {
		t.Errorf("victim's first failed write came %v after Off started, want within 5s", cutOff)
	} else {
		t.Logf("victim's first failed write %v after Off started", cutOff)
	}

	entries, err := EntriesFromProof(proof)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.2:0/0", victim.Addr()}
	if diff := cmp.Diff(want, entries); diff != "" {
		t.Errorf("proof entries (-want +got):\n%s", diff)
	}
	listed := e.listed()
	for _, en := range want {
		until, ok := listed[en]
		if !ok {
			t.Errorf("%s is not in osd blocklist ls", en)
		} else if left := time.Until(until); left < 23*time.Hour {
			t.Errorf("%s expires in %v, want about 24h", en, left)
		}
	}

	// Another host takes the lock at once (librbd breaks a blocklisted
	// owner's lock) and writes.
	successor := e.startWriter(ctx, img, "successor", localhost)
	if st, err := d.Status(ctx); err != nil || st != fence.StatusOff {
		t.Errorf("Status after Off = %v, %v; want off", st, err)
	}
	// librbd blocklisted the old owner again when it broke the lock; Ceph
	// keeps the first expiry, so our 24 h entry is not cut to 1 h.
	if left := time.Until(e.listed()[victim.Addr()]); left < 23*time.Hour {
		t.Errorf("after the lock break, the owner's entry expires in %v, want about 24h", left)
	}
	if err := successor.Stop(); err != nil {
		t.Fatal(err)
	}

	if err := d.On(ctx); !errors.Is(err, fence.ErrNoResetEvidence) {
		t.Errorf("On() = %v, want ErrNoResetEvidence: a storage fence is lifted only with evidence", err)
	}
	if _, err := d.Release(ctx, fence.Release{Proofs: []fence.Proof{proof}}); !errors.Is(err, fence.ErrNoResetEvidence) {
		t.Errorf("Release without a boot id or force = %v, want ErrNoResetEvidence", err)
	}
	e.release(d, proof)
	if diff := cmp.Diff([]string{"127.0.0.2:0/4242"}, e.listedOn(e.hostIP)); diff != "" {
		t.Errorf("entries on the host after On (-want +got):\n%s", diff)
	}
	if _, ok := e.listed()["127.0.0.9:0/0"]; !ok {
		t.Error("On removed another host's entry")
	}
	if st, err := d.Status(ctx); err != nil || st != fence.StatusOn {
		t.Errorf("Status after On = %v, %v; want on", st, err)
	}
	// The host can write again from its address.
	e.startWriter(ctx, img, "returned", e.hostIP)
	e.release(d, proof) // nothing left to remove: fine
}

// A crashed host keeps its lock and its watch (~30 s); the blocklist drops
// the watch, so Off verifies at once rather than after the watch timeout.
func TestOffVerifiesCrashedHostQuickly(t *testing.T) {
	e := setup(t, "127.0.0.3")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	img := e.image("crashed")
	victim := e.startWriter(ctx, img, "crashed", e.hostIP)
	owner := victim.Addr()
	victim.Kill()

	d := e.device(e.config(img))
	start := time.Now()
	proof, err := d.Off(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Off took %v on a crashed host, want < 10s (the watch timeout is ~30s)", took)
	}
	entries, err := EntriesFromProof(proof)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(entries, owner) {
		t.Errorf("proof entries %v lack the dead owner %s", entries, owner)
	}
	e.startWriter(ctx, img, "successor", localhost)
}

// A host with no lock owner (an idle disk, a deleted one) is fenced by its
// whole-IP entry alone. A second Device (a new controller) knows nothing to
// remove until it is given the entries of the stored Proof.
func TestOffIdleHostAndUnfenceAfterFailover(t *testing.T) {
	e := setup(t, "127.0.0.4")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	idle := e.image("idle")
	cfg := e.config(idle, ImageRef{Pool: "rbd", Name: "deleted-instance"})
	proof, err := e.device(cfg).Off(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(proof.Detail)
	entries, err := EntriesFromProof(proof)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"127.0.0.4:0/0"}, entries); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}

	successor := e.device(cfg)
	if _, err := successor.Release(ctx, fence.Release{Force: true}); !errors.Is(err, ErrNoRecord) {
		t.Errorf("Release without the record = %v, want ErrNoRecord", err)
	}
	if st, err := successor.Status(ctx); err != nil || st != fence.StatusOff {
		t.Errorf("Status = %v, %v; want off", st, err)
	}
	// Off again from the new Device finds the entry and does not claim it.
	again, err := successor.Off(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := EntriesFromProof(again); len(got) != 0 {
		t.Errorf("second Off claims %v, want none (the entry was there before)", got)
	}
	e.release(successor, proof)
	if got := e.listedOn(e.hostIP); len(got) != 0 {
		t.Errorf("entries left after Release: %v", got)
	}
}

// An IPv6 storage network: the whole-IP entry is "[ip]:0/0".
func TestIPv6HostIP(t *testing.T) {
	e := setup(t, "fd00::7")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	d := e.device(e.config(e.image("v6")))
	proof, err := d.Off(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := EntriesFromProof(proof)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"[fd00::7]:0/0"}, entries); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if _, ok := e.listed()["[fd00::7]:0/0"]; !ok {
		t.Errorf("[fd00::7]:0/0 not listed: %v", e.listed())
	}
	e.release(d, proof)
}

// With OwnerEntriesOnly only the lock owners' exact addresses are listed.
func TestOwnerEntriesOnly(t *testing.T) {
	e := setup(t, "127.0.0.5")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	img := e.image("owner-only")
	victim := e.startWriter(ctx, img, "victim", e.hostIP)
	cfg := e.config(img)
	cfg.OwnerEntriesOnly = true
	d := e.device(cfg)
	start := time.Now()
	proof, err := d.Off(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if failed, err := victim.WaitFailedWrite(ctx, start); err != nil || failed.Errno != int(syscall.ESHUTDOWN) {
		t.Errorf("victim: %+v, %v; want a write failing with ESHUTDOWN", failed, err)
	}
	if diff := cmp.Diff([]string{victim.Addr()}, e.listedOn(e.hostIP)); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if st, err := d.Status(ctx); err != nil || st != fence.StatusOff {
		t.Errorf("Status = %v, %v; want off", st, err)
	}
	e.release(d, proof)
	if st, err := d.Status(ctx); err != nil || st != fence.StatusOn {
		t.Errorf("Status after Release = %v, %v; want on", st, err)
	}
}

func TestOffRefusesToFenceItsOwnHost(t *testing.T) {
	e := setup(t, "127.0.0.1")
	before := e.listed()
	_, err := e.device(e.config()).Off(t.Context())
	if !errors.Is(err, ErrSelfFence) {
		t.Fatalf("Off of the driver's own IP = %v, want ErrSelfFence", err)
	}
	if diff := cmp.Diff(before, e.listed()); diff != "" {
		t.Errorf("blocklist changed (-before +after):\n%s", diff)
	}
}

// Commands the mon answers with a refusal map to fence.ErrRefused, by errno.
func TestRefusedCommands(t *testing.T) {
	e := setup(t, "127.0.0.6")
	ctx := t.Context()
	d := e.device(e.config())
	s, err := d.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	tests := []struct {
		name string
		cmd  map[string]any
	}{
		{"invalid address", map[string]any{"prefix": "osd blocklist", "blocklistop": "add", "addr": "not-an-address", "expire": expireArg(time.Hour)}},
		{"expire as a JSON integer", map[string]any{"prefix": "osd blocklist", "blocklistop": "add", "addr": "127.0.0.6:0/1", "expire": 3600}},
		{"unknown command", map[string]any{"prefix": "osd blocklist frobnicate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.monCommand(tt.name, tt.cmd)
			if !errors.Is(err, fence.ErrRefused) {
				t.Errorf("err = %v, want ErrRefused", err)
			}
			if errnoOf(err) != int(syscall.EINVAL) {
				t.Errorf("errno = %d, want EINVAL", errnoOf(err))
			}
		})
	}

	// A user allowed to read but not to blocklist: the mon refuses Off.
	keyring := filepath.Join(t.TempDir(), "keyring")
	if _, err := e.cluster.Ceph(ctx, "auth", "get-or-create", "client.vigil-ro", "mon", "allow r", "osd", "allow r", "-o", keyring); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "ceph.conf")
	base, err := os.ReadFile(e.cluster.ConfPath())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, append(base, []byte("[client.vigil-ro]\nkeyring = "+keyring+"\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.ConfPath, cfg.User = conf, "vigil-ro"
	_, err = e.device(cfg).Off(ctx)
	if !errors.Is(err, fence.ErrRefused) || errnoOf(err) != int(syscall.EACCES) {
		t.Errorf("Off without blocklist caps = %v (errno %d), want ErrRefused with EACCES", err, errnoOf(err))
	}
	if got := e.listedOn(e.hostIP); len(got) != 0 {
		t.Errorf("refused Off left entries: %v", got)
	}
}

// No mon at the configured address: ErrUnreachable, within the context's
// deadline even though ConnectTimeout is longer.
func TestUnreachableCluster(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "ceph.conf")
	// Port 1 on loopback: nothing listens, connections are refused.
	text := "[global]\nmon host = v2:127.0.0.1:1\nauth client required = none\nlog file = " + filepath.Join(dir, "client.log") + "\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.ConfPath, cfg.Host = conf, "nowhere"
	cfg.HostIPs = []netip.Addr{netip.MustParseAddr("127.0.0.7")}
	cfg.ConnectTimeout = time.Minute
	d, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = d.Off(ctx)
	if !errors.Is(err, fence.ErrUnreachable) {
		t.Errorf("Off = %v, want ErrUnreachable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Off took %v with a 2s deadline", took)
	}
	if _, err := d.Status(ctx); !errors.Is(err, fence.ErrUnreachable) {
		t.Errorf("Status = %v, want ErrUnreachable", err)
	}
}

func TestReleaseRefusesOtherHostsEntries(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ConfPath, cfg.Host = "/nonexistent/ceph.conf", "h"
	cfg.HostIPs = []netip.Addr{netip.MustParseAddr("10.0.1.5")}
	d, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, entries := range [][]string{{"10.0.1.6:0/0"}, {"10.0.1.5:0/0", "10.0.1.50:0/9"}} {
		rec := &fence.BlocklistProof{Host: "h", IPs: []string{"10.0.1.5"}}
		for _, a := range entries {
			rec.Entries = append(rec.Entries, fence.BlocklistEntry{Addr: a, Ours: true})
		}
		rel := fence.Release{Proofs: []fence.Proof{{Driver: Driver, Blocklist: rec}}, Force: true}
		if _, err := d.Release(t.Context(), rel); !errors.Is(err, ErrForeignEntry) {
			t.Errorf("Release(%v) = %v, want ErrForeignEntry", entries, err)
		}
	}
}

// The operator's unfence with --all-entries: every entry on the host's IPs
// goes, whoever made it; an entry on another IP stays.
func TestReleaseAllEntriesKeepsOtherHosts(t *testing.T) {
	e := setup(t, "127.0.0.6")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cfg := e.config(e.image("manual"))
	if _, err := e.device(cfg).Off(ctx); err != nil {
		t.Fatal(err)
	}
	e.addEntry("127.0.0.6:0/777") // someone else's
	other := cfg
	other.Host, other.HostIPs = "other", []netip.Addr{netip.MustParseAddr("127.0.0.7")}
	otherProof, err := e.device(other).Off(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.device(cfg).Release(ctx, fence.Release{AllEntries: true}); !errors.Is(err, fence.ErrNoResetEvidence) {
		t.Errorf("Release of all entries without force = %v, want ErrNoResetEvidence", err)
	}
	out, err := e.device(cfg).Release(ctx, fence.Release{AllEntries: true, Force: true, By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out)
	if got := e.listedOn(netip.MustParseAddr("127.0.0.6")); len(got) != 0 {
		t.Errorf("host entries left: %v", got)
	}
	if got := e.listedOn(netip.MustParseAddr("127.0.0.7")); len(got) == 0 {
		t.Errorf("the other host's entry was removed too")
	}
	e.release(e.device(other), otherProof)
}
