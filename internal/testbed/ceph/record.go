package ceph

import "time"

// Events a writer reports, one Record per line of its stdout (JSON).
const (
	EventConnected     = "connected"      // client connected; Addr is its Ceph client address
	EventConnectFailed = "connect_failed" // could not connect; the writer exits
	EventLocked        = "locked"         // exclusive lock acquired
	EventLockFailed    = "lock_failed"    // one lock attempt failed; it retries until its acquire timeout
	EventWrite         = "write"          // one write+flush attempt; OK or Errno
	EventExit          = "exit"           // the writer is about to exit; Err says why if it failed
)

// Record is one event of a writer. Each block a writer puts on the image
// carries the same writer, host, seq and time, so a double-writer checker can
// read the image back and tell whose write landed.
type Record struct {
	Event  string    `json:"event"`
	Writer string    `json:"writer"`         // the writer's id, given by the test
	Host   string    `json:"host,omitempty"` // the source IP it plays, or ""
	Seq    int       `json:"seq,omitempty"`  // write number, from 1
	Time   time.Time `json:"time"`
	Addr   string    `json:"addr,omitempty"` // Ceph client address, on "connected"
	OK     bool      `json:"ok"`
	Errno  int       `json:"errno,omitempty"` // positive errno of a failure, e.g. 108 (ESHUTDOWN: blocklisted)
	Err    string    `json:"err,omitempty"`
}
