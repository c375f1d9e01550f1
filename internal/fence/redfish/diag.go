package redfish

import (
	"context"
	"fmt"
	"slices"
	"strings"

	gfredfish "github.com/stmcginnis/gofish/redfish"

	"github.com/vigil-ha/vigil/internal/fence"
)

var _ fence.Diagnoser = (*Device)(nil)

// Diag sends ComputerSystem.Reset with ResetType Nmi: a diagnostic
// interrupt, for a kdump of a hung host. It is sent only when the system
// lists Nmi in ResetType@Redfish.AllowableValues (else
// fence.ErrDiagUnsupported, nothing sent: unlike the power resets, a
// system that lists nothing does not say it can) and only to a system that reads powered on. It changes
// no power and verifies nothing: the host may panic, dump and reboot, or
// ignore it.
func (d *Device) Diag(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.OffTimeout)
	defer cancel()
	_, sys, err := d.open(ctx, "diag")
	if err != nil {
		return "", err
	}
	if !slices.Contains(sys.SupportedResetTypes, gfredfish.NmiResetType) {
		return "", fmt.Errorf("redfish: diag: %w: %s does not list Nmi among its allowable reset types (%s)",
			fence.ErrDiagUnsupported, sys.ODataID, resetTypes(sys))
	}
	if statusOf(sys.PowerState) != fence.StatusOn {
		return "", fmt.Errorf("redfish: diag: %s reads PowerState %q: there is no running kernel to interrupt; nothing sent", sys.ODataID, sys.PowerState)
	}
	sys.DisableEtagMatch(true)
	if err := sys.Reset(gfredfish.NmiResetType); err != nil {
		return "", classify("diag: reset Nmi", resetting, err)
	}
	d.log.Info("redfish nmi accepted", "power_state", string(sys.PowerState))
	return fmt.Sprintf("Nmi accepted for %s (PowerState %s)", sys.ODataID, sys.PowerState), nil
}

func resetTypes(sys *gfredfish.ComputerSystem) string {
	if len(sys.SupportedResetTypes) == 0 {
		return "none listed"
	}
	var s []string
	for _, t := range sys.SupportedResetTypes {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}
