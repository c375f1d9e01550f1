// Package executor carries out the decision engine's actions on the real
// world and turns the outcome back into engine inputs: Dispatch runs every
// action kind (fences through a host's fencing topology, Nova's through
// internal/nova), Check re-reads a fence before each evacuate call, and
// PowerWatch reads the power of the hosts whose state calls for it.
//
// It must never decide: it does exactly the action it is given, reports
// failures with their reason, and leaves retries and fallbacks to the engine.
package executor
