package nova

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
)

// fakeNova is a test double of the compute API, recorded from what the
// real Nova 26 of the test bed answers (bed_test.go checks the same
// behaviour for real): the version document, os-services list and update,
// servers list (paged), show and the evacuate/os-stop/reboot actions. It
// answers like Nova where vigil's traps are: a body with onSharedStorage
// at >= 2.14 is a 400, an empty service update is a 400, a successful
// evacuate is a 200 with an empty body. A server moves on the read after
// the evacuate was accepted.
type fakeNova struct {
	t   testing.TB
	max string // newest microversion offered

	// mu guards everything below.
	mu       sync.Mutex
	services []fakeService
	servers  []*fakeServer
	requests []fakeRequest
	fail     map[string]int // "METHOD path-suffix" → that many 503s still to answer
	// acceptThenFail: an evacuate is taken, then answered 503 (a lost answer).
	acceptThenFail bool
}

type fakeService struct {
	ID, Host, State, Status, Reason string
	ForcedDown                      bool
}

type fakeServer struct {
	ID, Host, Status, VMState, Task string
	moveTo                          string // where an accepted evacuation lands
	keepStopped                     bool
}

type fakeRequest struct {
	Method, Path, Microversion, Body string
}

func newFakeNova(t testing.TB, max string, hosts ...string) (*fakeNova, *Client) {
	t.Helper()
	f := &fakeNova{t: t, max: max, fail: map[string]int{}}
	for i, h := range hosts {
		f.services = append(f.services, fakeService{ID: fmt.Sprintf("svc-%d", i), Host: h, State: "up", Status: "enabled"})
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	sc := &gophercloud.ServiceClient{ProviderClient: &gophercloud.ProviderClient{TokenID: "fake"}, Endpoint: srv.URL + "/v2.1/", Type: "compute"}
	sc.HTTPClient = *srv.Client()
	c, err := New(context.Background(), sc, Config{Backoff: 1, Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func (f *fakeNova) addServer(id, host, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	vm := "active"
	if status == "SHUTOFF" {
		vm = "stopped"
	}
	f.servers = append(f.servers, &fakeServer{ID: id, Host: host, Status: status, VMState: vm})
}

func (f *fakeNova) setService(host, state string, forced bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.services {
		if f.services[i].Host == host {
			f.services[i].State, f.services[i].ForcedDown = state, forced
		}
	}
}

// sent lists the recorded requests whose "METHOD path" has suffix.
func (f *fakeNova) sent(methodPath string) []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeRequest
	for _, r := range f.requests {
		if strings.HasPrefix(methodPath, r.Method+" ") && strings.HasSuffix(r.Path, strings.TrimPrefix(methodPath, r.Method+" ")) {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeNova) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mv := strings.TrimPrefix(r.Header.Get("OpenStack-API-Version"), "compute ")
	path := strings.TrimPrefix(r.URL.Path, "/v2.1")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: path, Microversion: mv, Body: string(body)})
	for k, n := range f.fail {
		if n > 0 && strings.HasPrefix(k, r.Method+" ") && strings.HasSuffix(path, strings.TrimPrefix(k, r.Method+" ")) {
			f.fail[k] = n - 1
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		if v != nil {
			_ = json.NewEncoder(w).Encode(v)
		}
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case r.Method == "GET" && path == "/":
		reply(200, map[string]any{"version": map[string]any{"id": "v2.1", "version": f.max, "min_version": "2.1"}})
	case r.Method == "GET" && path == "/os-services":
		var out []map[string]any
		for _, s := range f.services {
			if h := r.URL.Query().Get("host"); h != "" && h != s.Host {
				continue
			}
			out = append(out, map[string]any{"id": s.ID, "binary": "nova-compute", "host": s.Host, "zone": "nova", "state": s.State,
				"status": s.Status, "forced_down": s.ForcedDown, "disabled_reason": s.Reason, "updated_at": "2026-12-01T10:00:00.000000"})
		}
		reply(200, map[string]any{"services": out})
	case r.Method == "PUT" && len(parts) == 2 && parts[0] == "os-services":
		var u map[string]any
		_ = json.Unmarshal(body, &u)
		i := slices.IndexFunc(f.services, func(s fakeService) bool { return s.ID == parts[1] })
		if i < 0 {
			reply(404, nil)
			return
		}
		if len(u) == 0 {
			reply(400, map[string]any{"badRequest": map[string]any{"message": "No updates were requested"}})
			return
		}
		s := &f.services[i]
		if v, ok := u["forced_down"].(bool); ok {
			s.ForcedDown = v
		}
		if v, ok := u["status"].(string); ok {
			s.Status = v
		}
		if v, ok := u["disabled_reason"].(string); ok {
			s.Reason = v
		}
		reply(200, map[string]any{"service": map[string]any{"id": s.ID, "host": s.Host, "status": s.Status, "forced_down": s.ForcedDown}})
	case r.Method == "GET" && path == "/servers/detail":
		f.list(w, r, reply)
	case r.Method == "GET" && len(parts) == 2 && parts[0] == "servers":
		s := f.server(parts[1])
		if s == nil {
			reply(404, nil)
			return
		}
		reply(200, map[string]any{"server": s.json()})
		s.step()
	case r.Method == "POST" && len(parts) == 3 && parts[2] == "action":
		f.action(w, f.server(parts[1]), mv, body, reply)
	default:
		f.t.Errorf("fake Nova: unexpected %s %s", r.Method, r.URL)
		reply(404, nil)
	}
}

func (f *fakeNova) list(w http.ResponseWriter, r *http.Request, reply func(int, any)) {
	q := r.URL.Query()
	if q.Get("all_tenants") == "" {
		f.t.Errorf("servers listed without all_tenants: %s", r.URL)
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	start := 0
	if m := q.Get("marker"); m != "" {
		start = slices.IndexFunc(f.servers, func(s *fakeServer) bool { return s.ID == m }) + 1
	}
	end := min(len(f.servers), start+limit)
	out := []map[string]any{}
	for _, s := range f.servers[start:end] {
		out = append(out, s.json())
	}
	page := map[string]any{"servers": out}
	if end < len(f.servers) {
		next := *r.URL
		q.Set("marker", f.servers[end-1].ID)
		next.RawQuery = q.Encode()
		page["servers_links"] = []map[string]any{{"rel": "next", "href": "http://" + r.Host + "/v2.1" + strings.TrimPrefix(next.Path, "/v2.1") + "?" + next.RawQuery}}
	}
	reply(200, page)
}

func (f *fakeNova) server(id string) *fakeServer {
	i := slices.IndexFunc(f.servers, func(s *fakeServer) bool { return s.ID == id })
	if i < 0 {
		return nil
	}
	return f.servers[i]
}

func (f *fakeNova) action(w http.ResponseWriter, s *fakeServer, mv string, body []byte, reply func(int, any)) {
	if s == nil {
		reply(404, nil)
		return
	}
	var req map[string]map[string]any
	_ = json.Unmarshal(body, &req)
	switch {
	case req["evacuate"] != nil:
		ev := req["evacuate"]
		if _, ok := ev["onSharedStorage"]; ok {
			reply(400, map[string]any{"badRequest": map[string]any{"message": "Additional properties are not allowed ('onSharedStorage' was unexpected)"}})
			return
		}
		src := slices.IndexFunc(f.services, func(x fakeService) bool { return x.Host == s.Host })
		if src >= 0 && f.services[src].State == "up" && !f.services[src].ForcedDown {
			reply(400, map[string]any{"badRequest": map[string]any{"message": "Compute service of " + s.Host + " is still in use."}})
			return
		}
		target, _ := ev["host"].(string)
		if target == "" {
			for _, x := range f.services {
				if x.Host != s.Host && x.State == "up" && x.Status == "enabled" {
					target = x.Host
					break
				}
			}
		}
		if target == "" {
			target = s.Host // no valid host: the conductor gives up, nothing moves
		}
		s.moveTo, s.Task, s.Status = target, "rebuilding", "REBUILD"
		s.keepStopped = mv == "2.95" && s.VMState == "stopped"
		if f.acceptThenFail {
			f.acceptThenFail = false
			http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
			return
		}
		w.WriteHeader(200) // empty body: gophercloud's servers.Evacuate would say EOF
	case req["os-stop"] != nil || strings.Contains(string(body), `"os-stop"`):
		s.Task = "powering-off"
		w.WriteHeader(202)
	case req["reboot"] != nil:
		s.Task, s.Status = "rebooting_hard", "HARD_REBOOT"
		w.WriteHeader(202)
	default:
		reply(400, nil)
	}
}

// step advances a server's task by one read.
func (s *fakeServer) step() {
	switch s.Task {
	case "rebuilding":
		s.Host, s.Task = s.moveTo, ""
		if s.keepStopped {
			s.Status = "SHUTOFF"
		} else {
			s.Status, s.VMState = "ACTIVE", "active"
		}
	case "powering-off":
		s.Task, s.Status, s.VMState = "", "SHUTOFF", "stopped"
	case "rebooting_hard":
		s.Task, s.Status, s.VMState = "", "ACTIVE", "active"
	}
}

func (s *fakeServer) json() map[string]any {
	var task any
	if s.Task != "" {
		task = s.Task
	}
	power := 1
	if s.Status == "SHUTOFF" {
		power = 4
	}
	return map[string]any{"id": s.ID, "name": "srv-" + s.ID, "tenant_id": "p1", "status": s.Status,
		"OS-EXT-SRV-ATTR:host": s.Host, "OS-EXT-STS:vm_state": s.VMState, "OS-EXT-STS:task_state": task, "OS-EXT-STS:power_state": power}
}
