package novalab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"

	"github.com/vigil-ha/vigil/internal/api"
	"github.com/vigil-ha/vigil/internal/testbed/hostlab"
	"github.com/vigil-ha/vigil/internal/testbed/netns"
	"github.com/vigil-ha/vigil/internal/testbed/openstack"
)

// Config describes a lab.
type Config struct {
	// Hosts is the number of compute hosts (default 3).
	Hosts int
	// NovaEvery is the controllers' controller.nova.every (0: vigil's
	// default, 5 s).
	NovaEvery time.Duration
	// Cluster is YAML added at the top of the cluster file (hostlab.Config).
	Cluster string
}

// Lab is a running lab: hostlab's, with Nova.
type Lab struct {
	*hostlab.Lab
	Bed *openstack.Bed
	// Nova is the controller namespace's Nova API.
	Nova *Proxy
	t    testing.TB
}

// Start builds the hostlab lab with Nova, serves the controller
// namespace's relays to Keystone and Nova, and starts every host's
// nova-compute in its namespace, waiting until Nova has it up. It starts no
// controller (StartController). It fails tb when a part cannot start.
func Start(tb testing.TB, bed *openstack.Bed, cfg Config) *Lab {
	tb.Helper()
	hl := hostlab.Start(tb, hostlab.Config{Hosts: cfg.Hosts, Cluster: cfg.Cluster,
		Nova: &hostlab.Nova{Cloud: openstack.CloudName, CloudsYAML: bed.CloudsYAML(), Every: cfg.NovaEvery}})
	l := &Lab{Lab: hl, Bed: bed, t: tb}
	ctlNS := hl.Net.Host(hl.Ctl).Namespace

	// The catalog's URLs are 127.0.0.1's: serve them on the controller
	// namespace's loopback.
	keystone, nova := hostPort(tb, openstack.KeystoneURL), hostPort(tb, openstack.NovaURL)
	kln, err := netns.Listen(ctlNS, keystone)
	if err != nil {
		tb.Fatalf("novalab: keystone relay: %v", err)
	}
	tb.Cleanup(func() { kln.Close() })
	go relay(kln, keystone)
	nln, err := netns.Listen(ctlNS, nova)
	if err != nil {
		tb.Fatalf("novalab: nova proxy: %v", err)
	}
	tb.Cleanup(func() { nln.Close() })
	if l.Nova, err = newProxy("http://" + nova); err != nil {
		tb.Fatal(err)
	}
	go serve(nln, l.Nova)

	// The computes: registered first, so their cleanup runs after the
	// servers' and the controllers' and before the namespaces go.
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := bed.StopGateway(ctx, ctlNS); err != nil {
			tb.Errorf("novalab: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	for i, h := range hl.Hosts {
		// One at a time: the first starts the gateway's relays, and each
		// first start maps the host to the cell (nova-manage), neither of
		// which may run twice at once.
		c := openstack.ComputeConfig{Host: h, Netns: hl.Net.Host(i).Namespace,
			Gateway: hl.Net.Addr(hl.Ctl, "mgmt"), GatewayNetns: ctlNS}
		if err := bed.StartCompute(ctx, c); err != nil {
			tb.Fatalf("novalab: nova-compute of %s: %v", h, err)
		}
		if err := l.serviceUsable(ctx, h); err != nil {
			tb.Fatalf("novalab: %v", err)
		}
	}
	tb.Logf("novalab: nova-compute up on %v in %.1f s", hl.Hosts, time.Since(t0).Seconds())
	return l
}

// serviceUsable lifts a force-down or a disable left on host's service by
// an earlier run that did not clean up.
func (l *Lab) serviceUsable(ctx context.Context, host string) error {
	s, err := l.Bed.Service(ctx, host)
	if err != nil {
		return err
	}
	if s.ForcedDown {
		if err := l.Bed.SetForcedDown(ctx, host, false); err != nil {
			return err
		}
	}
	if s.Status != "enabled" {
		nc, err := l.Bed.Compute(ctx, "2.53")
		if err != nil {
			return err
		}
		if _, err := services.Update(ctx, nc, s.ID, services.UpdateOpts{Status: services.ServiceEnabled}).Extract(); err != nil {
			return fmt.Errorf("enable %s: %w", host, err)
		}
	}
	return nil
}

func hostPort(tb testing.TB, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return u.Host
}

// Boot boots n servers on host at once (named PREFIX-0 ...), waits until
// each is ACTIVE there, and deletes them when the test ends. It returns
// their ids in name order.
func (l *Lab) Boot(prefix string, n int, host string) []string {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = l.Bed.CreateServer(ctx, prefix+"-"+strconv.Itoa(i), host)
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if id != "" {
			l.t.Cleanup(func() {
				if err := l.Bed.DeleteServer(context.Background(), id); err != nil {
					l.t.Errorf("novalab: %v", err)
				}
			})
		}
		if errs[i] != nil {
			l.t.Fatal(errs[i])
		}
	}
	return ids
}

// Server is where Nova places a server.
type Server struct {
	ID, Host, Status, TaskState string
}

// Servers reads the servers of ids from Nova, in one list request (a test
// polls it while vigil talks to the same nova-api). A server missing from
// the list is an error.
func (l *Lab) Servers(ctx context.Context, ids []string) (map[string]Server, error) {
	nc, err := l.Bed.Compute(ctx, openstack.ServerMicroversion)
	if err != nil {
		return nil, err
	}
	pages, err := servers.List(nc, servers.ListOpts{AllTenants: true}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("novalab: list servers: %w", err)
	}
	all, err := servers.ExtractServers(pages)
	if err != nil {
		return nil, err
	}
	out := map[string]Server{}
	for _, s := range all {
		out[s.ID] = Server{ID: s.ID, Host: s.Host, Status: s.Status, TaskState: s.TaskState}
	}
	for _, id := range ids {
		if _, ok := out[id]; !ok {
			return nil, fmt.Errorf("novalab: no server %s", id)
		}
	}
	return out, nil
}

// Migration is one of Nova's migration records (GET /os-migrations).
type Migration struct {
	ID        int    `json:"id"`
	Instance  string `json:"instance_uuid"`
	Type      string `json:"migration_type"` // "evacuation", "live-migration", ...
	Status    string `json:"status"`
	Source    string `json:"source_compute"`
	Dest      string `json:"dest_compute"`
	CreatedAt string `json:"created_at"`
}

// Evacuations returns the evacuation migrations Nova recorded for each of
// ids (microversion 2.80: every field, filtered by instance).
func (l *Lab) Evacuations(ctx context.Context, ids []string) (map[string][]Migration, error) {
	nc, err := l.Bed.Compute(ctx, "2.80")
	if err != nil {
		return nil, err
	}
	out := map[string][]Migration{}
	for _, id := range ids {
		var body struct {
			Migrations []Migration `json:"migrations"`
		}
		u := nc.ServiceURL("os-migrations") + "?migration_type=evacuation&instance_uuid=" + url.QueryEscape(id)
		if _, err := nc.Get(ctx, u, &body, &gophercloud.RequestOpts{OkCodes: []int{200}}); err != nil {
			return nil, fmt.Errorf("novalab: migrations of %s: %w", id, err)
		}
		for _, m := range body.Migrations {
			if m.Instance == id && m.Type == "evacuation" {
				out[id] = append(out[id], m)
			}
		}
	}
	return out, nil
}

// History is the leading controller's events of host, oldest first (all
// of them it keeps, not only the last 50).
func (l *Lab) History(host string) ([]api.Event, error) {
	req, err := http.NewRequest("GET", "http://"+hostlab.APIAddr+"/v1/history?n=10000&host="+url.QueryEscape(host), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+l.Token)
	resp, err := l.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("novalab: history of %s: %s: %s", host, resp.Status, b)
	}
	var h api.History
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, err
	}
	return h.Events, nil
}
