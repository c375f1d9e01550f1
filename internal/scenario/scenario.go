package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ErrInvalid marks every scenario file error.
var ErrInvalid = errors.New("scenario: invalid")

// Duration is a YAML duration written like "20s" or "1m30s".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration like 20s or 1m30s", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration back as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// CountOrList is an expectation given as a number or as a list of names.
type CountOrList struct {
	Set   bool
	Count int
	Names []string
}

// UnmarshalYAML accepts 3 or [vm01, vm02].
func (c *CountOrList) UnmarshalYAML(n *yaml.Node) error {
	c.Set = true
	if n.Kind == yaml.ScalarNode {
		v, err := strconv.Atoi(n.Value)
		if err != nil || v < 0 {
			return fmt.Errorf("line %d: want a count or a list, got %q", n.Line, n.Value)
		}
		c.Count = v
		return nil
	}
	c.Names = []string{}
	return n.Decode(&c.Names)
}

// MarshalYAML writes the count or the list.
func (c CountOrList) MarshalYAML() (any, error) {
	if c.Names != nil {
		return c.Names, nil
	}
	return c.Count, nil
}

// IsZero lets omitempty drop an unset expectation.
func (c CountOrList) IsZero() bool { return !c.Set }

// Cluster is the world a scenario runs in.
type Cluster struct {
	Hosts     int                 `yaml:"hosts"`
	Networks  []string            `yaml:"networks,omitempty"`
	Instances int                 `yaml:"instances"`
	Domains   map[string][]string `yaml:"domains,omitempty"`
	Fencing   []string            `yaml:"fencing,omitempty"` // levels: ipmi | ceph-blocklist | ipmi+ceph-blocklist
	Watchdog  *Watchdog           `yaml:"watchdog,omitempty"`
	// MessageDelay delays every agent report and every grant, each way.
	MessageDelay Duration `yaml:"message_delay,omitempty"`
	// ClockRates: host or "controllers" → clock rate against real time.
	ClockRates map[string]float64 `yaml:"clock_rates,omitempty"`
	// BlocklistExpire is the expiry of vigil's Ceph blocklist entries
	// (default 24h; the real device refuses less than 1h).
	BlocklistExpire Duration `yaml:"blocklist_expire,omitempty"`
	// Capacity is how many instances every host can hold (Nova's placement
	// counts stopped and ERROR ones too); 0 is unlimited. HostCapacity sets
	// it per host over Capacity.
	Capacity     int            `yaml:"capacity,omitempty"`
	HostCapacity map[string]int `yaml:"host_capacity,omitempty"`
}

// Watchdog arms the agents' isolation response on every host.
type Watchdog struct {
	IsolationTimeout Duration `yaml:"isolation_timeout"`
	WatchdogTimeout  Duration `yaml:"watchdog_timeout"`
}

// Nova holds Nova's service group timings.
type Nova struct {
	ReportInterval  Duration `yaml:"report_interval,omitempty"`
	ServiceDownTime Duration `yaml:"service_down_time,omitempty"`
	// EvacuateLatency: from the executor's fence re-read to Nova accepting
	// the evacuation.
	EvacuateLatency Duration `yaml:"evacuate_latency,omitempty"`
}

// Fault is one scheduled event: exactly one verb key per entry.
type Fault struct {
	At   Duration `yaml:"at"`
	Host string   `yaml:"host,omitempty"`
	For  Duration `yaml:"for,omitempty"`

	Stop        string     `yaml:"stop,omitempty"`        // nova-compute | libvirtd | agent
	Crash       string     `yaml:"crash,omitempty"`       // nova-compute | libvirtd | agent: no clean-up
	Stall       string     `yaml:"stall,omitempty"`       // controller-leader: SIGSTOP for `for`
	Isolate     string     `yaml:"isolate,omitempty"`     // controller-leader: loses etcd
	Power       string     `yaml:"power,omitempty"`       // off | on
	Cut         string     `yaml:"cut,omitempty"`         // network, or bond: all of them
	Partition   string     `yaml:"partition,omitempty"`   // network
	Groups      [][]string `yaml:"groups,omitempty"`      // partition groups
	BMC         string     `yaml:"bmc,omitempty"`         // unreachable | reachable | lies | slow | late
	Delay       Duration   `yaml:"delay,omitempty"`       // bmc slow/late: how long; watchdog config: the agent's watchdog_timeout
	Hang        string     `yaml:"hang,omitempty"`        // host | userspace
	Watchdog    string     `yaml:"watchdog,omitempty"`    // missing | long | config | present: from the host's next agent start on (a boot whose watchdog module did not load; a device that rounds the timeout up to twice the configured one; the agent's own watchdog_timeout, delay)
	Storage     string     `yaml:"storage,omitempty"`     // unreachable | reachable
	Blocklist   string     `yaml:"blocklist,omitempty"`   // expire: the host's entries lapse
	Kill        string     `yaml:"kill,omitempty"`        // controller-leader
	Flap        string     `yaml:"flap,omitempty"`        // network, or bond: all of them
	Period      Duration   `yaml:"period,omitempty"`      // flap: one down+up cycle
	Count       int        `yaml:"count,omitempty"`       // flap: cycles
	Maintenance string     `yaml:"maintenance,omitempty"` // on | off
	Confirm     string     `yaml:"confirm,omitempty"`     // host: operator confirms it is off
	Rejoin      string     `yaml:"rejoin,omitempty"`      // host: operator lets it back once clean (vigil rejoin)
	Release     string     `yaml:"release,omitempty"`     // host: operator releases the brake
	Pause       string     `yaml:"pause,omitempty"`       // on | off: an operator pauses vigil (vigil pause), or resumes it; on with for: resumed after it
	Instance    string     `yaml:"instance,omitempty"`    // shutoff | error | migrating | deleting | rebuilding, of vm
	VM          string     `yaml:"vm,omitempty"`          // instance: which one
	Rebuild     string     `yaml:"rebuild,omitempty"`     // fails: rebuilds on host end in ERROR there
}

// Expect is what must hold at the end of the run.
type Expect struct {
	Evacuated     CountOrList       `yaml:"evacuated,omitempty"`
	Fenced        []string          `yaml:"fenced,omitempty"`
	DoubleWriters *int              `yaml:"double_writers,omitempty"`
	LostInstances *int              `yaml:"lost_instances,omitempty"`
	MaxRecovery   Duration          `yaml:"max_recovery,omitempty"`
	States        map[string]string `yaml:"states,omitempty"`
	Alerts        []string          `yaml:"alerts,omitempty"`
	Held          CountOrList       `yaml:"held,omitempty"`
}

// Scenario is one parsed scenario file.
type Scenario struct {
	Name     string     `yaml:"name"`
	About    string     `yaml:"about,omitempty"`
	Seed     int64      `yaml:"seed,omitempty"`
	Cluster  Cluster    `yaml:"cluster"`
	Nova     Nova       `yaml:"nova,omitempty"`
	Vigil    *Overrides `yaml:"vigil,omitempty"` // overrides of vigil's config file
	Faults   []Fault    `yaml:"faults,omitempty"`
	Duration Duration   `yaml:"run"`
	Expect   Expect     `yaml:"expect"`
}

// Parse reads and validates one scenario.
func Parse(data []byte) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, explainYAML(err))
	}
	var rest yaml.Node
	if err := dec.Decode(&rest); err == nil {
		return nil, fmt.Errorf("%w: one scenario per file: found a second YAML document", ErrInvalid)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

func bad(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// Networks returns the cluster's networks with the default filled in.
func (s *Scenario) Networks() []string {
	if len(s.Cluster.Networks) == 0 {
		return []string{"mgmt", "storage"}
	}
	return s.Cluster.Networks
}

// InstanceNames returns the instances vm01… of the cluster.
func (s *Scenario) InstanceNames() []string {
	out := make([]string, s.Cluster.Instances)
	for i := range out {
		out[i] = fmt.Sprintf("vm%02d", i+1)
	}
	return out
}

// Capacities is every host's capacity (0 unlimited), as the simulator takes it.
func (s *Scenario) Capacities() map[string]int {
	out := map[string]int{}
	for _, h := range s.HostNames() {
		if c, ok := s.Cluster.HostCapacity[h]; ok {
			out[h] = c
		} else if s.Cluster.Capacity > 0 {
			out[h] = s.Cluster.Capacity
		}
	}
	return out
}

// HostNames returns cmp1..cmpN.
func (s *Scenario) HostNames() []string {
	out := make([]string, s.Cluster.Hosts)
	for i := range out {
		out[i] = fmt.Sprintf("cmp%d", i+1)
	}
	return out
}

var unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type scenario\.(\w+)`)

// explainYAML turns yaml.v3's errors into ones that name the key and list
// the keys that are allowed there.
func explainYAML(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return strings.TrimPrefix(err.Error(), "yaml: ")
	}
	var out []string
	for _, e := range te.Errors {
		m := unknownField.FindStringSubmatch(e)
		if m == nil {
			out = append(out, e)
			continue
		}
		out = append(out, fmt.Sprintf("line %s: unknown key %q in %s; known keys: %s", m[1], m[2], strings.ToLower(m[3]), strings.Join(yamlKeys(m[3]), ", ")))
	}
	return strings.Join(out, "; ")
}

// yamlKeys lists the YAML keys of one of this package's types.
func yamlKeys(typeName string) []string {
	var v any
	switch typeName {
	case "Fault":
		v = Fault{}
	case "Cluster":
		v = Cluster{}
	case "Nova":
		v = Nova{}
	case "Expect":
		v = Expect{}
	case "Overrides":
		v = Overrides{}
	default:
		v = Scenario{}
	}
	t := reflect.TypeOf(v)
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if tag := t.Field(i).Tag.Get("yaml"); tag != "" {
			keys = append(keys, strings.Split(tag, ",")[0])
		}
	}
	return keys
}
