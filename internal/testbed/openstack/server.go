package openstack

import (
	"context"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
)

// ServerMicroversion is what the server helpers speak: 2.74 lets an admin
// name the host to boot on; 2.68 dropped evacuate's force; 2.79 is a Zed
// version every Nova since Train knows. (2.95, which keeps an evacuated
// stopped server stopped, needs Antelope computes.)
const ServerMicroversion = "2.79"

// CreateServer boots a server of FlavorName and ImageName without networks
// on host (through the scheduler, which must accept it there) and waits
// until it is ACTIVE. It returns its id.
func (b *Bed) CreateServer(ctx context.Context, name, host string) (string, error) {
	nova, err := b.Compute(ctx, ServerMicroversion)
	if err != nil {
		return "", err
	}
	flavor, err := b.FlavorID(ctx)
	if err != nil {
		return "", err
	}
	image, err := b.ImageID(ctx)
	if err != nil {
		return "", err
	}
	s, err := servers.Create(ctx, nova, servers.CreateOpts{
		Name: name, FlavorRef: flavor, ImageRef: image, Networks: "none", HypervisorHostname: host,
	}, nil).Extract()
	if err != nil {
		return "", fmt.Errorf("openstack testbed: create server %s on %s: %w", name, host, err)
	}
	_, err = b.WaitServer(ctx, s.ID, func(s *servers.Server) error {
		if s.Status != "ACTIVE" || s.Host != host {
			return fmt.Errorf("%s on %q", s.Status, s.Host)
		}
		return nil
	})
	return s.ID, err
}

// WaitServer polls server id until ok accepts it, and returns it. A server
// in ERROR ends the wait at once, with its fault.
func (b *Bed) WaitServer(ctx context.Context, id string, ok func(*servers.Server) error) (*servers.Server, error) {
	nova, err := b.Compute(ctx, ServerMicroversion)
	if err != nil {
		return nil, err
	}
	var last *servers.Server
	err = poll(ctx, 100*time.Millisecond, "server "+id, func() error {
		s, err := servers.Get(ctx, nova, id).Extract()
		if err != nil {
			return err
		}
		last = s
		if s.Status == "ERROR" {
			return fmt.Errorf("server in ERROR: %v", s.Fault)
		}
		return ok(s)
	})
	if last != nil && last.Status == "ERROR" {
		return last, fmt.Errorf("openstack testbed: server %s in ERROR: %s", id, last.Fault.Message)
	}
	return last, err
}

// DeleteServer deletes server id and waits until it is gone.
func (b *Bed) DeleteServer(ctx context.Context, id string) error {
	nova, err := b.Compute(ctx, ServerMicroversion)
	if err != nil {
		return err
	}
	if err := servers.Delete(ctx, nova, id).ExtractErr(); err != nil && !gophercloud.ResponseCodeIs(err, 404) {
		return fmt.Errorf("openstack testbed: delete server %s: %w", id, err)
	}
	return poll(ctx, 200*time.Millisecond, "server "+id+" deleted", func() error {
		_, err := servers.Get(ctx, nova, id).Extract()
		if gophercloud.ResponseCodeIs(err, 404) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
}

// ForcedDown is a services.UpdateOptsBuilder that always sends
// forced_down, false included: gophercloud's UpdateOpts drops a false
// ForcedDown (omitempty), so it cannot lift a force-down.
type ForcedDown bool

// ToServiceUpdateMap implements services.UpdateOptsBuilder.
func (f ForcedDown) ToServiceUpdateMap() (map[string]any, error) {
	return map[string]any{"forced_down": bool(f)}, nil
}

var _ services.UpdateOptsBuilder = ForcedDown(false)

// SetForcedDown forces host's nova-compute down, or lifts that.
func (b *Bed) SetForcedDown(ctx context.Context, host string, down bool) error {
	nova, err := b.Compute(ctx, "2.53")
	if err != nil {
		return err
	}
	s, err := b.Service(ctx, host)
	if err != nil {
		return err
	}
	if _, err := services.Update(ctx, nova, s.ID, ForcedDown(down)).Extract(); err != nil {
		return fmt.Errorf("openstack testbed: forced_down=%v on %s: %w", down, host, err)
	}
	return nil
}

// Evacuate asks Nova to rebuild server id elsewhere: on host, or where the
// scheduler chooses when host is "". It sends the body microversion 2.68+
// accepts ({} or {"host": …}: no onSharedStorage, no force) and judges by
// the HTTP status alone: Nova answers 200 with an empty body, which
// gophercloud's servers.Evacuate reports as the error EOF.
func (b *Bed) Evacuate(ctx context.Context, id, host string) error {
	nova, err := b.Compute(ctx, ServerMicroversion)
	if err != nil {
		return err
	}
	body := map[string]any{}
	if host != "" {
		body["host"] = host
	}
	_, err = nova.Post(ctx, nova.ServiceURL("servers", id, "action"), map[string]any{"evacuate": body}, nil,
		&gophercloud.RequestOpts{OkCodes: []int{200}})
	if err != nil {
		return fmt.Errorf("openstack testbed: evacuate %s: %w", id, err)
	}
	return nil
}
