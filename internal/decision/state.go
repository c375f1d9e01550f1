package decision

// State is where a host stands in vigil's eyes.
type State string

// Live states come from evidence alone; workflow states come from the incident
// that vigil runs for a failed host.
const (
	Unknown         State = "unknown"          // nothing heard yet
	Healthy         State = "healthy"          // agent answers on every network, services up
	ServiceDegraded State = "service-degraded" // host up, a service (nova-compute, libvirtd, agent) down
	NetworkDegraded State = "network-degraded" // agent answers on some networks, not all
	Isolated        State = "isolated"         // no IP contact, but the host is provably alive
	Suspect         State = "suspect"          // silent, not yet long or surely enough to act
	Failed          State = "failed"           // dead by several independent signals; not yet fenced
	Fencing         State = "fencing"          // a fence is running or being retried
	Fenced          State = "fenced"           // fence verified (or confirmed by an operator)
	Recovering      State = "recovering"       // instances are being evacuated
	Recovered       State = "recovered"        // every instance runs elsewhere; host kept down
	Rejoining       State = "rejoining"        // fenced host is back; waiting for its cleanup
	Maintenance     State = "maintenance"      // an operator owns the host; vigil does nothing to it
)

// inIncident reports whether s belongs to the fence/recover workflow.
func (s State) inIncident() bool {
	switch s {
	case Fencing, Fenced, Recovering, Recovered, Rejoining:
		return true
	}
	return false
}

// Power is a BMC's reading of a host's chassis power.
type Power int

const (
	PowerUnknown     Power = iota // never read
	PowerOn                       // BMC answered: on
	PowerOff                      // BMC answered: off
	PowerUnreachable              // BMC did not answer
)

func (p Power) String() string {
	switch p {
	case PowerOn:
		return "on"
	case PowerOff:
		return "off"
	case PowerUnreachable:
		return "unreachable"
	default:
		return "unknown"
	}
}
