package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/internal/wire"
)

func runW(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(args, Env{Stdout: &o, Stderr: &e, Getenv: func(string) string { return "" }, ReadFile: os.ReadFile,
		WriteFile: func(p string, b []byte) error { return os.WriteFile(p, b, 0o600) }})
	return code, o.String(), e.String()
}

// The whole life of the keys: a secret, host files that load as each
// host's own keys, a rotation that holds two generations and refuses a
// third, a retire back to one; and no command overwrites a secret.
func TestKeysLifecycle(t *testing.T) {
	dir := t.TempDir()
	sec := filepath.Join(dir, "cluster.secret")
	if code, _, e := runW(t, "keys", "new", "--secrets", sec); code != 0 {
		t.Fatalf("keys new: exit %d: %s", code, e)
	}
	if code, _, e := runW(t, "keys", "new", "--secrets", sec); code == 0 || !strings.Contains(e, "exists") {
		t.Errorf("keys new over an existing secret: exit %d, %q; want a refusal", code, e)
	}
	if code, _, e := runW(t, "keys", "host", "cmp1", "cmp2", "--secrets", sec, "--out", dir); code != 0 {
		t.Fatalf("keys host: exit %d: %s", code, e)
	}
	hk, err := wire.LoadHostKeys(filepath.Join(dir, "cmp1.key"), "cmp1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.LoadHostKeys(filepath.Join(dir, "cmp2.key"), "cmp1"); err == nil {
		t.Error("cmp2's key file loads as cmp1's")
	}
	hk2, err := wire.LoadHostKeys(filepath.Join(dir, "cmp2.key"), "cmp2")
	if err != nil {
		t.Fatal(err)
	}
	if p1, p2 := hk.PoolKeys(), hk2.PoolKeys(); len(p1) != 1 || len(p2) != 1 || !bytes.Equal(p1[0].Bytes(), p2[0].Bytes()) {
		t.Errorf("cmp1's and cmp2's files hold pool keys %v and %v; want the same one", p1, p2)
	}
	if code, _, e := runW(t, "keys", "rotate", "--secrets", sec); code != 0 {
		t.Fatalf("keys rotate: exit %d: %s", code, e)
	}
	if code, _, e := runW(t, "keys", "rotate", "--secrets", sec); code == 0 || !strings.Contains(e, "under way") {
		t.Errorf("a second rotate: exit %d, %q; want a refusal naming the rotation under way", code, e)
	}
	secrets, err := wire.LoadSecrets(sec)
	if err != nil || len(secrets) != 2 {
		t.Fatalf("after rotate: %d secrets, %v", len(secrets), err)
	}
	// Controllers with both generations still open what cmp1's old key seals.
	ck, err := wire.NewClusterKeys(secrets, []string{"cmp1"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := wire.Seal(hk.Newest(), "cmp1", wire.Report{Network: "mgmt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.Open(ck, b); err != nil {
		t.Errorf("during the rotation the controllers refuse the old generation: %v", err)
	}
	if code, _, e := runW(t, "keys", "retire", "--secrets", sec); code != 0 {
		t.Fatalf("keys retire: exit %d: %s", code, e)
	}
	if secrets, err := wire.LoadSecrets(sec); err != nil || len(secrets) != 1 || secrets[0].ID != 2 {
		t.Errorf("after retire: %v, %v; want generation 2 alone", secrets, err)
	}
	if code, _, e := runW(t, "keys", "retire", "--secrets", sec); code == 0 || !strings.Contains(e, "nothing to retire") {
		t.Errorf("retire with one generation: exit %d, %q", code, e)
	}
	if code, _, e := runW(t, "keys", "host", "--secrets", sec, "--out", dir); code != 2 || !strings.Contains(e, "at least one host") {
		t.Errorf("keys host without hosts: exit %d, %q", code, e)
	}
}

// vigil agent --check validates the file and the key and says what it read;
// a key file of another host is refused.
func TestAgentCheck(t *testing.T) {
	dir := t.TempDir()
	sec := filepath.Join(dir, "cluster.secret")
	if code, _, e := runW(t, "keys", "new", "--secrets", sec); code != 0 {
		t.Fatal(e)
	}
	if code, _, e := runW(t, "keys", "host", "cmp1", "cmp2", "--secrets", sec, "--out", dir); code != 0 {
		t.Fatal(e)
	}
	file := filepath.Join(dir, "agent.yaml")
	write := func(key string) {
		doc := "host: cmp1\nnetworks:\n  - {name: mgmt, listen: 10.0.0.11:7401, controllers: [10.0.0.1:7400]}\nkey_file: " + key + "\nheartbeat: {dir: /srv/hb}\n"
		if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "cmp1.key"))
	if code, out, e := runW(t, "agent", "--config", file, "--check"); code != 0 || !strings.Contains(out, "agent of cmp1, 1 network(s), key generation 1") ||
		!strings.Contains(out, "peer pool on mgmt: 10.0.0.11:7402") {
		t.Errorf("agent --check: exit %d, %q, %q", code, out, e)
	}
	// libvirt's hook: a warning while it does not run vigil gate, the
	// gate named once it does.
	hook := filepath.Join(dir, "qemu")
	doc := "host: cmp1\nnetworks:\n  - {name: mgmt, listen: 10.0.0.11:7401, controllers: [10.0.0.1:7400]}\nkey_file: " + filepath.Join(dir, "cmp1.key") + "\nheartbeat: {dir: /srv/hb}\nlibvirt: {hook: " + hook + "}\n"
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, e := runW(t, "agent", "--config", file, "--check"); code != 0 || !strings.Contains(e, "does not run vigil gate") {
		t.Errorf("agent --check without the hook: exit %d, %q; want a warning", code, e)
	}
	if err := os.WriteFile(hook, []byte("#!/bin/sh\nexec /usr/local/bin/vigil gate --socket /var/lib/vigil-agent/gate.sock -- \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, out, e := runW(t, "agent", "--config", file, "--check"); code != 0 || !strings.Contains(out, "runs vigil gate") || e != "" {
		t.Errorf("agent --check with the hook: exit %d, %q, %q", code, out, e)
	}
	write(filepath.Join(dir, "cmp2.key"))
	if code, _, e := runW(t, "agent", "--config", file, "--check"); code == 0 || !strings.Contains(e, "cmp2") {
		t.Errorf("agent --check with cmp2's key: exit %d, %q; want a refusal naming it", code, e)
	}
	// The watchdog device is looked at, never opened (that would start its
	// timer): a missing node is named.
	doc = "host: cmp1\nnetworks:\n  - {name: mgmt, listen: 10.0.0.11:7401, controllers: [10.0.0.1:7400]}\nkey_file: " + filepath.Join(dir, "cmp1.key") + "\nheartbeat: {dir: /srv/hb}\nwatchdog: {device: " + filepath.Join(dir, "no-watchdog") + "}\n"
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, e := runW(t, "agent", "--config", file, "--check"); code == 0 || !strings.Contains(e, "watchdog.device") {
		t.Errorf("agent --check with no watchdog device: exit %d, %q; want a refusal naming watchdog.device", code, e)
	}
}
