package wire

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name string, b []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

// The files an operator deploys: the controllers' secret file, and each
// host's own key file derived from it; what the host seals, the
// controller opens.
func TestKeyFilesRoundTrip(t *testing.T) {
	secrets := []Secret{testSecret(2), testSecret(1)}
	sp := writeFile(t, "cluster.key", FormatSecrets(secrets), 0o600)
	hb, err := FormatHostKeys(secrets, "cmp1")
	if err != nil {
		t.Fatal(err)
	}
	hp := writeFile(t, "host.key", hb, 0o640)

	loaded, err := LoadSecrets(sp)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := NewClusterKeys(loaded, []string{"cmp1"})
	if err != nil {
		t.Fatal(err)
	}
	hk, err := LoadHostKeys(hp, "cmp1")
	if err != nil {
		t.Fatal(err)
	}
	if hk.Newest().ID != 2 {
		t.Fatalf("the host seals with key %d, want the newest, 2", hk.Newest().ID)
	}
	for _, id := range []uint32{1, 2} {
		k, err := hk.Lookup("cmp1", id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(ck, seal(t, k, "cmp1", Ack{Seq: 1})); err != nil {
			t.Fatalf("key %d from the file: %v", id, err)
		}
	}
}

// Every refusal names the file and says what to do, and never shows a key.
func TestKeyFileErrorsNameTheFileAndTheFix(t *testing.T) {
	secret := testSecret(1)
	hexKey := fmt.Sprintf("%x", secret.b[:])
	host, _ := FormatHostKeys([]Secret{secret}, "cmp1")
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		path  string
		host  string // "" loads the cluster secrets
		wants []string
	}{
		{"missing", filepath.Join(dir, "nope.key"), "", []string{"nope.key does not exist", "create it", "openssl rand -hex 32"}},
		{"world-readable", writeFile(t, "a.key", FormatSecrets([]Secret{secret}), 0o644), "", []string{"a.key has mode 0644", "chmod 0600"}},
		{"group-writable", writeFile(t, "g.key", FormatSecrets([]Secret{secret}), 0o660), "", []string{"mode 0660", "chmod 0600"}},
		{"a directory", dir, "", []string{"not a regular file"}},
		{"short key", writeFile(t, "s.key", []byte("vigil-cluster-secret 1 "+hexKey[:62]+"\n"), 0o600), "", []string{"s.key line 1", "31 bytes", "give 32"}},
		{"long key", writeFile(t, "l.key", []byte("# c\n\nvigil-cluster-secret 1 "+hexKey+"00\n"), 0o600), "", []string{"l.key line 3", "33 bytes"}},
		{"not hex", writeFile(t, "x.key", []byte("vigil-cluster-secret 1 "+strings.Repeat("zz", 32)+"\n"), 0o600), "", []string{"not hex"}},
		{"id 0", writeFile(t, "z.key", []byte("vigil-cluster-secret 0 "+hexKey+"\n"), 0o600), "", []string{"from 1"}},
		{"empty", writeFile(t, "e.key", []byte("# nothing\n"), 0o600), "", []string{"holds no key", "create it"}},
		{"unknown line", writeFile(t, "u.key", []byte(hexKey+"\n"), 0o600), "", []string{"u.key line 1", "vigil-cluster-secret ID HEX"}},
		{"three generations", writeFile(t, "3.key", FormatSecrets([]Secret{testSecret(1), testSecret(2), testSecret(3)}), 0o600), "", []string{"3.key", "two while rotating"}},
		{"host key on a controller", writeFile(t, "h.key", host, 0o600), "", []string{"holds host cmp1's key", "cluster secret"}},
		{"cluster secret on a host", writeFile(t, "c.key", FormatSecrets([]Secret{secret}), 0o600), "cmp1", []string{"only controllers may hold", "its own key file"}},
		{"another host's key", writeFile(t, "o.key", host, 0o600), "cmp2", []string{"holds cmp1's key; this host is cmp2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.host == "" {
				_, err = LoadSecrets(tc.path)
			} else {
				_, err = LoadHostKeys(tc.path, tc.host)
			}
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range append(tc.wants, tc.path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\ndoes not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), hexKey[:16]) {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
}
