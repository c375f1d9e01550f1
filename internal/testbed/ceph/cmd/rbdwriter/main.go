// Command rbdwriter is a test client that plays a VM's disk writer: it opens
// one RBD image through librbd, takes its exclusive lock (lock_acquire, so
// librbd does not hand the lock over cooperatively) and writes a 4 KiB block
// every -interval until SIGTERM, reporting every attempt as a JSON line on
// stdout (see ceph.Record). With -source-ip it sends all its traffic from that
// local address, so that on loopback it looks like another host.
//
// Build: go build -tags pacific (cgo, librbd-dev). Without the tag it only
// reports that and exits 1. It is driven by ceph.StartWriter; it must never be
// shipped or run against a cluster other than a test bed's.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/vigil-ha/vigil/internal/testbed/ceph"
)

type options struct {
	conf           string
	user           string
	pool, image    string
	id             string
	sourceIP       string
	interval       time.Duration
	acquireTimeout time.Duration
	blocks         int
}

// reporter writes Records as JSON lines; safe for concurrent use.
type reporter struct {
	base ceph.Record // Writer and Host, copied into every record

	// mu guards enc.
	mu  sync.Mutex
	enc *json.Encoder
}

func (r *reporter) report(rec ceph.Record) {
	rec.Writer, rec.Host = r.base.Writer, r.base.Host
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.enc.Encode(rec) // stdout closed means the test is gone; nothing to tell
}

// failure fills a record's error fields from err.
func failure(rec ceph.Record, err error) ceph.Record {
	rec.OK, rec.Err, rec.Errno = false, err.Error(), errnoOf(err)
	return rec
}

// errnoOf returns the positive errno a go-ceph error carries, or 0.
func errnoOf(err error) int {
	var coded interface{ ErrorCode() int }
	if errors.As(err, &coded) {
		if n := coded.ErrorCode(); n < 0 {
			return -n
		}
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return int(errno)
	}
	return 0
}

func main() {
	var o options
	flag.StringVar(&o.conf, "conf", "", "ceph.conf of the test cluster")
	flag.StringVar(&o.user, "user", "admin", "cephx user, without client.")
	flag.StringVar(&o.pool, "pool", "rbd", "pool of the image")
	flag.StringVar(&o.image, "image", "", "image to hold and write")
	flag.StringVar(&o.id, "id", "", "writer id put in every record and block")
	flag.StringVar(&o.sourceIP, "source-ip", "", "local IPv4 address to send from (e.g. 127.0.0.2)")
	flag.DurationVar(&o.interval, "interval", 100*time.Millisecond, "time between writes and between lock attempts")
	flag.DurationVar(&o.acquireTimeout, "acquire-timeout", 15*time.Second, "give up taking the lock after this long")
	flag.IntVar(&o.blocks, "blocks", 16, "write round-robin over this many 4 KiB blocks")
	flag.Parse()
	if o.conf == "" || o.image == "" || o.id == "" || o.blocks < 1 || o.interval <= 0 {
		fmt.Fprintln(os.Stderr, "rbdwriter: -conf, -image and -id are required; -blocks and -interval must be positive")
		os.Exit(2)
	}
	rep := &reporter{base: ceph.Record{Writer: o.id, Host: o.sourceIP}, enc: json.NewEncoder(os.Stdout)}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := run(ctx, o, rep)
	exit := ceph.Record{Event: ceph.EventExit, OK: err == nil}
	if err != nil {
		exit = failure(exit, err)
	}
	rep.report(exit)
	if err != nil {
		os.Exit(1)
	}
}
