package nova

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
)

// serviceUpdate is an os-services update body that sends exactly its
// fields. gophercloud's services.UpdateOpts drops forced_down false
// (omitempty), so it can never lift a force-down: Nova answers 400 "No
// updates were requested" (FIELD-NOTES, trap 3).
type serviceUpdate map[string]any

// ToServiceUpdateMap implements services.UpdateOptsBuilder.
func (u serviceUpdate) ToServiceUpdateMap() (map[string]any, error) { return u, nil }

var _ services.UpdateOptsBuilder = serviceUpdate(nil)

// maxReason is the length Nova keeps of a disabled_reason.
const maxReason = 255

// service is host's one nova-compute service.
func (c *Client) service(ctx context.Context, host string) (Service, error) {
	all, err := c.services(ctx, host)
	if err != nil {
		return Service{}, err
	}
	for _, s := range all {
		if s.Host == host {
			return s, nil
		}
	}
	return Service{}, fmt.Errorf("%w: %s", ErrNoService, host)
}

func (c *Client) updateService(ctx context.Context, s Service, what string, body serviceUpdate) error {
	return c.retry(ctx, what+" "+s.Host, func(ctx context.Context) error {
		_, err := services.Update(ctx, c.at(baseMicroversion), s.ID, body).Extract()
		return err
	})
}

// ForceDown marks host's nova-compute forced down, then disables it with
// reason. That order matters: disabling a service Nova still thinks up
// makes an RPC to it, which hangs until rpc_response_timeout on a dead host;
// once forced down Nova makes none. Either step is skipped when already in
// place (an operator's disable reason is kept). Safe to repeat.
func (c *Client) ForceDown(ctx context.Context, host, reason string) error {
	s, err := c.service(ctx, host)
	if err != nil {
		return err
	}
	if !s.ForcedDown {
		if err := c.updateService(ctx, s, "force down", serviceUpdate{"forced_down": true}); err != nil {
			return err
		}
	}
	if !s.Disabled {
		if len(reason) > maxReason {
			reason = reason[:maxReason]
		}
		if err := c.updateService(ctx, s, "disable", serviceUpdate{"status": "disabled", "disabled_reason": reason}); err != nil {
			return err
		}
	}
	return nil
}

// ReEnable lifts host's force-down (sending forced_down false, which
// gophercloud's UpdateOpts cannot) and then enables it. Safe to repeat.
func (c *Client) ReEnable(ctx context.Context, host string) error {
	s, err := c.service(ctx, host)
	if err != nil {
		return err
	}
	if s.ForcedDown {
		if err := c.updateService(ctx, s, "unset forced down", serviceUpdate{"forced_down": false}); err != nil {
			return err
		}
	}
	if s.Disabled {
		if err := c.updateService(ctx, s, "enable", serviceUpdate{"status": "enabled"}); err != nil {
			return err
		}
	}
	return nil
}
