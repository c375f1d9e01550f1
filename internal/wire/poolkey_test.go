package wire

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// Every host's file holds the same pool key of each generation, and no
// host key; a file from before the pools loads with none.
func TestPoolKeysInHostFiles(t *testing.T) {
	secrets := []Secret{testSecret(2), testSecret(1)}
	var pools [][]PoolKey
	for _, h := range []string{"cmp1", "cmp2"} {
		b, err := FormatHostKeys(secrets, h)
		if err != nil {
			t.Fatal(err)
		}
		hk, err := LoadHostKeys(writeFile(t, h+".key", b, 0o600), h)
		if err != nil {
			t.Fatal(err)
		}
		p := hk.PoolKeys()
		if len(p) != 2 || p[0].ID != 2 || p[1].ID != 1 {
			t.Fatalf("%s: pool keys %v, want generations 2 and 1, newest first", h, p)
		}
		for i, k := range p {
			if hk := secrets[i].hostKey(h); bytes.Equal(k.Bytes(), hk[:]) {
				t.Fatalf("%s: the pool key of generation %d is its host key", h, k.ID)
			}
		}
		pools = append(pools, p)
	}
	for i := range pools[0] {
		if !bytes.Equal(pools[0][i].Bytes(), pools[1][i].Bytes()) {
			t.Fatalf("generation %d: cmp1 and cmp2 hold different pool keys", pools[0][i].ID)
		}
	}
	if bytes.Equal(pools[0][0].Bytes(), pools[0][1].Bytes()) {
		t.Fatal("two generations share a pool key")
	}
	if s := fmt.Sprintf("%v %x %s", pools[0][0], pools[0][0], pools[0][0]); strings.Contains(s, fmt.Sprintf("%x", pools[0][0].b[:4])) || !strings.Contains(s, "pool-key#2") {
		t.Errorf("a pool key printed as %q", s)
	}

	old := fmt.Sprintf("vigil-host-key cmp1 1 %064x\n", 7)
	hk, err := LoadHostKeys(writeFile(t, "old.key", []byte(old), 0o600), "cmp1")
	if err != nil {
		t.Fatalf("a file from before the pools: %v", err)
	}
	if len(hk.PoolKeys()) != 0 || hk.Newest().ID != 1 {
		t.Errorf("old file: pool keys %v, newest %v", hk.PoolKeys(), hk.Newest())
	}
}

// A pool key on a controller, a file of pool keys only, and pool keys of
// other generations than the host keys are refused, naming the file.
func TestPoolKeyFileErrors(t *testing.T) {
	pool := fmt.Sprintf("vigil-pool-key 1 %064x\n", 8)
	for _, tc := range []struct {
		name, body, host, want string
	}{
		{"on a controller", fmt.Sprintf("vigil-cluster-secret 1 %064x\n", 7) + pool, "", "holds a pool key"},
		{"pool key only", pool, "cmp1", "no vigil-host-key line"},
		{"other generation", fmt.Sprintf("vigil-host-key cmp1 2 %064x\n", 7) + pool, "cmp1", "generations [2] and pool keys of [1]"},
		{"one missing", fmt.Sprintf("vigil-host-key cmp1 2 %064x\nvigil-host-key cmp1 1 %064x\n", 7, 9) + pool, "cmp1", "generations [2 1] and pool keys of [1]"},
		{"three", fmt.Sprintf("vigil-host-key cmp1 1 %064x\n", 7) + pool + strings.Replace(pool, " 1 ", " 2 ", 1) + strings.Replace(pool, " 1 ", " 3 ", 1), "cmp1", "3 pool key generations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "k.key", []byte(tc.body), 0o600)
			var err error
			if tc.host == "" {
				_, err = LoadSecrets(p)
			} else {
				_, err = LoadHostKeys(p, tc.host)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("err = %v; want it to say %q and name %s", err, tc.want, p)
			}
			if strings.Contains(err.Error(), fmt.Sprintf("%064x", 8)[:40]) {
				t.Errorf("the error shows the key: %v", err)
			}
		})
	}
}
