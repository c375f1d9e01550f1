package daemon

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/config"
	"github.com/vigil-ha/vigil/internal/decision"
)

// A plan's fence levels are named from the configuration: each level's
// method as the executor reports it to the engine (a fence agent by its
// kind), and its devices as vigil fence --dry-run lists them.
func TestPlanNamesFenceLevels(t *testing.T) {
	cfg := config.Default()
	cfg.Hosts = []config.Host{{Name: "cmp1", BMC: config.BMC{Address: "10.0.0.11"}, StorageIPs: []string{"10.1.0.11"}}}
	cfg.Fencing.Domains = map[string]config.Topology{config.DefaultDomain: {Levels: [][]config.Device{
		{{Driver: config.DriverIPMI, Username: "vigil", PasswordFile: "/etc/vigil/ipmi.pw"}},
		{{Driver: config.DriverCephBlocklist}, {Driver: config.DriverFenceAgent, Agent: "fence_scsi", Kind: config.KindStorage}},
	}}}
	p := decision.Plan{Host: "cmp1", Fence: []decision.PlannedLevel{{Level: 1}, {Level: 2}}}
	nameLevels(cfg, &p)
	var methods []string
	for _, l := range p.Fence {
		methods = append(methods, l.Method)
	}
	if d := cmp.Diff([]string{"ipmi", "ceph-blocklist+fence-agent-storage"}, methods); d != "" {
		t.Errorf("methods (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"ipmi address=10.0.0.11 port=623 username=vigil password_file=/etc/vigil/ipmi.pw"}, p.Fence[0].Devices); d != "" {
		t.Errorf("level 1's devices (-want +got):\n%s", d)
	}
	if l := p.Fence[1].Devices; len(l) != 2 || !strings.HasPrefix(l[0], "ceph-blocklist") || !strings.Contains(l[1], "agent=fence_scsi") {
		t.Errorf("level 2's devices = %q, want its ceph-blocklist and fence_scsi devices", l)
	}
}
