package agentnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/vigil-ha/vigil/internal/wire"
)

// Network is one network the controller listens on.
type Network struct {
	// Name is the network's name as agents report it (mgmt, storage).
	Name string
	// Listen is the local address to bind, ip:port; the agents send to
	// it. A concrete address, not 0.0.0.0: replies leave from it.
	Listen string
}

// Config configures a Server.
type Config struct {
	Networks []Network
	Gate     wire.GateConfig
	// RetryBurst and RetryEvery limit the Retry answers per source address:
	// RetryBurst at once, then one per RetryEvery. An agent needs one per
	// network after a restart or failover, so the limit only bites on a
	// flood (replays, or packets from a spoofed source).
	RetryBurst int
	RetryEvery time.Duration
	// RetryPerSecond bounds all Retry answers together, whatever their
	// sources: what the controller can be made to send to addresses a
	// flood names. It must let every agent on every network retry once
	// within a few seconds of a failover.
	RetryPerSecond int
	// ReportTimeout is how long a report waits for the Runner's grant; a
	// grant later than that is of no use to the agent (it reports again
	// every interval).
	ReportTimeout time.Duration
	// Readers is how many goroutines read each socket (opening packets
	// runs in parallel; the Runner serialises the rest).
	Readers int
	// Clock is this controller process's monotonic clock, from its start:
	// the gate's challenges and the retry limits count on it. Nil: time
	// since Listen.
	Clock func() time.Duration
	Log   *slog.Logger
}

// DefaultConfig is for agent.report_interval 1 s and up to 10,000 hosts
// on three networks.
func DefaultConfig() Config {
	return Config{
		Gate:           wire.DefaultGateConfig(), // a challenge is good for 5 s: five report intervals
		RetryBurst:     2,                        // a report and a stop notice refused at once
		RetryEvery:     time.Second,              // a well-behaved agent needs one per Gate.Window at most
		RetryPerSecond: 20000,                    // 10,000 hosts × 3 networks retry within 1.5 s of a failover
		ReportTimeout:  time.Second,              // one report interval
		Readers:        4,
	}
}

// Validate says what is wrong with c, naming the field.
func (c Config) Validate() error {
	var errs []error
	if len(c.Networks) == 0 {
		errs = append(errs, errors.New("agentnet: networks: none; give each network's name and listen address"))
	}
	seen := map[string]bool{}
	for i, n := range c.Networks {
		if n.Name == "" {
			errs = append(errs, fmt.Errorf("agentnet: networks[%d].name: empty", i))
		}
		if seen[n.Name] {
			errs = append(errs, fmt.Errorf("agentnet: networks[%d].name: %q given twice", i, n.Name))
		}
		seen[n.Name] = true
		if ap, err := netip.ParseAddrPort(n.Listen); err != nil || ap.Addr().IsUnspecified() {
			errs = append(errs, fmt.Errorf("agentnet: networks[%d].listen %q: give a concrete ip:port (replies leave from it)", i, n.Listen))
		}
	}
	if err := c.Gate.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.RetryBurst < 1 || c.RetryEvery <= 0 || c.RetryPerSecond < 1 {
		errs = append(errs, fmt.Errorf("agentnet: retry limits burst %d, every %v, per second %d: give at least 1, a positive interval, at least 1",
			c.RetryBurst, c.RetryEvery, c.RetryPerSecond))
	}
	if c.ReportTimeout <= 0 {
		errs = append(errs, fmt.Errorf("agentnet: report_timeout %v: give a positive duration (about one report interval)", c.ReportTimeout))
	}
	if c.Readers < 1 {
		errs = append(errs, fmt.Errorf("agentnet: readers %d: give at least 1", c.Readers))
	}
	return errors.Join(errs...)
}
