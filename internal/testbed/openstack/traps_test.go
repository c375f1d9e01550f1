package openstack_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/services"

	"github.com/vigil-ha/vigil/internal/testbed/openstack"
)

// The three gophercloud v2 traps of FIELD-NOTES, each shown against the
// real Nova 26 of the bed, with the workaround the bed's helpers use.

// evacuateTo is the body Nova >= 2.68 accepts: {} or {"host": …}.
type evacuateTo string

func (h evacuateTo) ToEvacuateMap() (map[string]any, error) {
	m := map[string]any{}
	if h != "" {
		m["host"] = string(h)
	}
	return map[string]any{"evacuate": m}, nil
}

// Trap 1: servers.EvacuateOpts always sends onSharedStorage (no omitempty),
// which Nova refuses from microversion 2.14 on.
func TestTrapEvacuateOptsAlwaysSendsOnSharedStorage(t *testing.T) {
	b := bed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	body, err := servers.EvacuateOpts{}.ToEvacuateMap()
	if err != nil {
		t.Fatal(err)
	}
	if _, sent := body["evacuate"].(map[string]any)["onSharedStorage"]; !sent {
		t.Fatalf("EvacuateOpts{} no longer sends onSharedStorage (%v): the trap is gone, drop the workaround", body)
	}
	id := server(t, b, "trap-shared", "cmp2")
	nova, err := b.Compute(ctx, openstack.ServerMicroversion)
	if err != nil {
		t.Fatal(err)
	}
	err = servers.Evacuate(ctx, nova, id, servers.EvacuateOpts{}).Err
	var unexpected gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &unexpected) || unexpected.Actual != 400 {
		t.Fatalf("evacuate with EvacuateOpts{} at %s: want HTTP 400, got %v", openstack.ServerMicroversion, err)
	}
	if !strings.Contains(string(unexpected.Body), "onSharedStorage") {
		t.Errorf("Nova's 400 does not name onSharedStorage: %s", unexpected.Body)
	}
	if _, err := b.WaitServer(ctx, id, onHost("cmp2")); err != nil {
		t.Fatal(err)
	}
}

// Trap 2: a successful evacuate (HTTP 200, empty body from 2.14 on) comes
// back from servers.Evacuate as the error EOF, though the server moves.
func TestTrapSuccessfulEvacuateReturnsEOF(t *testing.T) {
	b := bed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := server(t, b, "trap-eof", "cmp1")
	t.Cleanup(func() { restore(t, b, "cmp1") })
	if err := b.StopCompute(ctx, "cmp1", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	nova, err := b.Compute(ctx, openstack.ServerMicroversion)
	if err != nil {
		t.Fatal(err)
	}
	// Forcing down through gophercloud's own UpdateOpts works (true is not
	// dropped), and lets the evacuation through before Nova saw the host die.
	svc, err := b.Service(ctx, "cmp1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := services.Update(ctx, nova, svc.ID, services.UpdateOpts{ForcedDown: true}).Extract(); err != nil {
		t.Fatal(err)
	}
	r := servers.Evacuate(ctx, nova, id, evacuateTo("cmp2"))
	if !errors.Is(r.Err, io.EOF) {
		t.Fatalf("servers.Evacuate at %s: want the error EOF for Nova's empty 200, got %v", openstack.ServerMicroversion, r.Err)
	}
	if _, err := b.WaitServer(ctx, id, onHost("cmp2")); err != nil {
		t.Fatalf("evacuation reported as EOF did not happen: %v", err)
	}
}

// Trap 3: services.UpdateOpts{ForcedDown: false} sends nothing (omitempty),
// so it cannot lift a force-down; Nova answers 400.
func TestTrapForcedDownFalseCannotBeSent(t *testing.T) {
	b := bed(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Cleanup(func() { restore(t, b, "cmp2") })
	if err := b.SetForcedDown(ctx, "cmp2", true); err != nil {
		t.Fatal(err)
	}
	nova, err := b.Compute(ctx, "2.53")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := b.Service(ctx, "cmp2")
	if err != nil {
		t.Fatal(err)
	}
	_, err = services.Update(ctx, nova, svc.ID, services.UpdateOpts{ForcedDown: false}).Extract()
	if !gophercloud.ResponseCodeIs(err, 400) {
		t.Fatalf("UpdateOpts{ForcedDown: false}: want HTTP 400 (an empty update), got %v", err)
	}
	if svc, err := b.Service(ctx, "cmp2"); err != nil || !svc.ForcedDown {
		t.Fatalf("after UpdateOpts{ForcedDown: false}: forced_down %v (%v), want still true", svc.ForcedDown, err)
	}
	if _, err := services.Update(ctx, nova, svc.ID, openstack.ForcedDown(false)).Extract(); err != nil {
		t.Fatal(err)
	}
	if svc, err := b.Service(ctx, "cmp2"); err != nil || svc.ForcedDown {
		t.Fatalf("after ForcedDown(false): forced_down %v (%v), want false", svc.ForcedDown, err)
	}
	if _, err := b.WaitServiceState(ctx, "cmp2", "up"); err != nil {
		t.Fatal(err)
	}
}
