package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
	"golang.org/x/sys/unix"
)

// The isolation responses: what the agent does to its own host when its
// grant has run out (Keeper). They are the only code in vigil that acts on
// the host it runs on.

// StopVMs returns the stop-vms response: destroy (power off, not shut
// down: a guest cut off from the leader must stop writing now) every
// active domain of uri through libvirtd's socket, each within timeout. It
// goes on past a domain it cannot destroy and reports every failure.
func StopVMs(socket, uri string, timeout time.Duration) func() error {
	return func() error {
		conn, err := net.DialTimeout("unix", socket, timeout)
		if err != nil {
			return fmt.Errorf("stop-vms: libvirt socket %s: %w", socket, err)
		}
		defer conn.Close()
		// go-libvirt takes no context: a deadline on the socket bounds
		// every call, and a hung libvirtd fails the response (the
		// watchdog, unfed, resets the host anyway).
		_ = conn.SetDeadline(time.Now().Add(timeout))
		l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(conn))
		if err := l.ConnectToURI(libvirt.ConnectURI(uri)); err != nil {
			return fmt.Errorf("stop-vms: libvirt %s: %w", uri, err)
		}
		defer func() { _ = l.Disconnect() }()
		doms, _, err := l.ConnectListAllDomains(1, libvirt.ConnectListDomainsActive)
		if err != nil {
			return fmt.Errorf("stop-vms: listing domains: %w", err)
		}
		var errs []error
		for _, d := range doms {
			_ = conn.SetDeadline(time.Now().Add(timeout))
			if err := l.DomainDestroy(d); err != nil {
				errs = append(errs, fmt.Errorf("stop-vms: destroying %s: %w", d.Name, err))
			}
		}
		return errors.Join(errs...)
	}
}

// Reboot is the reboot response: sync the file systems, then restart the
// kernel at once (no shutdown of services: they may be what hangs).
func Reboot(context.Context) error {
	unix.Sync()
	return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
}
