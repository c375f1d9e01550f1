package nova

import (
	"context"
	"fmt"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
)

// Server reads one server (admin view).
func (c *Client) Server(ctx context.Context, id string) (Server, error) {
	var out Server
	err := c.retry(ctx, "show server "+id, func(ctx context.Context) error {
		var raw rawServer // ExtractInto unwraps {"server": …}
		if err := servers.Get(ctx, c.at(baseMicroversion), id).ExtractInto(&raw); err != nil {
			return err
		}
		out = raw.server()
		return nil
	})
	return out, err
}

// evacuateBody is the evacuate request vigil sends: {} (the scheduler
// chooses) or {"host": …} (the scheduler checks that host). gophercloud's
// servers.EvacuateOpts always sends onSharedStorage, which Nova refuses
// from 2.14 on with a 400 (FIELD-NOTES, trap 1); from 2.29 to 2.67 force
// defaults to false, and 2.68 removed it.
func evacuateBody(target string) map[string]any {
	m := map[string]any{}
	if target != "" {
		m["host"] = target
	}
	return map[string]any{"evacuate": m}
}

// evacuate sends one evacuate request at microversion mv, once: the
// executor retries it itself, after re-reading the fence and the server.
// Success is Nova's 200: its body is empty from 2.14 on, which
// servers.Evacuate reports as the error EOF though Nova accepted it
// (FIELD-NOTES, trap 2), so the body is not read.
func (c *Client) evacuate(ctx context.Context, id, target, mv string) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	sc := c.at(mv)
	_, err := sc.Post(ctx, sc.ServiceURL("servers", id, "action"), evacuateBody(target), nil,
		&gophercloud.RequestOpts{OkCodes: []int{200}})
	return err
}

// action posts a server action with no answer to read (os-stop, reboot),
// retrying transient failures: Nova refuses a repeat that is already done
// or under way with a 409, which the caller reads as the server's state.
func (c *Client) action(ctx context.Context, id, what string, body map[string]any) error {
	return c.retry(ctx, what+" "+id, func(ctx context.Context) error {
		sc := c.at(baseMicroversion)
		_, err := sc.Post(ctx, sc.ServiceURL("servers", id, "action"), body, nil,
			&gophercloud.RequestOpts{OkCodes: []int{202}})
		return err
	})
}

// Stop powers a server off through Nova (os-stop).
func (c *Client) Stop(ctx context.Context, id string) error {
	return c.action(ctx, id, "stop", map[string]any{"os-stop": nil})
}

// HardReboot hard-reboots a server in place.
func (c *Client) HardReboot(ctx context.Context, id string) error {
	return c.action(ctx, id, "hard reboot", map[string]any{"reboot": map[string]any{"type": "HARD"}})
}

// waitServer polls server id every interval until done accepts it or ctx
// ends; it returns the last server read.
func (c *Client) waitServer(ctx context.Context, id string, interval time.Duration, done func(Server) bool) (Server, error) {
	var last Server
	for {
		s, err := c.Server(ctx, id)
		if err == nil {
			last = s
			if done(s) {
				return s, nil
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return last, fmt.Errorf("nova: waiting for server %s (%s on %q, task %q): %w", id, last.Status, last.Host, last.TaskState, err)
		case <-time.After(interval):
		}
	}
}
