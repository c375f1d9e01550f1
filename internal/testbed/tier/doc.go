// Package tier gates tests by tier: integration tests run only when
// VIGIL_INTEGRATION=1 (make integration sets it), and then a missing tool or
// missing root is a failure, never a skip, because the tier was asked for.
// It also holds the one polling helper tests use instead of sleeps.
//
// It is for tests only; the vigil binary must never import it.
package tier
