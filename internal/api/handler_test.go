package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-ha/vigil/internal/api"
	"github.com/vigil-ha/vigil/internal/api/apitest"
	"github.com/vigil-ha/vigil/internal/decision"
)

const (
	readerTok = "reader-0123456789abcdef0123456789abcdef"
	aliceTok  = "alice-0123456789abcdef0123456789abcdef"
	opTok     = "oper-0123456789abcdef0123456789abcdef"
)

// syncBuffer is a log sink the server's goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testTokens(t *testing.T) api.Tokens {
	t.Helper()
	files := map[string]string{
		"reader.tokens":   readerTok + "\n",
		"operator.tokens": "# operators\nalice:" + aliceTok + "\n" + opTok + "\n",
	}
	tk, err := api.LoadTokens(func(p string) ([]byte, error) { return []byte(files[p]), nil }, "reader.tokens", "operator.tokens")
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

var since = time.Date(2026, 12, 3, 10, 4, 5, 0, time.UTC)

func testHosts() []decision.HostStatus {
	return []decision.HostStatus{
		{Name: "cmp1", State: decision.ServiceDegraded, Since: since, Rule: "service-down"},
		{Name: "cmp2", State: decision.Fenced, Since: since, Rule: "fence-verified", Domain: "rack2",
			Fence: &decision.Fence{At: since, Method: "ipmi", Proof: "chassis power off"}, LeftToOperator: []string{"vm7"}},
	}
}

func newServer(t *testing.T) (*httptest.Server, *apitest.Backend, *syncBuffer) {
	t.Helper()
	b := apitest.New("ctl1", testHosts()...)
	b.AddEvents(api.Event{At: since, Host: "cmp1", Kind: api.KindTransition, From: "healthy", To: "service-degraded", Rule: "service-down",
		Evidence: []string{"agent: nova-compute not running"}})
	logs := &syncBuffer{}
	srv := httptest.NewServer(api.Handler(b, testTokens(t), slog.New(slog.NewTextHandler(logs, nil))))
	t.Cleanup(srv.Close)
	return srv, b, logs
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) errorBody(t *testing.T) api.ErrorBody {
	t.Helper()
	var e api.ErrorBody
	if err := json.Unmarshal(a.body, &e); err != nil || e.Error == "" || e.Code == "" {
		t.Fatalf("error body %s: not {error, code} (%v)", a.body, err)
	}
	return e
}

func call(t *testing.T, srv *httptest.Server, method, path, token, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return answer{resp.StatusCode, resp.Header, data}
}

var (
	reads = []string{"/v1/status", "/v1/hosts/cmp1", "/v1/hosts/cmp1/plan", "/v1/history", "/v1/history?host=cmp1&n=5"}
	posts = []struct{ path, body string }{
		{"/v1/hosts/cmp1/maintenance", `{"on":true,"reason":"kernel upgrade"}`},
		{"/v1/hosts/cmp1/confirm", `{"reason":"pulled its power cords"}`},
		{"/v1/hosts/cmp1/release", ``},
		{"/v1/hosts/cmp1/rejoin", `{"reason":"nova-compute cleaned up, checked"}`},
	}
)

func TestHealthzIsAnonymous(t *testing.T) {
	srv, b, _ := newServer(t)
	for _, leading := range []bool{true, false} {
		b.SetLeading(leading)
		a := call(t, srv, "GET", "/healthz", "", "")
		var h api.Health
		if err := json.Unmarshal(a.body, &h); err != nil || a.status != 200 || h != (api.Health{OK: true, Leading: leading, Self: "ctl1"}) {
			t.Errorf("healthz (leading %v): %d %s", leading, a.status, a.body)
		}
	}
}

func TestNoTokenIs401(t *testing.T) {
	srv, b, logs := newServer(t)
	for _, path := range reads {
		for _, tok := range []string{"", "not-a-token-of-this-controller-at-all"} {
			a := call(t, srv, "GET", path, tok, "")
			if a.status != 401 || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") || a.errorBody(t).Code != api.CodeUnauthorized {
				t.Errorf("GET %s, token %q: %d %q %s", path, tok, a.status, a.header.Get("WWW-Authenticate"), a.body)
			}
		}
	}
	for _, p := range posts {
		if a := call(t, srv, "POST", p.path, "", p.body); a.status != 401 {
			t.Errorf("POST %s without a token: %d %s", p.path, a.status, a.body)
		}
	}
	if a := call(t, srv, "GET", "/v1/status", "", ""); !strings.Contains(a.errorBody(t).Error, "bearer token is required") {
		t.Errorf("no token: %s", a.body)
	}
	if got := b.Submitted(); len(got) != 0 {
		t.Errorf("submitted without a token: %v", got)
	}
	if strings.Contains(logs.String(), "not-a-token") {
		t.Errorf("the log shows a presented token:\n%s", logs)
	}
}

func TestReaderIsForbiddenEveryCommand(t *testing.T) {
	srv, b, _ := newServer(t)
	for _, path := range reads {
		if a := call(t, srv, "GET", path, readerTok, ""); a.status != 200 {
			t.Errorf("reader GET %s: %d %s", path, a.status, a.body)
		}
	}
	for _, p := range posts {
		a := call(t, srv, "POST", p.path, readerTok, p.body)
		if e := a.errorBody(t); a.status != 403 || e.Code != api.CodeForbidden || !strings.Contains(e.Error, "needs an operator's token; yours is a reader's") {
			t.Errorf("reader POST %s: %d %s", p.path, a.status, a.body)
		}
	}
	if got := b.Submitted(); len(got) != 0 {
		t.Errorf("a reader's commands were submitted: %v", got)
	}
}

func TestOperatorCommands(t *testing.T) {
	for _, tc := range []struct {
		name, token, path, body string
		want                    decision.Input
		event                   api.Event
	}{
		{"maintenance on", aliceTok, "/v1/hosts/cmp1/maintenance", `{"on":true,"reason":"kernel upgrade"}`,
			decision.SetMaintenance{Host: "cmp1", On: true}, api.Event{Host: "cmp1", Kind: "operator", Action: "maintenance on", By: "alice", Reason: "kernel upgrade"}},
		{"maintenance off", opTok, "/v1/hosts/cmp1/maintenance", `{"on":false}`,
			decision.SetMaintenance{Host: "cmp1"}, api.Event{Host: "cmp1", Kind: "operator", Action: "maintenance off", By: "operator"}},
		{"confirm by the token's name", aliceTok, "/v1/hosts/cmp2/confirm", `{"reason":"pulled its power cords"}`,
			decision.Confirm{Host: "cmp2", By: "alice"}, api.Event{Host: "cmp2", Kind: "operator", Action: "confirm", By: "alice", Reason: "pulled its power cords"}},
		{"confirm by whom the body says", opTok, "/v1/hosts/cmp2/confirm", `{"by":"carol","reason":"saw it off in the DC"}`,
			decision.Confirm{Host: "cmp2", By: "carol"}, api.Event{Host: "cmp2", Kind: "operator", Action: "confirm", By: "carol", Reason: "saw it off in the DC"}},
		{"rejoin by the token's name", aliceTok, "/v1/hosts/cmp2/rejoin", `{"reason":"its moved guests are gone"}`,
			decision.Rejoin{Host: "cmp2", By: "alice"}, api.Event{Host: "cmp2", Kind: "operator", Action: "rejoin", By: "alice", Reason: "its moved guests are gone"}},
		{"rejoin by whom the body says", opTok, "/v1/hosts/cmp2/rejoin", `{"by":"carol","reason":"hardware replaced"}`,
			decision.Rejoin{Host: "cmp2", By: "carol"}, api.Event{Host: "cmp2", Kind: "operator", Action: "rejoin", By: "carol", Reason: "hardware replaced"}},
		{"release without a body", opTok, "/v1/hosts/cmp2/release", ``,
			decision.Release{Host: "cmp2", By: "operator"}, api.Event{Host: "cmp2", Kind: "operator", Action: "release", By: "operator"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, b, logs := newServer(t)
			a := call(t, srv, "POST", tc.path, tc.token, tc.body)
			var acc api.Accepted
			if err := json.Unmarshal(a.body, &acc); err != nil || a.status != http.StatusAccepted || acc.By != tc.event.By || acc.Call != tc.event.Action {
				t.Fatalf("%d %s", a.status, a.body)
			}
			if d := cmp.Diff([]decision.Input{tc.want}, b.Submitted()); d != "" {
				t.Errorf("submitted (-want +got):\n%s", d)
			}
			ev := b.Events(tc.event.Host, 1)
			if d := cmp.Diff([]api.Event{tc.event}, ev, cmpopts.IgnoreFields(api.Event{}, "At")); d != "" || len(ev) == 1 && ev[0].At.IsZero() {
				t.Errorf("history (-want +got):\n%s", d)
			}
			l := logs.String()
			for _, want := range []string{`msg="operator call"`, "host=" + tc.event.Host, "by=" + tc.event.By, "caller=operator.tokens:", "status=202"} {
				if !strings.Contains(l, want) {
					t.Errorf("log lacks %q:\n%s", want, l)
				}
			}
			if strings.Contains(l, tc.token) {
				t.Errorf("log shows the token:\n%s", l)
			}
		})
	}
}

func TestNotLeadingIs503(t *testing.T) {
	srv, b, logs := newServer(t)
	b.SetLeading(false)
	check := func(method, path, body string) {
		t.Helper()
		a := call(t, srv, method, path, opTok, body)
		e := a.errorBody(t)
		if a.status != 503 || e.Code != api.CodeNotLeading || !strings.Contains(e.Error, "controller ctl1 does not lead: ask another controller") {
			t.Errorf("%s %s: %d %s", method, path, a.status, a.body)
		}
	}
	for _, path := range reads {
		check("GET", path, "")
	}
	for _, p := range posts {
		check("POST", p.path, p.body)
	}
	if !strings.Contains(logs.String(), `msg="operator call refused"`) {
		t.Errorf("refused commands are not logged:\n%s", logs)
	}
}

func TestBadBodyIs400NamingTheField(t *testing.T) {
	srv, b, _ := newServer(t)
	for _, tc := range []struct{ path, body, want string }{
		{"/v1/hosts/cmp1/maintenance", `{"on":true,"reason":"x","of":"cmp2"}`, `field "of": unknown field`},
		{"/v1/hosts/cmp1/maintenance", `{"on":"yes"}`, `field "on": want true or false`},
		{"/v1/hosts/cmp1/maintenance", `{"on":true}`, `field "reason": required when on is true`},
		{"/v1/hosts/cmp1/maintenance", `{"on":true,`, "the JSON body ends early"},
		{"/v1/hosts/cmp1/confirm", `{"by":"alice"}`, `field "reason": required`},
		{"/v1/hosts/cmp1/confirm", `{"reason":"x","force":true}`, `field "force": unknown field`},
		{"/v1/hosts/cmp1/rejoin", ``, `a JSON body is required`},
		{"/v1/hosts/cmp1/rejoin", `{"by":"alice"}`, `field "reason": required`},
		{"/v1/hosts/cmp1/release", `{"reason":["x"]}`, `field "reason": want a string`},
	} {
		a := call(t, srv, "POST", tc.path, opTok, tc.body)
		if e := a.errorBody(t); a.status != 400 || e.Code != api.CodeBadRequest || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s %s: %d %s; want 400 %q", tc.path, tc.body, a.status, a.body, tc.want)
		}
	}
	big := `{"reason":"` + strings.Repeat("x", api.MaxBody) + `"}`
	if a := call(t, srv, "POST", "/v1/hosts/cmp1/confirm", opTok, big); a.status != 413 || a.errorBody(t).Code != api.CodeTooLarge {
		t.Errorf("a body over MaxBody: %d %s", a.status, a.body)
	}
	for _, q := range []string{"?n=abc", "?n=0", "?n=10001", "?count=3"} {
		a := call(t, srv, "GET", "/v1/history"+q, readerTok, "")
		if a.status != 400 || !strings.Contains(a.errorBody(t).Error, "parameter") {
			t.Errorf("history%s: %d %s", q, a.status, a.body)
		}
	}
	if got := b.Submitted(); len(got) != 0 {
		t.Errorf("bad bodies were submitted: %v", got)
	}
}

func TestUnknownHostIs404(t *testing.T) {
	srv, b, _ := newServer(t)
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/v1/hosts/cmp9", ""},
		{"GET", "/v1/history?host=cmp9", ""},
		{"GET", "/v1/hosts/cmp9/plan", ""},
		{"POST", "/v1/hosts/cmp9/maintenance", `{"on":true,"reason":"x"}`},
		{"POST", "/v1/hosts/cmp9/confirm", `{"reason":"x"}`},
		{"POST", "/v1/hosts/cmp9/release", ""},
		{"POST", "/v1/hosts/cmp9/rejoin", `{"reason":"x"}`},
	} {
		a := call(t, srv, tc.method, tc.path, opTok, tc.body)
		if e := a.errorBody(t); a.status != 404 || e.Code != api.CodeUnknownHost || !strings.Contains(e.Error, `no host "cmp9"`) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, a.status, a.body)
		}
	}
	if got := b.Submitted(); len(got) != 0 {
		t.Errorf("commands on an unknown host were submitted: %v", got)
	}
	if a := call(t, srv, "GET", "/v1/nodes", readerTok, ""); a.status != 404 || a.errorBody(t).Code != api.CodeNotFound {
		t.Errorf("unknown endpoint: %d %s", a.status, a.body)
	}
	if a := call(t, srv, "DELETE", "/v1/hosts/cmp1", opTok, ""); a.status != 405 || a.header.Get("Allow") != "GET" || a.errorBody(t).Code != api.CodeMethod {
		t.Errorf("DELETE a host: %d %s", a.status, a.body)
	}
	if a := call(t, srv, "GET", "/v1/hosts/cmp1/confirm", opTok, ""); a.status != 405 || a.header.Get("Allow") != "POST" {
		t.Errorf("GET a command: %d %s", a.status, a.body)
	}
}

func TestReadsAreSnakeCase(t *testing.T) {
	srv, _, _ := newServer(t)
	a := call(t, srv, "GET", "/v1/status", readerTok, "")
	var raw struct {
		At    time.Time        `json:"at"`
		Self  string           `json:"self"`
		Hosts []map[string]any `json:"hosts"`
	}
	if err := json.Unmarshal(a.body, &raw); err != nil || len(raw.Hosts) != 2 || raw.Self != "ctl1" || raw.At.IsZero() {
		t.Fatalf("status: %s (%v)", a.body, err)
	}
	var keys []string
	for k := range raw.Hosts[1] {
		keys = append(keys, k)
	}
	want := []string{"domain", "fence", "held", "left_to_operator", "name", "rule", "seen", "since", "state"}
	if d := cmp.Diff(want, keys, cmpopts.SortSlices(func(a, b string) bool { return a < b })); d != "" {
		t.Errorf("status keys (-want +got):\n%s\n%s", d, a.body)
	}

	d := call(t, srv, "GET", "/v1/hosts/cmp1", readerTok, "")
	var detail api.HostDetail
	if err := json.Unmarshal(d.body, &detail); err != nil || detail.Host.Name != "cmp1" || len(detail.Events) != 1 || detail.Events[0].Rule != "service-down" {
		t.Errorf("host: %s (%v)", d.body, err)
	}
	if !strings.Contains(string(d.body), `"evidence": [`) || strings.Contains(string(d.body), `"Evidence"`) {
		t.Errorf("host's events are not snake_case: %s", d.body)
	}
	h := call(t, srv, "GET", "/v1/history?host=cmp2", readerTok, "")
	if !strings.Contains(string(h.body), `"events": []`) {
		t.Errorf("no events is not []: %s", h.body)
	}
}

// TestHostStatusShowsEveryField fails when decision.HostStatus gains a
// field that the API does not show.
func TestHostStatusShowsEveryField(t *testing.T) {
	d, a := reflect.TypeFor[decision.HostStatus](), reflect.TypeFor[api.HostStatus]()
	for i := range d.NumField() {
		f := d.Field(i)
		g, ok := a.FieldByName(f.Name)
		if ok && f.Name == "Seen" {
			continue // converted (api.Seen): checked below
		}
		if !ok || g.Type != f.Type {
			t.Errorf("api.HostStatus lacks %s %s of decision.HostStatus (add it, and to FromDecision)", f.Name, f.Type)
		}
	}
	full := decision.HostStatus{Name: "n", State: decision.Failed, Since: since, Rule: "r", Held: true, Reason: "why", Fence: &decision.Fence{Method: "m"},
		Domain: "d", LeftToOperator: []string{"vm"}, Unfence: "u", Quiet: true,
		Seen: decision.Seen{At: since, Networks: []decision.NetworkSeen{{Name: "mgmt", Agent: since, Peer: since}}, StorageMoved: since,
			BMC: decision.PowerOff, BMCAt: since, NovaUp: true, NovaAt: since}}
	got := api.FromDecision(full)
	wantSeen := api.Seen{At: since, Networks: []api.NetworkSeen{{Name: "mgmt", Agent: since, Peer: since}}, StorageMoved: since,
		BMC: "off", BMCAt: since, NovaUp: true, NovaAt: since}
	if !reflect.DeepEqual(got.Seen, wantSeen) {
		t.Errorf("FromDecision's Seen = %+v, want %+v", got.Seen, wantSeen)
	}
	if reflect.TypeFor[api.Seen]().NumField() != reflect.TypeFor[decision.Seen]().NumField() {
		t.Errorf("api.Seen and decision.Seen differ in their fields")
	}
	if reflect.ValueOf(got).NumField() != d.NumField() {
		t.Fatalf("api.HostStatus has fields decision.HostStatus has not")
	}
	for i := range d.NumField() {
		if d.Field(i).Name == "Seen" {
			continue
		}
		if !reflect.DeepEqual(reflect.ValueOf(full).Field(i).Interface(), reflect.ValueOf(got).FieldByName(d.Field(i).Name).Interface()) {
			t.Errorf("FromDecision drops %s", d.Field(i).Name)
		}
	}
}

// GET /v1/hosts/{host}/plan answers the backend's plan, converted, in
// snake_case, with empty lists as [] (a script reads .instances[] without
// a null check).
func TestPlan(t *testing.T) {
	srv, b, _ := newServer(t)
	p := decision.Plan{At: since, Host: "cmp2", State: decision.Healthy, Rule: "all-paths-answer", Hold: "paused",
		Reason: "vigil is paused by alice (core switch upgrade)",
		Fence:  []decision.PlannedLevel{{Level: 1, Method: "ipmi", Devices: []string{"ipmi address=10.0.0.12"}}, {Level: 2, Method: "ceph-blocklist+ipmi"}},
		Instances: []decision.PlannedInstance{{ID: "vm1", Action: decision.PlanEvacuate}, {ID: "vm2", Action: decision.PlanEvacuate, Stopped: true},
			{ID: "vm3", Action: decision.PlanOperator, CopyOn: []string{"cmp7"}, Reason: "cmp7 runs it"}},
		Avoid: []decision.AvoidedHost{{Host: "cmp7", State: decision.Suspect}}, Notes: []string{"n"}, Evidence: []string{"agent answers on mgmt"}}
	b.SetPlan(p)
	a := call(t, srv, "GET", "/v1/hosts/cmp2/plan", readerTok, "")
	var got api.Plan
	if err := json.Unmarshal(a.body, &got); err != nil || a.status != 200 {
		t.Fatalf("plan: %d %s (%v)", a.status, a.body, err)
	}
	if d := cmp.Diff(api.FromPlan(p, "ctl1"), got); d != "" {
		t.Errorf("plan (-want +got):\n%s", d)
	}
	for _, want := range []string{`"would_act": false`, `"hold": "paused"`, `"copy_on": [`, `"state": "suspect"`, `"method": "ceph-blocklist+ipmi"`} {
		if !strings.Contains(string(a.body), want) {
			t.Errorf("plan lacks %s: %s", want, a.body)
		}
	}
	e := call(t, srv, "GET", "/v1/hosts/cmp1/plan", readerTok, "")
	for _, want := range []string{`"instances": []`, `"avoid": []`, `"would_act": true`} {
		if !strings.Contains(string(e.body), want) {
			t.Errorf("an empty plan lacks %s: %s", want, e.body)
		}
	}
}

// TestPlanShowsEveryField fails when decision.Plan gains a field that the
// API does not show.
func TestPlanShowsEveryField(t *testing.T) {
	for _, pair := range [][2]reflect.Type{
		{reflect.TypeFor[decision.Plan](), reflect.TypeFor[api.Plan]()},
		{reflect.TypeFor[decision.PlannedLevel](), reflect.TypeFor[api.PlannedLevel]()},
		{reflect.TypeFor[decision.PlannedInstance](), reflect.TypeFor[api.PlannedInstance]()},
		{reflect.TypeFor[decision.AvoidedHost](), reflect.TypeFor[api.AvoidedHost]()},
	} {
		d, a := pair[0], pair[1]
		for i := range d.NumField() {
			if _, ok := a.FieldByName(d.Field(i).Name); !ok {
				t.Errorf("%s lacks %s of %s (add it, and to FromPlan)", a, d.Field(i).Name, d)
			}
		}
	}
	full := decision.Plan{At: since, Host: "h", State: decision.Failed, Rule: "r", WouldAct: true, Hold: "x", Reason: "y",
		Fence: []decision.PlannedLevel{{Level: 1, Method: "m", Devices: []string{"d"}}}, Instances: []decision.PlannedInstance{{ID: "i", Action: "a", Stopped: true, CopyOn: []string{"c"}, Reason: "r"}},
		NovaUnread: true, Avoid: []decision.AvoidedHost{{Host: "o", State: decision.Suspect}}, Notes: []string{"n"}, Evidence: []string{"e"}}
	got := reflect.ValueOf(api.FromPlan(full, "ctl1"))
	want := reflect.ValueOf(full)
	for i := range want.NumField() {
		name := want.Type().Field(i).Name
		// %v prints a struct's values without its type's field names
		w, g := fmt.Sprintf("%v", want.Field(i).Interface()), fmt.Sprintf("%v", got.FieldByName(name).Interface())
		if w != g {
			t.Errorf("FromPlan's %s = %s, want %s", name, g, w)
		}
	}
}

func TestClient(t *testing.T) {
	srv, b, _ := newServer(t)
	ctx := context.Background()
	c, err := api.NewClient(srv.URL+"/", aliceTok, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil || len(st.Hosts) != 2 || st.Hosts[1].Fence.Method != "ipmi" {
		t.Fatalf("status: %+v, %v", st, err)
	}
	if d, err := c.Host(ctx, "cmp1"); err != nil || d.Host.Rule != "service-down" {
		t.Errorf("host: %+v, %v", d, err)
	}
	if p, err := c.Plan(ctx, "cmp1"); err != nil || p.Host != "cmp1" || !p.WouldAct || p.Self != "ctl1" {
		t.Errorf("plan: %+v, %v", p, err)
	}
	if _, err := c.Plan(ctx, "cmp9"); err == nil || !strings.Contains(err.Error(), `no host "cmp9"`) {
		t.Errorf("plan of an unknown host: %v", err)
	}
	if acc, err := c.Maintenance(ctx, "cmp1", api.MaintenanceRequest{On: true, Reason: "kernel upgrade"}); err != nil || acc.By != "alice" {
		t.Errorf("maintenance: %+v, %v", acc, err)
	}
	if _, err := c.Confirm(ctx, "cmp2", api.ConfirmRequest{Reason: "off"}); err != nil {
		t.Errorf("confirm: %v", err)
	}
	if _, err := c.Release(ctx, "cmp2", api.ReleaseRequest{}); err != nil {
		t.Errorf("release: %v", err)
	}
	if acc, err := c.Rejoin(ctx, "cmp2", api.RejoinRequest{Reason: "clean"}); err != nil || acc.Call != "rejoin" || acc.By != "alice" {
		t.Errorf("rejoin: %+v, %v", acc, err)
	}
	if h, err := c.History(ctx, "", 2); err != nil || len(h.Events) != 2 || h.Events[0].Action != "release" || h.Events[1].Action != "rejoin" {
		t.Errorf("history: %+v, %v", h, err)
	}
	if h, err := c.Health(ctx); err != nil || !h.Leading {
		t.Errorf("health: %+v, %v", h, err)
	}
	if len(b.Submitted()) != 4 {
		t.Errorf("submitted %v", b.Submitted())
	}

	c.Token = readerTok
	_, err = c.Release(ctx, "cmp2", api.ReleaseRequest{})
	var e *api.Error
	if !errors.As(err, &e) || e.Status != 403 || e.Code != api.CodeForbidden || !strings.Contains(e.Error(), srv.URL+"/v1/hosts/cmp2/release: 403 Forbidden: this call needs an operator's token") {
		t.Errorf("reader's release: %v", err)
	}
	b.SetLeading(false)
	if _, err := c.Status(ctx); !errors.As(err, &e) || e.Status != 503 || e.Code != api.CodeNotLeading {
		t.Errorf("not leading: %v", err)
	}

	srv.Close()
	if _, err := c.Status(ctx); !errors.Is(err, api.ErrUnreachable) || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("closed server: %v", err)
	}
	for _, bad := range []string{"ctl1:7421", "ftp://ctl1", "https://"} {
		if _, err := api.NewClient(bad, "", nil); err == nil || !strings.Contains(err.Error(), "want https://HOST:PORT") {
			t.Errorf("NewClient(%q): %v", bad, err)
		}
	}
}
