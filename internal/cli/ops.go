package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/vigil-ha/vigil/internal/api"
)

// defaultURL is where the CLI finds a controller when neither --url nor
// VIGIL_URL says.
const defaultURL = "https://127.0.0.1:7421"

// remoteHelp is what every command that talks to a controller says of it.
const remoteHelp = `
The controller: --url (default $VIGIL_URL, else ` + defaultURL + `),
--token-file FILE ($VIGIL_TOKEN_FILE: a file holding your one token),
--ca FILE ($VIGIL_CA: the CA of the controller's certificate; default the
system's). Every controller answers, but only the leader knows the hosts:
one that does not lead says so, and you point --url at another.
-o json prints the API's JSON instead (docs/api.md).
`

const statusHelp = `vigil status — every host's state, as the leading controller sees it

One line per host: its name, its state, since when, the rule that put it
there, and what needs you: held (vigil will not act on it without an
operator, and why), its fence, instances left to you, a failing unfence.
'vigil explain HOST' says it all in words. A reader's token is enough.

Usage:
  vigil status [--url URL] [--token-file FILE] [--ca FILE] [-o text|json]

Example:
  $ vigil status --url https://ctl1:7421 --token-file ~/.vigil/token --ca /etc/vigil/ca.pem
  HOST  STATE             SINCE      RULE            NOTE
  cmp1  service-degraded  3m12s ago  service-down
  cmp2  fenced            1h2m ago   fence-verified  left to you: vm7; fence: ipmi
` + remoteHelp

const explainHelp = `vigil explain HOST — why a host is where it is, in plain words

Says the host's state and since when, the rule that put it there and what
vigil does next, whether it is held and why, its fence, the instances left
to you, and its last 50 events (transitions with their evidence, actions,
results, operators' commands). A reader's token is enough.

Usage:
  vigil explain HOST [--url URL] [--token-file FILE] [--ca FILE] [-o text|json]

Example:
  vigil explain cmp1
` + remoteHelp

const historyHelp = `vigil history — the last events, of one host or of all

Transitions (with the evidence and rule behind each), the actions vigil
decided, their results, and operators' commands, oldest first. A reader's
token is enough.

Usage:
  vigil history [HOST] [-n N] [--url URL] [--token-file FILE] [--ca FILE] [-o text|json]

Examples:
  vigil history cmp1
  vigil history -n 200 -o json
` + remoteHelp

const maintenanceHelp = `vigil maintenance — hand a host to an operator, or take it back

on: vigil does nothing to the host until maintenance ends: no fence, no
evacuation, whatever it sees (an incident already open pauses, its fences
stay in force). off: vigil judges it again from fresh evidence, and an
incident paused by maintenance resumes where it was. The reason is
required for on and goes to the controller's log and the host's history.
Needs an operator's token.

Usage:
  vigil maintenance on HOST --reason TEXT
  vigil maintenance off HOST [--reason TEXT]

Example:
  vigil maintenance on cmp3 --reason "BIOS update, CHG-4411"
` + remoteHelp

const confirmHelp = `vigil confirm — vouch that a failed host is off

Tells vigil that HOST is powered off and its guests stopped, when vigil
cannot fence it itself (every fence level failed, its fence cannot be
read, storage heartbeats cannot be read). Your word stands in for a
verified fence: vigil then starts its instances elsewhere. If the host
still runs them, two copies write the same disks: confirm only what you
checked (the power cords, the BMC's own console). vigil refuses a confirm
of a host that answers again. Needs an operator's token; --by defaults to
your token's name.

Usage:
  vigil confirm HOST --reason TEXT [--by NAME]

Example:
  vigil confirm cmp2 --reason "PDU outlets 7 and 8 switched off, checked in the DC"
` + remoteHelp

const pauseHelp = `vigil pause — stop vigil from fencing any host, for planned work

While paused, vigil opens no new incident: a host judged failed is held (it
is neither fenced nor are its instances moved), alerted, and vigil explain
says who paused vigil and why. Incidents already open carry on: their
fences stay in force and their instances still move. The pause is kept in
etcd: a new leader is paused too. Use it for work that may make healthy
hosts look dead (a core switch upgrade); use vigil maintenance for one host.

Usage:
  vigil pause --reason TEXT [--by NAME]

Example:
  vigil pause --reason "core switch upgrade, change 4711"
`

const resumeHelp = `vigil resume — end vigil pause

The hosts the pause held have their incidents opened at the controller's
next tick if they are still failed: they are fenced, then evacuated.

Usage:
  vigil resume [--reason TEXT] [--by NAME]
`

const releaseHelp = `vigil release — let vigil fence a host the mass-failure brake holds

When too many hosts fail at once vigil fences none of them automatically
(likelier a network or power event than independent deaths). release lets
it fence HOST, for the current episode only; a host the brake does not
hold is left as it is (vigil explain shows). Needs an operator's token.

Usage:
  vigil release HOST [--reason TEXT] [--by NAME]

Example:
  vigil release cmp4 --reason "rack 4's PDU failed; the others are fine"
` + remoteHelp

const rejoinHelp = `vigil rejoin — let a fenced host that came back serve again

Under the rejoin policy manual (recovery.rejoin, the default), a host that
was fenced and comes back stays fenced and forced down in Nova, even once
it is clean (it runs none of the guests vigil moved away, nova-compute
runs there, Nova has listed it since its fence): vigil alerts
rejoin-ready and vigil status shows it held. rejoin lets it back: at its
next tick vigil unfences it and enables it in Nova, if it is still clean
then. vigil refuses a rejoin of a host that is not rejoining or not clean,
and says why (alert rejoin-refused, vigil explain); a rejoin is void if the
host is unclean again, falls silent or reboots before it is let back.
Needs an operator's token; --by defaults to your token's name.

Usage:
  vigil rejoin HOST --reason TEXT [--by NAME]

Example:
  vigil rejoin cmp2 --reason "PSU replaced, CHG-4420"
` + remoteHelp

// opsFlags holds the flags of the commands that talk to a controller.
type opsFlags struct {
	url, tokenFile, ca, out string
	reason, by              string
	n                       int
}

// define defines command name's flags on fs; env gives the defaults of
// those an environment variable names.
func (o *opsFlags) define(name string, fs *pflag.FlagSet, env Env) {
	get := func(k, def string) string {
		if env.Getenv != nil {
			if v := env.Getenv(k); v != "" {
				return v
			}
		}
		return def
	}
	fs.StringVar(&o.url, "url", get("VIGIL_URL", defaultURL), "the controller's API (env VIGIL_URL)")
	fs.StringVar(&o.tokenFile, "token-file", get("VIGIL_TOKEN_FILE", ""), "the file holding your token (env VIGIL_TOKEN_FILE)")
	fs.StringVar(&o.ca, "ca", get("VIGIL_CA", ""), "the CA of the controller's certificate, PEM (env VIGIL_CA; default the system's)")
	fs.StringVarP(&o.out, "o", "o", "text", "output: text or json")
	switch name {
	case "maintenance", "confirm", "rejoin", "release", "pause", "resume":
		fs.StringVar(&o.reason, "reason", "", "why: to the controller's log and the host's history")
		if name != "maintenance" {
			fs.StringVar(&o.by, "by", "", "who (default: your token's name, else \"operator\")")
		}
	case "history":
		fs.IntVarP(&o.n, "n", "n", 50, "how many events")
	}
}

// client checks the flags and returns the controller's client.
func (r *opsFlags) client(env Env) (*api.Client, error) {
	if r.out != "text" && r.out != "json" {
		return nil, fmt.Errorf("%w: -o %q: want text or json", errUsage, r.out)
	}
	if r.tokenFile == "" {
		return nil, fmt.Errorf("%w: --token-file FILE (or VIGIL_TOKEN_FILE) is required: the controller admits no call without a token", errUsage)
	}
	token, err := api.LoadClientToken(env.ReadFile, r.tokenFile)
	if err != nil {
		return nil, err
	}
	conf, err := api.ClientTLS(env.ReadFile, r.ca)
	if err != nil {
		return nil, err
	}
	c, err := api.NewClient(r.url, token, conf)
	if err != nil {
		return nil, fmt.Errorf("%w: --url: %v", errUsage, err)
	}
	return c, nil
}

// explain says what a client's error means and what to do about it.
func (r *opsFlags) explain(err error) error {
	var e *api.Error
	var ue *api.UnreachableError
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var host x509.HostnameError
	switch {
	case errors.As(err, &unknown), errors.As(err, &verify) && !errors.As(err, &host):
		return fmt.Errorf("cannot verify the certificate of the controller at %s (%v): give the CA that signed it with --ca FILE (or VIGIL_CA)", r.url, cause(err))
	case errors.As(err, &host):
		return fmt.Errorf("the certificate of the controller at %s is not for that name (%v): use the name or address it was made for in --url", r.url, host)
	case errors.As(err, &ue):
		return fmt.Errorf("cannot reach the controller at %s: %v; check --url (or VIGIL_URL) and that vigil controller runs there", r.url, ue.Err)
	case errors.As(err, &e):
		switch e.Code {
		case api.CodeNotLeading:
			return fmt.Errorf("the controller at %s does not lead (%s); point --url at another controller", r.url, e.Message)
		case api.CodeUnauthorized:
			return fmt.Errorf("the controller at %s refused the token of %s: %s", r.url, r.tokenFile, e.Message)
		case api.CodeForbidden:
			return fmt.Errorf("the controller at %s: %s; give an operator's token file with --token-file", r.url, e.Message)
		}
		return fmt.Errorf("the controller at %s answered %d: %s", r.url, e.Status, e.Message)
	}
	return err
}

// cause is why a call got no answer.
func cause(err error) error {
	var ue *api.UnreachableError
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func printJSON(env Env, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "%s\n", b)
	return err
}

// opsHelp is the --help of each command that talks to a controller.
var opsHelp = map[string]string{"status": statusHelp, "explain": explainHelp, "plan": planHelp, "history": historyHelp,
	"maintenance": maintenanceHelp, "confirm": confirmHelp, "rejoin": rejoinHelp, "release": releaseHelp, "pause": pauseHelp, "resume": resumeHelp}

// opsCommand is command flags for name, one of opsHelp's.
func opsCommand(name string) func(*pflag.FlagSet, Env) (string, func([]string) error) {
	return func(fs *pflag.FlagSet, env Env) (string, func([]string) error) {
		var o opsFlags
		o.define(name, fs, env)
		return opsHelp[name], func(pos []string) error { return opsCmd(name, pos, &o, env) }
	}
}

// opsCmd runs the commands that talk to a controller's API, given their
// positional arguments and flags.
func opsCmd(name string, pos []string, r *opsFlags, env Env) error {
	want := map[string]string{"status": "", "explain": "HOST", "plan": "HOST", "history": "[HOST]", "maintenance": "on|off HOST", "confirm": "HOST", "rejoin": "HOST", "release": "HOST", "pause": "", "resume": ""}[name]
	nargs := len(strings.Fields(want))
	switch {
	case name == "history" && len(pos) > 1, name != "history" && len(pos) != nargs:
		return fmt.Errorf("%w: usage: vigil %s %s (vigil %s --help)", errUsage, name, want, name)
	case name == "maintenance" && pos[0] != "on" && pos[0] != "off":
		return fmt.Errorf("%w: maintenance %q: want on or off, then the host", errUsage, pos[0])
	case name == "maintenance" && pos[0] == "on" && r.reason == "", name == "confirm" && r.reason == "", name == "rejoin" && r.reason == "", name == "pause" && r.reason == "":
		return fmt.Errorf("%w: %s: --reason TEXT is required: say why (it goes to the controller's log and the host's history)", errUsage, name)
	case name == "history" && r.n < 1:
		return fmt.Errorf("%w: history: -n %d: want at least 1", errUsage, r.n)
	}
	c, err := r.client(env)
	if err != nil {
		return err
	}
	ctx := context.Background()
	var out any
	switch name {
	case "status":
		var st api.Status
		if st, err = c.Status(ctx); err == nil && r.out == "text" {
			return printStatus(env, st)
		}
		out = st
	case "explain":
		var d api.HostDetail
		if d, err = c.Host(ctx, pos[0]); err == nil && r.out == "text" {
			return printExplain(env, d)
		}
		out = d
	case "plan":
		var p api.Plan
		if p, err = c.Plan(ctx, pos[0]); err == nil && r.out == "text" {
			return printHostPlan(env, p)
		}
		out = p
	case "history":
		host := ""
		if len(pos) == 1 {
			host = pos[0]
		}
		var h api.History
		if h, err = c.History(ctx, host, r.n); err == nil && r.out == "text" {
			return printHistory(env, h, host)
		}
		out = h
	case "maintenance":
		out, err = c.Maintenance(ctx, pos[1], api.MaintenanceRequest{On: pos[0] == "on", Reason: r.reason})
	case "confirm":
		out, err = c.Confirm(ctx, pos[0], api.ConfirmRequest{By: r.by, Reason: r.reason})
	case "rejoin":
		out, err = c.Rejoin(ctx, pos[0], api.RejoinRequest{By: r.by, Reason: r.reason})
	case "release":
		out, err = c.Release(ctx, pos[0], api.ReleaseRequest{By: r.by, Reason: r.reason})
	case "pause":
		out, err = c.Pause(ctx, api.ReleaseRequest{By: r.by, Reason: r.reason})
	case "resume":
		out, err = c.Resume(ctx, api.ReleaseRequest{By: r.by, Reason: r.reason})
	}
	if err != nil {
		return r.explain(err)
	}
	if a, ok := out.(api.Accepted); ok && r.out == "text" {
		who := a.Host
		if who == "" {
			who = "vigil"
		}
		_, err := fmt.Fprintf(env.Stdout, "%s: %s, by %s: accepted; %s\n", who, a.Call, a.By, a.Note)
		return err
	}
	return printJSON(env, out)
}

// statusWidth is the width vigil status fits in.
const statusWidth = 100

func printStatus(env Env, st api.Status) error {
	if len(st.Hosts) == 0 {
		_, err := fmt.Fprintf(env.Stdout, "controller %s knows no host\n", st.Self)
		return err
	}
	rows := [][]string{{"HOST", "STATE", "SINCE", "LAST HEARD", ""}}
	for _, h := range st.Hosts {
		rows = append(rows, []string{clip(h.Name, 20), string(h.State), ago(st.At, h.Since), heard(h.Seen), note(h)})
	}
	var w [3]int
	for _, r := range rows {
		for i := range w {
			w[i] = max(w[i], utf8.RuneCountInString(r[i]))
		}
	}
	room := statusWidth - (w[0] + w[1] + w[2] + 3*2)
	var b strings.Builder
	for _, r := range rows {
		line := ""
		for i := range w {
			line += r[i] + strings.Repeat(" ", w[i]-utf8.RuneCountInString(r[i])+2)
		}
		b.WriteString(strings.TrimRight(line+clip(r[3], max(room, 10)), " ") + "\n")
		if r[4] != "" {
			// What needs an operator, on a line of its own under the host.
			b.WriteString("  " + clip(r[4], statusWidth-2) + "\n")
		}
	}
	_, err := fmt.Fprint(env.Stdout, b.String())
	return err
}

// heard sums up what the leader last heard of a host, as ages at the
// time of its last tick: its agent on each network (the first four letters
// of the network's name), its storage heartbeat (hb), its BMC's last reading
// and Nova's service state (up or down; "-" never read, ages "-" never).
func heard(s api.Seen) string {
	age := func(t time.Time) string {
		if t.IsZero() || s.At.IsZero() {
			return "-"
		}
		return compact(max(s.At.Sub(t), 0))
	}
	var parts []string
	for _, n := range s.Networks {
		name := n.Name
		if r := []rune(name); len(r) > 4 {
			name = string(r[:4])
		}
		parts = append(parts, name+":"+age(n.Agent))
	}
	parts = append(parts, "hb:"+age(s.StorageMoved))
	bmc := "-"
	if s.BMC != "" {
		bmc = s.BMC
	}
	parts = append(parts, "bmc:"+bmc)
	nova := "-"
	switch {
	case s.NovaAt.IsZero():
	case s.NovaUp:
		nova = "up"
	default:
		nova = "down"
	}
	return strings.Join(append(parts, "nova:"+nova), " ")
}

// compact is a short age: 0s, 12s, 3m, 5h, 2d.
func compact(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

// note sums up what needs an operator about h, the most pressing first.
func note(h api.HostStatus) string {
	var parts []string
	switch {
	case h.Held && h.Reason != "":
		parts = append(parts, "held: "+h.Reason)
	case h.Held && h.State == "maintenance":
	case h.Held:
		parts = append(parts, "held: vigil explain "+h.Name)
	}
	if len(h.LeftToOperator) > 0 {
		parts = append(parts, "left to you: "+strings.Join(h.LeftToOperator, ", "))
	}
	if h.Unfence != "" {
		parts = append(parts, "unfence failing: "+h.Unfence)
	}
	if h.Fence != nil {
		f := "fence: " + h.Fence.Method
		if h.Fence.By != "" {
			f += " by " + h.Fence.By
		}
		parts = append(parts, f)
	}
	return strings.Join(parts, "; ")
}

// clip cuts s to n runes, marking the cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// ago says how long before at t was, to the second ("3m12s ago").
func ago(at, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := max(at.Sub(t), 0).Truncate(time.Second)
	switch {
	case d < time.Hour:
		return d.String() + " ago"
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Truncate(time.Minute).String(), "0s") + " ago"
	}
	days := int(d / (24 * time.Hour))
	return fmt.Sprintf("%dd%dh ago", days, int((d-time.Duration(days)*24*time.Hour)/time.Hour))
}
