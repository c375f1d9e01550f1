// Package nova is vigil's edge to OpenStack Nova: a collector that turns one
// read of Nova (the nova-compute services and every server across projects)
// into decision.NovaService evidence, and an executor that carries out the
// engine's Nova actions: force-down, evacuate, re-enable and restart.
//
// It speaks Nova's API through gophercloud v2 with the microversion
// negotiated once (Connect) and pinned on every call, and works around the
// gophercloud traps measured against real Nova (FIELD-NOTES): its own
// evacuate body (no onSharedStorage), success judged by the HTTP status (a
// successful evacuate's empty body is gophercloud's EOF), and its own
// service update body (forced_down false is sent).
//
// It must never decide: it does the action it is given, re-reads the fence
// through the caller's hook right before each evacuate request, and reports
// what Nova did. It never evacuates a server that Nova no longer places on
// the failed host, and never starts one that was stopped.
package nova
