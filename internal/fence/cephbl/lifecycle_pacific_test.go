//go:build pacific

package cephbl

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/fence"
	"github.com/vigil-ha/vigil/internal/testbed/ceph"
)

// instanceDisk creates the disk Nova would give an instance in pool rbd
// and returns the instance's id.
func (e *env) instanceDisk(prefix string) (string, ImageRef) {
	e.t.Helper()
	img := e.image(prefix) // pool rbd, unique name
	inst := strings.TrimSuffix(img.Name, "_disk")
	ref := novaDisk("rbd", inst+"-i")
	if err := e.cluster.CreateImage(e.t.Context(), ref.Pool, ref.Name, 64<<20); err != nil {
		e.t.Fatal(err)
	}
	return inst + "-i", ref
}

// The disks that matter are the host's instances' (from Nova), and a
// watcher on them that the blocklist does not stop fails the fence. Fails
// before the fix: the driver looked only for watchers on the configured
// IPs, so a writer from a host IP missing from storage_ips (127.0.0.12)
// passed as fenced.
func TestOffTargetChecksTheInstancesDisks(t *testing.T) {
	e := setup(t, "127.0.0.11")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	inst1, disk1 := e.instanceDisk("inst")
	inst2, disk2 := e.instanceDisk("inst")
	victim := e.startWriter(ctx, disk1, "listed-ip", e.hostIP)
	e.startWriter(ctx, disk2, "unlisted-ip", netip.MustParseAddr("127.0.0.12"))
	t.Cleanup(func() { e.clearBlocklist(netip.MustParseAddr("127.0.0.12")) })
	cfg := e.config()
	cfg.Pools, cfg.VerifyTimeout = []string{"rbd"}, 5*time.Second

	proof, err := e.device(cfg).OffTarget(ctx, fence.Target{Instances: []string{inst1}, BootID: "boot-a"})
	if err != nil {
		t.Fatal(err)
	}
	rec := proof.Blocklist
	if diff := cmp.Diff([]string{disk1.String()}, rec.Images); diff != "" {
		t.Errorf("images checked (-want +got):\n%s", diff)
	}
	if !slices.Contains(rec.Owners, victim.Addr()) || rec.BootID != "boot-a" || !rec.Verified || rec.OSDMapEpoch == 0 || rec.PGs == 0 {
		t.Errorf("record = %+v, want the victim as owner, boot id boot-a, verified at an epoch by some PGs", rec)
	}

	_, err = e.device(cfg).OffTarget(ctx, fence.Target{Instances: []string{inst1, inst2}})
	if !errors.Is(err, fence.ErrNotVerified) || !strings.Contains(err.Error(), "127.0.0.12") || !strings.Contains(err.Error(), "not blocklisted") {
		t.Errorf("Off with a writer from an unlisted IP = %v, want ErrNotVerified naming the 127.0.0.12 watcher", err)
	}
	_, err = e.device(e.config()).OffTarget(ctx, fence.Target{Instances: []string{inst1}})
	if !errors.Is(err, fence.ErrNotVerified) || !strings.Contains(err.Error(), "no pool") {
		t.Errorf("Off with instances and no pool = %v, want ErrNotVerified saying no pool is configured", err)
	}
}

// Unfence removes only what vigil added: not another tool's entry on the
// host's IP, not an entry the record claims whose expiry shows someone else
// made it; an entry whose add reply was lost is recognised by its expiry.
func TestReleaseRemovesOnlyVigilsEntries(t *testing.T) {
	e := setup(t, "127.0.0.13")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	img := e.image("release")
	e.startWriter(ctx, img, "release", e.hostIP)
	d := e.device(e.config(img))
	proof, err := d.Off(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.addEntry("127.0.0.13:0/4242") // another tool's, after the fence
	e.addEntry("127.0.0.13:0/5555") // and one the record will wrongly claim
	rec := cloneRecord(proof.Blocklist)
	for i := range rec.Entries {
		rec.Entries[i].Until = time.Time{} // every reply lost: match by SentAt+Expire
	}
	rec.Entries = append(rec.Entries, fence.BlocklistEntry{Addr: "127.0.0.13:0/5555", Ours: true, Expire: 24 * time.Hour, SentAt: rec.FencedAt})
	proof.Blocklist = rec

	if _, err := e.device(e.config()).Release(ctx, fence.Release{Proofs: []fence.Proof{proof}, BootID: "boot-x"}); !errors.Is(err, fence.ErrNoResetEvidence) {
		t.Errorf("Release of a fence recorded without a boot id, not forced = %v, want ErrNoResetEvidence", err)
	}
	out := e.release(e.device(e.config()), proof)
	t.Log(out)
	if diff := cmp.Diff([]string{"127.0.0.13:0/4242", "127.0.0.13:0/5555"}, e.listedOn(e.hostIP)); diff != "" {
		t.Errorf("entries left after Release (-want +got):\n%s", diff)
	}
	if !strings.Contains(out, "forced by test") || !strings.Contains(out, "kept [127.0.0.13:0/5555]") {
		t.Errorf("Release said %q, want the reason and the kept entry", out)
	}
}

// A new boot id lifts the fence; the same one does not.
func TestReleaseNeedsANewBoot(t *testing.T) {
	e := setup(t, "127.0.0.14")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cfg := e.config()
	cfg.Pools = []string{"rbd"}
	inst, _ := e.instanceDisk("boot")
	proof, err := e.device(cfg).OffTarget(ctx, fence.Target{Instances: []string{inst}, BootID: "boot-1"})
	if err != nil {
		t.Fatal(err)
	}
	d := e.device(cfg)
	if _, err := d.Release(ctx, fence.Release{Proofs: []fence.Proof{proof}, BootID: "boot-1"}); !errors.Is(err, fence.ErrNoResetEvidence) {
		t.Errorf("Release with the fenced boot id = %v, want ErrNoResetEvidence", err)
	}
	if got := e.listedOn(e.hostIP); len(got) == 0 {
		t.Error("a refused Release removed entries")
	}
	out, err := d.Release(ctx, fence.Release{Proofs: []fence.Proof{proof}, BootID: "boot-2"})
	if err != nil || !strings.Contains(out, "new boot: boot id boot-2") {
		t.Errorf("Release after a reboot = %q, %v; want it lifted, saying new boot", out, err)
	}
	if got := e.listedOn(e.hostIP); len(got) != 0 {
		t.Errorf("entries left: %v", got)
	}
}

// An entry someone else made with too little life left is not what the
// fence relies on: Off adds vigil's own range entry for the IP. Fails
// before the fix: Off accepted a 1 h entry (the proof said existing=…), so
// the fence lapsed within the hour.
func TestOffCoversAShortInheritedEntry(t *testing.T) {
	e := setup(t, "127.0.0.15")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	e.addEntry("127.0.0.15:0/0") // 1 h, e.g. by hand
	t.Cleanup(func() { e.cluster.Ceph(context.Background(), "osd", "blocklist", "range", "rm", "127.0.0.15/32") })
	proof, err := e.device(e.config()).Off(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(proof.Detail)
	var cover *fence.BlocklistEntry
	for i, en := range proof.Blocklist.Entries {
		if en.Range && en.Addr == "127.0.0.15/32" {
			cover = &proof.Blocklist.Entries[i]
		}
	}
	if cover == nil || !cover.Ours || time.Until(cover.Until) < 23*time.Hour {
		t.Fatalf("entries %+v: want vigil's own 127.0.0.15/32 range with about 24 h", proof.Blocklist.Entries)
	}
	e.release(e.device(e.config()), proof)
	if diff := cmp.Diff([]string{"127.0.0.15:0/0"}, e.listedOn(e.hostIP)); diff != "" {
		t.Errorf("after Release (-want +got):\n%s", diff)
	}
	if rs := e.listedRanges(); slices.Contains(rs, "127.0.0.15:0/32") {
		t.Errorf("vigil's range is still listed: %v", rs)
	}
}

// Renew extends vigil's entries (Ceph keeps an entry's first expiry, so it
// removes and adds each one under a cover of the other form), and never
// lets the host in meanwhile: a new client on the host that keeps trying
// to take the lock during the renewal never writes.
func TestRenewExtendsEntriesWithoutAGap(t *testing.T) {
	e := setup(t, "127.0.0.16")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	img := e.image("renew")
	victim := e.startWriter(ctx, img, "renew-victim", e.hostIP)
	proof, err := e.device(e.config(img)).Off(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := victim.Stop(); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(img)
	cfg.Expire, cfg.MinLifetime = 48*time.Hour, 30*time.Hour // every 24 h entry is due
	d := e.device(cfg)

	wcfg := e.cluster.WriterConfig(e.writer, img.Name, "renew-returning")
	wcfg.SourceIP, wcfg.AcquireTimeout = e.hostIP, time.Minute
	returning, err := ceph.StartWriter(wcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer returning.Stop()

	start := time.Now()
	renewed, err := d.Renew(ctx, proof)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Renew took %v: %s", time.Since(start), renewed.Detail)
	listed := e.listed()
	for _, en := range renewed.Blocklist.Entries {
		if !en.Ours {
			continue
		}
		if left := time.Until(listed[en.Addr]); left < 47*time.Hour {
			t.Errorf("%s expires in %v after Renew, want about 48 h", en.Addr, left)
		}
		if left := time.Until(en.Until); left < 47*time.Hour {
			t.Errorf("renewed record has %s until %v, want about 48 h", en.Addr, en.Until)
		}
	}
	if rs := e.listedRanges(); len(rs) != 0 {
		t.Errorf("a temporary cover is still listed: %v", rs)
	}
	// The returning client tried the lock all along; it must never write.
	if err := returning.Stop(); err != nil {
		t.Error(err)
	}
	for _, r := range returning.Records() {
		if r.Event == ceph.EventWrite && r.OK {
			t.Fatalf("a client on the fenced host wrote during the renewal (write %d at %v)", r.Seq, r.Time)
		}
	}
	again, err := d.Renew(ctx, renewed)
	if err != nil || again.Detail == "" {
		t.Errorf("second Renew = %v, %v", again, err)
	}
	e.release(d, again)
	if got := e.listedOn(e.hostIP); len(got) != 0 {
		t.Errorf("entries left after Release of the renewed record: %v", got)
	}
	if _, err := d.Renew(ctx, fence.Proof{Driver: "ipmi"}); !errors.Is(err, fence.ErrNotMine) {
		t.Errorf("Renew of another device's proof = %v, want ErrNotMine", err)
	}
}

// cephUser creates a cephx user with caps and returns a ceph.conf that has
// its keyring.
func (e *env) cephUser(name string, caps ...string) string {
	e.t.Helper()
	dir := e.t.TempDir()
	keyring := filepath.Join(dir, "keyring")
	args := append([]string{"auth", "get-or-create", "client." + name}, caps...)
	if _, err := e.cluster.Ceph(e.t.Context(), append(args, "-o", keyring)...); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { e.cluster.Ceph(context.Background(), "auth", "rm", "client."+name) })
	base, err := os.ReadFile(e.cluster.ConfPath())
	if err != nil {
		e.t.Fatal(err)
	}
	conf := filepath.Join(dir, "ceph.conf")
	if err := os.WriteFile(conf, append(base, []byte("[client."+name+"]\nkeyring = "+keyring+"\n")...), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return conf
}

// The documented caps are enough for every call; the health check proves
// them. Fails before the fix: Status of a user who may not blocklist read
// "on" with no error, so a broken fence passed the health check.
func TestDedicatedUserCaps(t *testing.T) {
	e := setup(t, "127.0.0.17")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	inst, disk := e.instanceDisk("caps")
	w := e.startWriter(ctx, disk, "caps", e.hostIP)
	cfg := e.config()
	cfg.Pools = []string{"rbd"}
	cfg.ConfPath = e.cephUser("vigil-fence", "mon", `allow r, allow command "osd blocklist"`, "osd", "profile rbd-read-only pool=rbd")
	cfg.User = DefaultUser
	d := e.device(cfg)
	if st, err := d.Status(ctx); err != nil || st != fence.StatusOn {
		t.Fatalf("Status as vigil-fence = %v, %v; want on", st, err)
	}
	proof, err := d.OffTarget(ctx, fence.Target{Instances: []string{inst}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(proof.Blocklist.Owners, w.Addr()) {
		t.Errorf("owners %v lack the writer %s", proof.Blocklist.Owners, w.Addr())
	}
	renewCfg := cfg
	renewCfg.Expire, renewCfg.MinLifetime = 48*time.Hour, 30*time.Hour
	if proof, err = e.device(renewCfg).Renew(ctx, proof); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Release(ctx, fence.Release{Proofs: []fence.Proof{proof}, Force: true}); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name string
		caps []string
	}{
		{"read only", []string{"mon", "allow r", "osd", "allow r"}},
		{"no pool read", []string{"mon", `allow r, allow command "osd blocklist"`}},
	} {
		ro := cfg
		ro.User = "vigil-" + strings.ReplaceAll(tt.name, " ", "-")
		ro.ConfPath = e.cephUser(ro.User, tt.caps...)
		if _, err := e.device(ro).Status(ctx); !errors.Is(err, fence.ErrRefused) {
			t.Errorf("%s: Status = %v, want ErrRefused naming the missing caps", tt.name, err)
		} else {
			t.Logf("%s: %v", tt.name, err)
		}
	}
}

// A leader blocklists the host and dies before its record is written; its
// successor fences again and finds the entries listed. With the incident's
// opening (Target.Since) it takes them as vigil's, so the rejoin lifts them;
// an entry made before the incident opened, or with another expiry (a
// librbd lock break's hour), stays someone else's. Fails before the fix:
// the successor's record claimed none, and its Release left the host
// blocklisted for 24 h after it came back clean.
func TestOffClaimsAnAddOfTheIncidentWhoseRecordWasLost(t *testing.T) {
	e := setup(t, "127.0.0.19")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cfg := e.config()
	opened := time.Now()
	if _, err := e.device(cfg).OffTarget(ctx, fence.Target{Since: opened}); err != nil { // the dead leader's: its proof is lost
		t.Fatal(err)
	}
	e.addEntry("127.0.0.19:0/7777") // librbd's lock break: a 1 h expiry

	// A successor for an incident opened later (another incident) does
	// not claim them.
	later, err := e.device(cfg).OffTarget(ctx, fence.Target{Since: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := EntriesFromProof(later); len(got) != 0 {
		t.Errorf("an Off for an incident opened after the entries were made claims %v, want none", got)
	}

	successor := e.device(cfg)
	proof, err := successor.OffTarget(ctx, fence.Target{Since: opened})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := EntriesFromProof(proof)
	if diff := cmp.Diff([]string{"127.0.0.19:0/0"}, got); diff != "" {
		t.Errorf("entries claimed by the successor (-want +got):\n%s", diff)
	}
	// The record travels through the journal as JSON and comes back.
	b, err := fence.MarshalProofs([]fence.Proof{proof})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := fence.UnmarshalProofs(b)
	if err != nil {
		t.Fatal(err)
	}
	e.release(e.device(cfg), stored[0])
	if diff := cmp.Diff([]string{"127.0.0.19:0/7777"}, e.listedOn(e.hostIP)); diff != "" {
		t.Errorf("entries left after the rejoin's Release (-want +got):\n%s", diff)
	}
}

// The same loss, and the host answers before anyone fences again: the
// incident is aborted and its unfence has no record at all, only when the
// incident opened. Release lifts the entries made since with vigil's
// expiry, and nothing was moved, so no reset evidence is needed. Fails
// before the fix: Release refused for want of a record (ErrNoRecord).
func TestReleaseLiftsAnUnrecordedAddOfTheIncident(t *testing.T) {
	e := setup(t, "127.0.0.20")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cfg := e.config()
	opened := time.Now()
	if _, err := e.device(cfg).OffTarget(ctx, fence.Target{Since: opened}); err != nil { // its proof is lost
		t.Fatal(err)
	}
	e.addEntry("127.0.0.20:0/7777") // librbd's lock break: a 1 h expiry
	out, err := e.device(cfg).Release(ctx, fence.Release{Since: opened, Unmoved: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "no instance was started elsewhere") {
		t.Errorf("Release said %q, want the reason: nothing moved", out)
	}
	if diff := cmp.Diff([]string{"127.0.0.20:0/7777"}, e.listedOn(e.hostIP)); diff != "" {
		t.Errorf("entries left (-want +got):\n%s", diff)
	}
}
