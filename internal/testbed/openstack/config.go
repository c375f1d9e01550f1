package openstack

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// Fixed endpoints of the bed: one bed per machine. MariaDB listens on a unix
// socket only.
const (
	KeystoneURL  = "http://127.0.0.1:5000/v3"
	NovaURL      = "http://127.0.0.1:8774/v2.1"
	PlacementURL = "http://127.0.0.1:8778"
	GlanceURL    = "http://127.0.0.1:9292"
	NeutronURL   = "http://127.0.0.1:9696" // the stand-in
)

// Admin credentials, and the names of what Start seeds.
const (
	AdminUser     = "admin"
	AdminPassword = "admin"
	AdminProject  = "admin"
	Domain        = "Default"
	Region        = "RegionOne"
	CloudName     = "vigil-testbed" // its entry in clouds.yaml
	FlavorName    = "m1.tiny"       // 1 vCPU, 64 MiB, 1 GB disk
	ImageName     = "tiny"          // 1 MiB of zeros, raw
)

// relayPorts are what a nova-compute talks to: RabbitMQ, Keystone,
// Placement, Glance, Neutron.
var relayPorts = []int{5672, 5000, 8778, 9292, 9696}

// DefaultTemplates is where scripts/install-deps.sh extracts the
// api-paste.ini files of nova-common and glance-common.
const DefaultTemplates = "/var/lib/vigil-testbed/openstack"

// Config describes the bed.
type Config struct {
	// Dir holds everything the bed writes. It must be absolute, and not in
	// the repository or a shared directory.
	Dir string
	// Templates is where nova-common's and glance-common's files were
	// extracted (DefaultTemplates).
	Templates string
	// ReportInterval and ServiceDownTime are Nova's report_interval and
	// service_down_time, whole seconds (Nova's defaults: 10 s and 60 s).
	ReportInterval  time.Duration
	ServiceDownTime time.Duration
	// StartTimeout bounds Start, including waiting for another process to
	// release the bed; StopTimeout is how long Stop waits after SIGTERM.
	StartTimeout time.Duration
	StopTimeout  time.Duration
}

// DefaultConfig is a bed under runParent ($VIGIL_RUN; "" = /tmp/vigil-run)
// with a 2 s report interval and a 6 s service_down_time: a killed
// nova-compute shows "down" about 5 s later instead of about 60 s.
func DefaultConfig(runParent string) Config {
	if runParent == "" {
		runParent = "/tmp/vigil-run"
	}
	return Config{
		Dir:             filepath.Join(runParent, "openstack"),
		Templates:       DefaultTemplates,
		ReportInterval:  2 * time.Second,
		ServiceDownTime: 6 * time.Second,
		StartTimeout:    15 * time.Minute, // a cold start is ~1-2 min on 2 busy cores
		StopTimeout:     15 * time.Second,
	}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case !filepath.IsAbs(c.Dir) || filepath.Clean(c.Dir) == "/":
		return fmt.Errorf("openstack testbed: Dir %q must be an absolute path below /", c.Dir)
	case !filepath.IsAbs(c.Templates):
		return fmt.Errorf("openstack testbed: Templates %q must be absolute", c.Templates)
	case c.ReportInterval < time.Second || c.ReportInterval%time.Second != 0:
		return fmt.Errorf("openstack testbed: ReportInterval %v must be whole seconds, at least 1 s", c.ReportInterval)
	case c.ServiceDownTime%time.Second != 0 || c.ServiceDownTime <= c.ReportInterval:
		// Nova itself replaces a service_down_time not above report_interval.
		return fmt.Errorf("openstack testbed: ServiceDownTime %v must be whole seconds above ReportInterval %v", c.ServiceDownTime, c.ReportInterval)
	case c.StartTimeout <= 0 || c.StopTimeout <= 0:
		return errors.New("openstack testbed: StartTimeout and StopTimeout must be positive")
	}
	return nil
}

// settings is what running services were configured with: a Start with
// other settings restarts them.
func (c Config) settings() string {
	return fmt.Sprintf("report_interval=%d\nservice_down_time=%d\n",
		int(c.ReportInterval/time.Second), int(c.ServiceDownTime/time.Second))
}
