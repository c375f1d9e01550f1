package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-ha/vigil/internal/atomicfile"
)

// Dir is a heartbeat store in a shared directory (NFS-style instance
// storage): one file per host, replaced atomically (write, fsync,
// rename), so a reader sees the old record or the new, never half.
type Dir struct{ Path string }

const dirSuffix = ".beat"

func (d Dir) file(host string) (string, error) {
	if host == "" || strings.ContainsAny(host, "/\\\x00") || host == "." || host == ".." {
		return "", fmt.Errorf("heartbeat: %q is not a host name a file can carry", host)
	}
	return filepath.Join(d.Path, host+dirSuffix), nil
}

// Write replaces b.Host's file.
func (d Dir) Write(_ context.Context, b Beat) error {
	p, err := d.file(b.Host)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(d.Path, filepath.Base(p), encode(b)); err != nil {
		return fmt.Errorf("heartbeat: dir %w", err)
	}
	return nil
}

// Read returns host's record.
func (d Dir) Read(_ context.Context, host string) (Beat, bool, error) {
	p, err := d.file(host)
	if err != nil {
		return Beat{}, false, err
	}
	v, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return Beat{}, false, nil
	}
	if err != nil {
		return Beat{}, false, fmt.Errorf("heartbeat: %w", err)
	}
	b, err := decode(host, v)
	return b, err == nil, err
}

// ReadAll reads every host's file. A file that cannot be parsed fails the
// read (a torn or foreign file is not a heartbeat): the engine holds rather
// than judge on half a picture.
func (d Dir) ReadAll(ctx context.Context) (map[string]Beat, error) {
	ents, err := os.ReadDir(d.Path)
	if err != nil {
		return nil, fmt.Errorf("heartbeat: dir %s: %w", d.Path, err)
	}
	out := make(map[string]Beat, len(ents))
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, dirSuffix) || strings.HasPrefix(name, ".") {
			continue
		}
		host := strings.TrimSuffix(name, dirSuffix)
		b, ok, err := d.Read(ctx, host)
		if err != nil {
			return nil, err
		}
		if ok {
			out[host] = b
		}
	}
	return out, nil
}
