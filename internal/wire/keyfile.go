package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Key files are text, one generation a line, '#' comments:
//
//	vigil-cluster-secret ID HEX       the controllers' file
//	vigil-host-key HOST ID HEX        one host's file: its keys,
//	vigil-pool-key ID HEX             and the peer pools' key of each generation
//
// ID is the generation (1 and up), HEX 64 hex digits (32 bytes). A file
// holds one generation, or two while rotating. It must not be readable by
// others: 0600, or 0640 with a group the service runs as. A host's file
// written before the pools existed has no vigil-pool-key line and still
// loads (HostKeys.PoolKeys is empty).

const (
	secretTag  = "vigil-cluster-secret"
	hostKeyTag = "vigil-host-key"
	poolKeyTag = "vigil-pool-key"
)

// LoadSecrets reads the controllers' cluster secret file.
func LoadSecrets(path string) ([]Secret, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	return parseSecrets(path, b)
}

// LoadHostKeys reads host's key file: what its agent holds.
func LoadHostKeys(path, host string) (HostKeys, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return HostKeys{}, err
	}
	return parseHostKeys(path, host, b)
}

// FormatSecrets is the cluster secret file holding secrets.
func FormatSecrets(secrets []Secret) []byte {
	var b bytes.Buffer
	b.WriteString("# vigil cluster secret: controllers only (docs/architecture.md, \"The wire\")\n")
	for _, s := range secrets {
		fmt.Fprintf(&b, "%s %d %s\n", secretTag, s.ID, hex.EncodeToString(s.b[:]))
	}
	return b.Bytes()
}

// FormatHostKeys is host's key file, derived from secrets: hand it to that
// host alone.
func FormatHostKeys(secrets []Secret, host string) ([]byte, error) {
	if _, err := HostKeysFrom(secrets, host); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# vigil host key of %s: this host only\n", host)
	for _, s := range secrets {
		k := s.hostKey(host)
		fmt.Fprintf(&b, "%s %s %d %s\n", hostKeyTag, host, s.ID, hex.EncodeToString(k[:]))
	}
	b.WriteString("# the peer pools' key: every host holds it (docs/architecture.md, \"Peer pools\")\n")
	for _, s := range secrets {
		k := s.poolKey()
		fmt.Fprintf(&b, "%s %d %s\n", poolKeyTag, k.ID, hex.EncodeToString(k.b[:]))
	}
	return b.Bytes(), nil
}

const createHint = "create it with mode 0600: on a controller one line `vigil-cluster-secret 1 <64 hex digits>` (e.g. from `openssl rand -hex 32`); on a host the lines wire.FormatHostKeys derives for it"

func readKeyFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("wire: key file %s does not exist: %s", path, createHint)
	}
	if err != nil {
		return nil, fmt.Errorf("wire: key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("wire: key file %s is not a regular file (%v)", path, st.Mode().Type())
	}
	if perm := st.Mode().Perm(); perm&0o027 != 0 {
		return nil, fmt.Errorf("wire: key file %s has mode %#o: others may read or change it; run chmod 0600 %s (or 0640 with a group the service runs as)", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wire: key file %s: %w", path, err)
	}
	return b, nil
}

// keyLine is one parsed line.
type keyLine struct {
	tag, host string
	id        uint32
	key       [keySize]byte
}

// parseKeyLines reads the lines of a key file. Errors name the file and the
// line, never a key.
func parseKeyLines(path string, b []byte) ([]keyLine, error) {
	var out []keyLine
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		at := fmt.Sprintf("wire: key file %s line %d", path, i+1)
		var l keyLine
		var id, key string
		switch {
		case f[0] == secretTag && len(f) == 3:
			l.tag, id, key = f[0], f[1], f[2]
		case f[0] == hostKeyTag && len(f) == 4:
			l.tag, l.host, id, key = f[0], f[1], f[2], f[3]
		case f[0] == poolKeyTag && len(f) == 3:
			l.tag, id, key = f[0], f[1], f[2]
		default:
			return nil, fmt.Errorf("%s: want `%s ID HEX`, `%s HOST ID HEX` or `%s ID HEX`", at, secretTag, hostKeyTag, poolKeyTag)
		}
		n, err := strconv.ParseUint(id, 10, 32)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%s: key id must be a number from 1 to %d", at, uint32(1<<32-1))
		}
		l.id = uint32(n)
		if len(key)%2 != 0 || strings.IndexFunc(key, func(r rune) bool { return !strings.ContainsRune("0123456789abcdefABCDEF", r) }) >= 0 {
			return nil, fmt.Errorf("%s: the key is not hex digits", at)
		}
		if len(key) != 2*keySize {
			return nil, fmt.Errorf("%s: the key is %d bytes; give %d (%d hex digits, e.g. from `openssl rand -hex 32`)", at, len(key)/2, keySize, 2*keySize)
		}
		_, _ = hex.Decode(l.key[:], []byte(key)) // checked above
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("wire: key file %s holds no key: %s", path, createHint)
	}
	return out, nil
}

func parseSecrets(path string, b []byte) ([]Secret, error) {
	lines, err := parseKeyLines(path, b)
	if err != nil {
		return nil, err
	}
	var out []Secret
	for _, l := range lines {
		switch l.tag {
		case hostKeyTag:
			return nil, fmt.Errorf("wire: key file %s holds host %s's key; a controller needs the cluster secret (%s lines)", path, l.host, secretTag)
		case poolKeyTag:
			return nil, fmt.Errorf("wire: key file %s holds a pool key (a host's file); a controller needs the cluster secret (%s lines)", path, secretTag)
		}
		out = append(out, Secret{ID: l.id, b: l.key})
	}
	if out, err = ring("cluster secret", out, func(s Secret) uint32 { return s.ID }); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return out, nil
}

func parseHostKeys(path, host string, b []byte) (HostKeys, error) {
	lines, err := parseKeyLines(path, b)
	if err != nil {
		return HostKeys{}, err
	}
	h := HostKeys{host: host}
	for _, l := range lines {
		switch {
		case l.tag == poolKeyTag:
			h.pool = append(h.pool, PoolKey{ID: l.id, b: l.key})
			continue
		case l.tag != hostKeyTag:
			return HostKeys{}, fmt.Errorf("wire: key file %s holds the cluster secret, which only controllers may hold: give %s its own key file (%s lines, wire.FormatHostKeys) and remove this one", path, host, hostKeyTag)
		case l.host != host:
			return HostKeys{}, fmt.Errorf("wire: key file %s holds %s's key; this host is %s", path, l.host, host)
		}
		h.keys = append(h.keys, newKey(l.id, l.key))
	}
	if len(h.keys) == 0 {
		return HostKeys{}, fmt.Errorf("wire: key file %s holds pool keys but no %s line: write it again (vigil keys host %s)", path, hostKeyTag, host)
	}
	if h.keys, err = ring("host key", h.keys, func(k Key) uint32 { return k.ID }); err != nil {
		return HostKeys{}, fmt.Errorf("key file %s: %w", path, err)
	}
	if len(h.pool) == 0 {
		return h, nil // written before the pools
	}
	if h.pool, err = ring("pool key", h.pool, func(k PoolKey) uint32 { return k.ID }); err != nil {
		return HostKeys{}, fmt.Errorf("key file %s: %w", path, err)
	}
	if !slices.Equal(h.ids(), poolIDs(h.pool)) {
		return HostKeys{}, fmt.Errorf("wire: key file %s holds host keys of generations %v and pool keys of %v; they come together: write it again (vigil keys host %s)", path, h.ids(), poolIDs(h.pool), host)
	}
	return h, nil
}
