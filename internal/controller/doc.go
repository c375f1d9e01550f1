// Package controller is vigil's control loop: it runs a policy (the
// decision engine, or the naive rule it is measured against) as the
// cluster's leader, and owns the order every controller must keep: a new
// leader restores the journal before it judges anything, and a Ready's
// records (and the intent of its actions) are written before any of its
// actions or acknowledgements is carried out, so a leader that cannot write
// does nothing that must be written first.
//
// The simulator (internal/sim) drives this loop with its world behind the
// small interfaces here; `vigil controller` (package daemon) drives it with
// etcd and the real executors. Either way every scenario and fuzzed schedule runs
// the code that runs in production.
package controller
