package cli

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/api"
	"github.com/vigil-ha/vigil/internal/api/apitest"
	"github.com/vigil-ha/vigil/internal/decision"
)

const (
	readerToken = "reader-0123456789abcdef0123456789abcdef"
	aliceToken  = "alice-0123456789abcdef0123456789abcdef"
)

// opsBed is a controller's API on the test Backend, and the token files of
// a reader and of an operator named alice.
type opsBed struct {
	srv              *httptest.Server
	b                *apitest.Backend
	reader, operator string // the clients' token files
}

func newOpsBed(t *testing.T, b *apitest.Backend) *opsBed {
	t.Helper()
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tk, err := api.LoadTokens(os.ReadFile, write("reader.tokens", readerToken+"\n"), write("operator.tokens", "alice:"+aliceToken+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler(b, tk, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	return &opsBed{srv: srv, b: b, reader: write("reader.token", "# mine\n"+readerToken+"\n"), operator: write("alice.token", "alice:"+aliceToken+"\n")}
}

// runEnv runs vigil with the given environment variables.
func runEnv(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(args, Env{Stdout: &o, Stderr: &e, Getenv: func(k string) string { return vars[k] }, ReadFile: os.ReadFile})
	return code, o.String(), e.String()
}

// as runs vigil against the bed with token file tok.
func (o *opsBed) as(t *testing.T, tok string, args ...string) (int, string, string) {
	t.Helper()
	return runEnv(t, map[string]string{"VIGIL_URL": o.srv.URL, "VIGIL_TOKEN_FILE": tok}, args...)
}

// seedBackend plays the seed incident on the real engine: nova-compute
// restarts on cmp1 while its agent keeps answering and its guests keep
// running, and Nova's API says the service is down. The backend holds the
// engine's status and its transitions and actions as the history, as the
// controller would, timed so that the incident began a minute ago.
func seedBackend(t *testing.T) *apitest.Backend {
	t.Helper()
	e, err := decision.New(decision.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	hosts := []string{"cmp1", "cmp2", "cmp3"}
	for _, h := range hosts {
		e.AddHost(decision.HostInfo{Name: h})
	}
	b := apitest.New("ctl1")
	t0 := time.Now().Add(-80 * time.Second).Truncate(time.Second)
	e.Step(t0, decision.Leadership{Leader: true, Token: 1})
	for s := 1; s <= 80; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		novaUp := s < 20 // service_down_time passes: Nova says down
		e.Step(now, decision.NovaService{Host: "cmp1", Up: novaUp, Instances: []string{"vm1", "vm2"}})
		for _, h := range hosts {
			self := decision.SelfReport{BootID: "b-" + h, Agent: "a-" + h, NovaCompute: decision.Process{Running: true}, Libvirtd: decision.Process{Running: true}}
			if h == "cmp1" {
				self.Domains = []string{"vm1", "vm2"}
				self.NovaCompute.Running = s < 13 // the operator restarts it
			}
			for _, n := range []string{"mgmt", "storage"} {
				e.Step(now, decision.AgentReport{Host: h, Network: n, Self: self})
			}
		}
		rd := e.Tick(now)
		for _, tr := range rd.Transitions {
			b.AddEvents(api.TransitionEvent(tr))
		}
		for _, a := range rd.Actions {
			b.AddEvents(api.ActionEvent(now, a))
		}
	}
	for _, st := range e.Status() {
		b.AddHost(st)
	}
	return b
}

// stamps stands for times and ages in the output.
var stamps = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d( UTC)?|(\d+[dhms])+ ago`)

func TestExplainSeedIncident(t *testing.T) {
	o := newOpsBed(t, seedBackend(t))
	code, out, errOut := o.as(t, o.reader, "explain", "cmp1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := `cmp1: service-degraded since T (AGE), rule service-down.

Why: Its agent answers on every network, so the host is alive, but a service on
it is down: nova-compute or libvirtd by its agent's word, or nova-compute by
Nova's (its service list says down). Nova's service state alone never fences a
host, and a service restart is not a host failure: vigil fences nothing and
evacuates nothing while the agent answers, and the guests keep running there.
Next: nothing will be done to it (no fence, no evacuation): the host is alive,
and its guests keep running. Bring the service back; vigil sees it return by
itself.

Held: no.
Fence: none.
Left to you: nothing.
Last heard (ages at the leader's last tick): mgmt:0s stor:0s hb:- bmc:-
nova:down. Agent by network, storage heartbeat (hb), BMC power, Nova's service
state; - is never.

Last 3 events, oldest first:
  T (AGE)  unknown -> healthy (all-paths-answer)
      - agent answers on mgmt, storage
      - agent: 2 guests running
      - nova: up (weakest signal)
  T (AGE)  healthy -> service-degraded (service-down)
      - agent answers on mgmt, storage
      - agent: nova-compute not running
      - agent: 2 guests running
      - nova: up (weakest signal)
  T (AGE)  vigil decided alert(service-degraded): cmp1 is service-degraded
      (service-down): agent answers on mgmt, storage; agent: nova-compute not running; agent: 2
      guests running; nova: up (weakest signal). The host is alive: vigil moves nothing.
`
	got := stamps.ReplaceAllStringFunc(out, func(s string) string {
		if strings.HasSuffix(s, "ago") {
			return "AGE"
		}
		return "T"
	})
	t.Logf("vigil explain cmp1:\n%s", out)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("explain (-want +got):\n%s", d)
	}
	if !strings.Contains(out, "(1m7s ago), rule service-down.") {
		t.Errorf("the age is not the incident's (1m7s):\n%s", out)
	}
}

// opsHosts are hosts whose incidents began 3m12s ago.
func opsHosts() []decision.HostStatus {
	opsSince := time.Now().Add(-(3*time.Minute + 12*time.Second + 200*time.Millisecond))
	tick := time.Now()
	nets := func(agent time.Time) []decision.NetworkSeen {
		return []decision.NetworkSeen{{Name: "mgmt", Agent: agent}, {Name: "storage", Agent: agent}}
	}
	return []decision.HostStatus{
		{Name: "cmp1", State: decision.ServiceDegraded, Since: opsSince, Rule: "service-down",
			Seen: decision.Seen{At: tick, Networks: nets(tick.Add(-time.Second)), StorageMoved: tick.Add(-time.Second), NovaAt: tick}},
		{Name: "cmp2", State: decision.Fenced, Since: opsSince.Add(-time.Hour), Rule: "fence-verified",
			Fence: &decision.Fence{At: opsSince, Method: "ipmi", Proof: "chassis power off"}, LeftToOperator: []string{"vm7"},
			Seen: decision.Seen{At: tick, Networks: nets(tick.Add(-time.Hour - 4*time.Minute)), StorageMoved: tick.Add(-time.Hour - 4*time.Minute),
				BMC: decision.PowerOff, BMCAt: tick.Add(-2 * time.Second), NovaAt: tick}},
		{Name: "cmp3-with-a-very-long-fully-qualified-name.rack4.example.org", State: decision.Failed, Since: opsSince, Rule: "brake", Held: true,
			Reason: "mass-failure brake: 3 hosts failed within 2m0s or held by the brake (cmp3, cmp4, cmp5), more than brake.max_hosts 2: likelier a network or power event than independent deaths"},
		{Name: "cmp4", State: decision.Maintenance, Since: time.Now().Add(-50 * time.Hour), Rule: "operator-maintenance", Held: true},
	}
}

func TestStatusFitsAndAligns(t *testing.T) {
	o := newOpsBed(t, apitest.New("ctl1", opsHosts()...))
	code, out, errOut := o.as(t, o.reader, "status")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	t.Logf("vigil status:\n%s", out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("%d lines, want a header, 4 hosts and the notes of 2", len(lines))
	}
	col := strings.Index(lines[0], "STATE")
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > statusWidth {
			t.Errorf("%d columns: %q", n, l)
		}
		if strings.HasPrefix(l, "  ") {
			continue // a host's note, under it
		}
		if r := []rune(l); len(r) <= col || r[col-1] != ' ' || r[col] == ' ' {
			t.Errorf("STATE not aligned at column %d: %q", col, l)
		}
	}
	for i, want := range []string{
		"cmp1  ", "service-degraded  3m12s ago", "mgmt:1s stor:1s hb:1s bmc:- nova:down",
		"cmp2 ", "fenced ", "1h3m ago", "mgmt:1h stor:1h hb:1h bmc:off nova:down\n  left to you: vm7; fence: ipmi\n",
		"cmp3-with-a-very-lo…", "held: mass-failure brake:",
		"cmp4", "maintenance", "2d2h ago",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %d %q", i, want)
		}
	}

	code, out, _ = o.as(t, o.reader, "status", "-o", "json")
	var st api.Status
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || len(st.Hosts) != 4 || st.Hosts[1].LeftToOperator[0] != "vm7" {
		t.Errorf("status -o json: exit %d, %v\n%s", code, err, out)
	}
}

// words is s with every run of white space one space: what a reader
// reads, wherever the lines break.
func words(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestAgo(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		0: "0s ago", 999 * time.Millisecond: "0s ago", 42 * time.Second: "42s ago", 3*time.Minute + 12*time.Second + 900*time.Millisecond: "3m12s ago",
		2*time.Hour + 5*time.Minute + 59*time.Second: "2h5m ago", 3 * time.Hour: "3h0m ago", 50 * time.Hour: "2d2h ago", -time.Second: "0s ago",
	} {
		if got := ago(at, at.Add(-d)); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
	if got := ago(at, time.Time{}); got != "-" {
		t.Errorf("ago(zero) = %q", got)
	}
}

func TestOpsCommands(t *testing.T) {
	o := newOpsBed(t, apitest.New("ctl1", opsHosts()...))
	code, out, errOut := o.as(t, o.operator, "maintenance", "on", "cmp1", "--reason", "BIOS update, CHG-4411")
	if code != 0 || out != "cmp1: maintenance on, by alice: accepted; the controller's engine applies it at its next tick; vigil explain cmp1 shows what it did\n" {
		t.Errorf("maintenance on: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := o.as(t, o.operator, "maintenance", "off", "cmp1"); code != 0 {
		t.Errorf("maintenance off: exit %d %s", code, errOut)
	}
	if code, _, errOut := o.as(t, o.operator, "confirm", "cmp2", "--reason", "PDU outlets off", "--by", "carol"); code != 0 {
		t.Errorf("confirm: exit %d %s", code, errOut)
	}
	if code, out, errOut := o.as(t, o.operator, "rejoin", "cmp2", "--reason", "PSU replaced"); code != 0 || !strings.HasPrefix(out, "cmp2: rejoin, by alice: accepted;") {
		t.Errorf("rejoin: exit %d %s%s", code, out, errOut)
	}
	code, out, _ = o.as(t, o.operator, "release", "cmp3-with-a-very-long-fully-qualified-name.rack4.example.org", "-o", "json")
	var acc api.Accepted
	if err := json.Unmarshal([]byte(out), &acc); code != 0 || err != nil || acc.Call != "release" || acc.By != "alice" {
		t.Errorf("release -o json: exit %d %v\n%s", code, err, out)
	}
	want := []decision.Input{
		decision.SetMaintenance{Host: "cmp1", On: true}, decision.SetMaintenance{Host: "cmp1"},
		decision.Confirm{Host: "cmp2", By: "carol"}, decision.Rejoin{Host: "cmp2", By: "alice"}, decision.Release{Host: "cmp3-with-a-very-long-fully-qualified-name.rack4.example.org", By: "alice"},
	}
	if d := cmp.Diff(want, o.b.Submitted()); d != "" {
		t.Errorf("submitted (-want +got):\n%s", d)
	}

	code, out, _ = o.as(t, o.reader, "history", "cmp1")
	if code != 0 || !strings.Contains(out, "alice: maintenance on (BIOS update, CHG-4411)") || !strings.Contains(out, "alice: maintenance off") || strings.Contains(out, "carol") {
		t.Errorf("history cmp1: exit %d\n%s", code, out)
	}
	code, out, _ = o.as(t, o.reader, "history", "-n", "1")
	if code != 0 || strings.Count(out, " ago)") != 1 || !strings.Contains(words(out), "example.org alice: release") {
		t.Errorf("history -n 1: exit %d\n%s", code, out)
	}
	if code, out, _ := o.as(t, o.reader, "explain", "cmp2"); code != 0 || !strings.Contains(out, "Fence: ipmi, 3m12s ago: chassis power off") || !strings.Contains(out, "Left to you: vm7") || !strings.Contains(out, "carol: confirm (PDU outlets off)") {
		t.Errorf("explain cmp2: exit %d\n%s", code, out)
	}
	if code, out, _ := o.as(t, o.reader, "explain", "cmp4"); code != 0 || !strings.Contains(out, "Held: in maintenance, by an operator.") || !strings.Contains(words(out), "vigil maintenance off cmp4") {
		t.Errorf("explain cmp4: exit %d\n%s", code, out)
	}
}

func TestOpsRefusals(t *testing.T) {
	o := newOpsBed(t, apitest.New("ctl1", opsHosts()...))
	for _, tc := range []struct {
		name string
		tok  string
		args []string
		code int
		want string
	}{
		{"reader's confirm", o.reader, []string{"confirm", "cmp2", "--reason", "x"}, 1, "this call needs an operator's token; yours is a reader's (token on "},
		{"unknown host", o.reader, []string{"explain", "cmp9"}, 1, `answered 404: no host "cmp9"`},
		{"no reason", o.operator, []string{"maintenance", "on", "cmp1"}, 2, "maintenance: --reason TEXT is required"},
		{"confirm without reason", o.operator, []string{"confirm", "cmp1"}, 2, "confirm: --reason TEXT is required"},
		{"rejoin without reason", o.operator, []string{"rejoin", "cmp1"}, 2, "rejoin: --reason TEXT is required"},
		{"reader's rejoin", o.reader, []string{"rejoin", "cmp2", "--reason", "x"}, 1, "this call needs an operator's token"},
		{"on or off", o.operator, []string{"maintenance", "yes", "cmp1", "--reason", "x"}, 2, `maintenance "yes": want on or off`},
		{"no host", o.reader, []string{"explain"}, 2, "usage: vigil explain HOST"},
		{"two hosts", o.reader, []string{"history", "cmp1", "cmp2"}, 2, "usage: vigil history [HOST]"},
		{"bad -o", o.reader, []string{"status", "-o", "yaml"}, 2, `-o "yaml": want text or json`},
		{"bad -n", o.reader, []string{"history", "-n", "0"}, 2, "-n 0: want at least 1"},
		{"no token file", "", []string{"status"}, 2, "--token-file FILE (or VIGIL_TOKEN_FILE) is required"},
		{"missing token file", "/nonexistent/token", []string{"status"}, 1, "/nonexistent/token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := o.as(t, tc.tok, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.want)
			}
		})
	}
	if len(o.b.Submitted()) != 0 {
		t.Errorf("refused commands were submitted: %v", o.b.Submitted())
	}
	// A token the controller does not know.
	bad := filepath.Join(t.TempDir(), "bad.token")
	if err := os.WriteFile(bad, []byte(strings.Repeat("z", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := o.as(t, bad, "status"); code != 1 || !strings.Contains(errOut, "refused the token of "+bad) {
		t.Errorf("unknown token: exit %d %q", code, errOut)
	}
}

func TestOpsControllerUnreachableOrNotLeading(t *testing.T) {
	b := apitest.New("ctl2", opsHosts()...)
	o := newOpsBed(t, b)
	b.SetLeading(false)
	for _, args := range [][]string{{"status"}, {"explain", "cmp1"}, {"plan", "cmp1"}, {"history"}, {"release", "cmp1"}} {
		code, _, errOut := o.as(t, o.operator, args...)
		if code != 1 || !strings.Contains(errOut, "the controller at "+o.srv.URL+" does not lead (controller ctl2 does not lead") || !strings.Contains(errOut, "point --url at another controller") {
			t.Errorf("%v on a follower: exit %d %q", args, code, errOut)
		}
	}
	url := o.srv.URL
	o.srv.Close()
	code, _, errOut := o.as(t, o.reader, "status")
	if code != 1 || !strings.Contains(errOut, "cannot reach the controller at "+url+": ") || !strings.Contains(errOut, "check --url (or VIGIL_URL)") {
		t.Errorf("closed controller: exit %d %q", code, errOut)
	}
	if code, _, errOut := runEnv(t, nil, "status", "--url", "ctl1:7421", "--token-file", o.reader); code != 2 || !strings.Contains(errOut, "--url") {
		t.Errorf("bad --url: exit %d %q", code, errOut)
	}
}

func TestOpsTLSWithCA(t *testing.T) {
	tk, err := api.LoadTokens(func(string) ([]byte, error) { return []byte(readerToken), nil }, "reader.tokens", "")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(api.Handler(apitest.New("ctl1", opsHosts()...), tk, slog.New(slog.DiscardHandler)))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake refused on purpose
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	ca, tok := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "token")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tok, []byte(readerToken), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"VIGIL_URL": srv.URL, "VIGIL_TOKEN_FILE": tok}
	code, _, errOut := runEnv(t, vars, "status")
	if code != 1 || !strings.Contains(errOut, "cannot verify the certificate of the controller at "+srv.URL) || !strings.Contains(errOut, "--ca FILE (or VIGIL_CA)") {
		t.Errorf("without the CA: exit %d %q", code, errOut)
	}
	vars["VIGIL_CA"] = ca
	if code, out, errOut := runEnv(t, vars, "status"); code != 0 || !strings.Contains(out, "cmp1") {
		t.Errorf("with VIGIL_CA: exit %d %s%s", code, out, errOut)
	}
	delete(vars, "VIGIL_CA")
	if code, _, errOut := runEnv(t, vars, "status", "--ca", ca); code != 0 {
		t.Errorf("with --ca: exit %d %s", code, errOut)
	}
}

func TestOpsHelp(t *testing.T) {
	for _, cmd := range []string{"status", "explain", "plan", "history", "maintenance", "confirm", "rejoin", "release"} {
		code, out, _ := run(t, cmd, "--help")
		if code != 0 || !strings.Contains(out, "vigil "+cmd) || !strings.Contains(out, "Example") || !strings.Contains(out, "-token-file") {
			t.Errorf("vigil %s --help: exit %d\n%s", cmd, code, out)
		}
	}
	if _, out, _ := run(t, "help"); !strings.Contains(out, "explain     why a host is where it is") {
		t.Errorf("top help lacks the operator's commands:\n%s", out)
	}
}

// TestWordsForEveryRuleAndState fails when the engine names a rule (or
// has a state) that vigil explain has no words for, or when a rule the
// table explains is no longer the engine's.
func TestWordsForEveryRuleAndState(t *testing.T) {
	src, err := filepath.Glob("../decision/*.go")
	if err != nil {
		t.Fatal(err)
	}
	patterns := []*regexp.Regexp{
		regexp.MustCompile(`assessment\{\w+, "([a-z-]+)"\}`),          // assess
		regexp.MustCompile(`transition\(now, h, [\w.]+, "([a-z-]+)"`), // the incident's transitions
		regexp.MustCompile(`h\.rule = "([a-z-]+)"`),                   // restore
		regexp.MustCompile(`h\.state, h\.rule = \w+, "([a-z-]+)"`),    // restore
	}
	gate := regexp.MustCompile(`(?s)func \(e \*Engine\) hold\(.*?\n}\n`) // the cluster rules' codes
	ret := regexp.MustCompile(`return "([a-z-]+)"`)
	state := regexp.MustCompile(`\w+\s+State = "([a-z-]+)"`)
	rules, states := map[string]bool{}, map[decision.State]bool{}
	for _, f := range src {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range patterns {
			for _, m := range p.FindAllSubmatch(b, -1) {
				rules[string(m[1])] = true
			}
		}
		for _, g := range gate.FindAll(b, -1) {
			for _, m := range ret.FindAllSubmatch(g, -1) {
				rules[string(m[1])] = true
			}
		}
		for _, m := range state.FindAllSubmatch(b, -1) {
			states[decision.State(m[1])] = true
		}
	}
	if len(rules) < 30 || len(states) != 13 {
		t.Fatalf("found %d rules and %d states in ../decision: the patterns no longer match the engine's code", len(rules), len(states))
	}
	for r := range rules {
		if ruleSentences[r] == "" {
			t.Errorf("the engine's rule %q has no sentence in ruleSentences", r)
		}
	}
	for r := range ruleSentences {
		if !rules[r] {
			t.Errorf("ruleSentences explains %q, which the engine does not name", r)
		}
	}
	for s := range states {
		if stateSentences[s] == "" {
			t.Errorf("state %q has no sentence in stateSentences", s)
		}
	}
}

// The operator's commands take their flags as they did before cobra:
// --flag value, --flag=value, before or after the host, -o and -n with
// one dash; a long flag with one dash is told to take two.
func TestOpsFlagSpellings(t *testing.T) {
	o := newOpsBed(t, apitest.New("ctl1", opsHosts()...))
	for _, args := range [][]string{
		{"maintenance", "on", "cmp1", "--reason", "BIOS"},
		{"maintenance", "--reason=BIOS", "on", "cmp1"},
		{"maintenance", "on", "--reason", "BIOS", "cmp1", "-o", "json"},
		{"maintenance", "on", "cmp1", "--reason=BIOS", "-o=json"},
		{"maintenance", "-ojson", "on", "cmp1", "--reason", "BIOS", "--o", "json"},
	} {
		code, out, errOut := o.as(t, o.operator, args...)
		if code != 0 {
			t.Errorf("vigil %q: exit %d, stderr %q", args, code, errOut)
			continue
		}
		if json.Valid([]byte(out)) != strings.Contains(strings.Join(args, " "), "json") {
			t.Errorf("vigil %q: JSON output %v, want %v:\n%s", args, json.Valid([]byte(out)), !json.Valid([]byte(out)), out)
		}
	}
	var want []decision.Input
	for range 5 {
		want = append(want, decision.SetMaintenance{Host: "cmp1", On: true})
	}
	if d := cmp.Diff(want, o.b.Submitted()); d != "" {
		t.Errorf("submitted (-want +got):\n%s", d)
	}
	for _, args := range [][]string{{"history", "-n", "1"}, {"history", "-n=1"}, {"history", "-n1"}, {"history", "cmp1", "--n", "1"}} {
		if code, out, errOut := o.as(t, o.reader, args...); code != 0 || strings.Count(out, " ago)") != 1 {
			t.Errorf("vigil %q: exit %d, want one event\n%s%s", args, code, out, errOut)
		}
	}
	for flag, args := range map[string][]string{
		"reason": {"maintenance", "on", "cmp1", "-reason", "x"},
		"url":    {"status", "-url=" + o.srv.URL},
	} {
		if code, _, errOut := o.as(t, o.operator, args...); code != 2 || !strings.Contains(errOut, "write --"+flag) {
			t.Errorf("vigil %q: exit %d, stderr %q; want a usage error telling to write --%s", args, code, errOut, flag)
		}
	}
}
