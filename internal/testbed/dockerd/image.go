package dockerd

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// BusyboxPath is Debian busybox-static's binary: static, so it is a whole
// root file system by itself.
const BusyboxPath = "/bin/busybox"

// ImportBusybox makes image ref (e.g. "vigil-busybox:test") from a tarball
// holding only BusyboxPath, through the Engine API's import (docker import).
func (d *Daemon) ImportBusybox(ctx context.Context, ref string) error {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return fmt.Errorf("dockerd testbed: %w (Debian's busybox-static)", err)
	}
	if err := static(bin); err != nil {
		return fmt.Errorf("dockerd testbed: %s: %w: install busybox-static", BusyboxPath, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
	}
	if _, err := tw.Write(bin); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	res, err := d.cli.ImageImport(ctx, client.ImageImportSource{Source: &buf, SourceName: "-"}, ref, client.ImageImportOptions{})
	if err != nil {
		return fmt.Errorf("dockerd testbed: import %s: %w", ref, err)
	}
	defer res.Close()
	_, err = io.Copy(io.Discard, res) // the import is done when its progress stream ends
	return err
}

// static reports why an ELF binary is not static (it has an interpreter).
func static(bin []byte) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return err
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("dynamically linked")
		}
	}
	return nil
}

// RunSleeper creates and starts a container called name from image that
// sleeps until stopped, with no network and restart policy restart, and
// returns its id: a stand-in for a Kolla service container.
func (d *Daemon) RunSleeper(ctx context.Context, name, image string, restart container.RestartPolicyMode) (string, error) {
	cr, err := d.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image: image,
			Cmd:   []string{"/bin/busybox", "sleep", "1000000"},
		},
		HostConfig: &container.HostConfig{
			NetworkMode:   "none",
			RestartPolicy: container.RestartPolicy{Name: restart},
		},
	})
	if err != nil {
		return "", fmt.Errorf("dockerd testbed: create %s: %w", name, err)
	}
	if _, err := d.cli.ContainerStart(ctx, cr.ID, client.ContainerStartOptions{}); err != nil {
		return "", fmt.Errorf("dockerd testbed: start %s: %w", name, err)
	}
	return cr.ID, nil
}
