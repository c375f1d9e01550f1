// Package executor carries out the decision engine's actions on the real
// world and turns the outcome back into engine inputs. This first part runs
// fence actions through a host's fencing topology; Nova (force-down,
// evacuate) and the store arrive with the controller.
//
// It must never decide: it does exactly the action it is given, reports
// failures with their reason, and leaves retries and fallbacks to the engine.
package executor
