// Command vigil is instance HA for OpenStack: it fences a dead compute host
// and verifies the fence before it evacuates the host's instances.
//
// main only hands the process's arguments, streams, environment and file
// system to internal/cli; it must hold no logic of its own.
package main
