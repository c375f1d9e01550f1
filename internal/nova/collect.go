package nova

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"
	"github.com/gophercloud/gophercloud/v2/pagination"

	"github.com/vigil-ha/vigil/internal/decision"
)

// Service is one nova-compute service as Nova shows it.
type Service struct {
	ID             string // a UUID (microversion 2.53)
	Host           string
	Zone           string
	Up             bool // Nova's "state": a heartbeat within service_down_time, and not forced down
	ForcedDown     bool
	Disabled       bool
	DisabledReason string
	UpdatedAt      time.Time // the last heartbeat Nova recorded
}

// Server is one server as an admin sees it across projects.
type Server struct {
	ID, Name, Project string
	Host              string // OS-EXT-SRV-ATTR:host; "" while unscheduled
	Status            string // ACTIVE, SHUTOFF, ERROR, REBUILD, ...
	VMState           string // OS-EXT-STS:vm_state
	TaskState         string // OS-EXT-STS:task_state; "" when none
	PowerState        int    // OS-EXT-STS:power_state: 0 no state, 1 running, 3 paused, 4 shutdown, 6 crashed, 7 suspended
}

// Pass is one read of Nova: every nova-compute service and every server.
type Pass struct {
	At       time.Time // when the read began
	Took     time.Duration
	Requests int // HTTP requests it made (one for the services, one per page of servers)
	Services []Service
	Servers  []Server
}

// Collect reads Nova once: one services call, and one paged servers call
// across all projects. Cheap enough for hundreds of hosts: the cost grows
// with the number of servers (one request per PageSize of them), not with
// the number of hosts.
func (c *Client) Collect(ctx context.Context) (Pass, error) {
	p := Pass{At: time.Now()}
	svcs, err := c.services(ctx, "")
	if err != nil {
		return Pass{}, err
	}
	p.Services, p.Requests = svcs, 1
	pages := 0
	err = c.retry(ctx, "list servers", func(ctx context.Context) error {
		p.Servers, pages = p.Servers[:0], 0
		return servers.List(c.at(baseMicroversion), servers.ListOpts{AllTenants: true, Limit: c.cfg.PageSize}).EachPage(ctx,
			func(_ context.Context, page pagination.Page) (bool, error) {
				pages++
				var raw []rawServer
				if err := servers.ExtractServersInto(page, &raw); err != nil {
					return false, err
				}
				for _, r := range raw {
					p.Servers = append(p.Servers, r.server())
				}
				return true, nil
			})
	})
	if err != nil {
		return Pass{}, err
	}
	p.Requests += pages
	p.Took = time.Since(p.At)
	return p, nil
}

// rawServer is the part of a server's JSON vigil reads: decoding only these
// keeps a pass cheap.
type rawServer struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	TenantID   string `json:"tenant_id"`
	Status     string `json:"status"`
	Host       string `json:"OS-EXT-SRV-ATTR:host"`
	VMState    string `json:"OS-EXT-STS:vm_state"`
	TaskState  string `json:"OS-EXT-STS:task_state"`
	PowerState int    `json:"OS-EXT-STS:power_state"`
}

func (r rawServer) server() Server {
	return Server{ID: r.ID, Name: r.Name, Project: r.TenantID, Host: r.Host, Status: r.Status,
		VMState: r.VMState, TaskState: r.TaskState, PowerState: r.PowerState}
}

// services lists the nova-compute services, of one host or ("") all.
func (c *Client) services(ctx context.Context, host string) ([]Service, error) {
	var out []Service
	err := c.retry(ctx, "list nova-compute services", func(ctx context.Context) error {
		pages, err := services.List(c.at(baseMicroversion), services.ListOpts{Binary: "nova-compute", Host: host}).AllPages(ctx)
		if err != nil {
			return err
		}
		all, err := services.ExtractServices(pages)
		if err != nil {
			return err
		}
		out = out[:0]
		for _, s := range all {
			out = append(out, Service{ID: s.ID, Host: s.Host, Zone: s.Zone, Up: s.State == "up", ForcedDown: s.ForcedDown,
				Disabled: s.Status == "disabled", DisabledReason: s.DisabledReason, UpdatedAt: s.UpdatedAt})
		}
		return nil
	})
	return out, err
}

// Evidence is the pass as the engine takes it: one NovaService per
// nova-compute host (sorted by host), with the servers Nova places there
// and their status. Servers on no compute host (unscheduled) are left out.
// A service whose "up" Nova derives from a fresh heartbeat is Up only if
// not forced down.
func (p Pass) Evidence() []decision.NovaService {
	byHost := make(map[string]*decision.NovaService, len(p.Services))
	out := make([]decision.NovaService, 0, len(p.Services))
	for _, s := range p.Services {
		if _, dup := byHost[s.Host]; dup {
			continue
		}
		out = append(out, decision.NovaService{Host: s.Host, Up: s.Up && !s.ForcedDown, ForcedDown: s.ForcedDown,
			Disabled: s.Disabled, Status: map[string]string{}})
		byHost[s.Host] = nil
	}
	for i := range out {
		byHost[out[i].Host] = &out[i]
	}
	for _, srv := range p.Servers {
		ns := byHost[srv.Host]
		if ns == nil {
			continue
		}
		ns.Instances = append(ns.Instances, srv.ID)
		ns.Status[srv.ID] = srv.Status
	}
	for i := range out {
		slices.Sort(out[i].Instances)
	}
	slices.SortFunc(out, func(a, b decision.NovaService) int { return strings.Compare(a.Host, b.Host) })
	return out
}
