// Package etcd starts Debian's etcd (etcd-server) as a single-member
// cluster on loopback for integration tests: the external etcd a
// Kolla-Ansible cloud runs, which the controller's journal and election
// use. Its data lives in a directory the test owns.
package etcd

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/vigil-ha/vigil/internal/testbed/child"
	"go.uber.org/zap"
)

// Server is a running etcd.
type Server struct {
	Endpoint string // host:port of its client URL
	URL      string // its client URL: http://, or https:// with TLS
	// TLS holds the client's certificate files when it serves TLS.
	TLS    *ClientTLS
	dir    string
	cmd    *exec.Cmd
	exited chan error
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before etcd binds it; Start then fails and says so.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs etcd with its data under dir and waits until it serves.
func Start(ctx context.Context, dir string) (*Server, error) { return start(ctx, dir, false) }

// StartTLS is Start for an etcd whose clients must present a certificate
// its CA signed (client-cert-auth), over https: the cluster Kolla-Ansible
// deploys. Server.TLS holds the client's files.
func StartTLS(ctx context.Context, dir string) (*Server, error) { return start(ctx, dir, true) }

func start(ctx context.Context, dir string, withTLS bool) (*Server, error) {
	cp, err := freePort()
	if err != nil {
		return nil, err
	}
	pp, err := freePort()
	if err != nil {
		return nil, err
	}
	mp, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	scheme := "http"
	var tlsArgs []string
	var ct *ClientTLS
	if withTLS {
		cert, key, c, err := pki(dir)
		if err != nil {
			return nil, err
		}
		scheme, ct = "https", &c
		tlsArgs = []string{"--cert-file", cert, "--key-file", key, "--client-cert-auth", "--trusted-ca-file", c.CA}
	}
	client := scheme + "://127.0.0.1:" + strconv.Itoa(cp)
	peer := "http://127.0.0.1:" + strconv.Itoa(pp)
	log, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("etcd", append([]string{"--name", "vigil-test", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "vigil-test=" + peer, "--initial-cluster-state", "new",
		"--listen-metrics-urls", "http://127.0.0.1:" + strconv.Itoa(mp)}, tlsArgs...)...)
	cmd.Stdout, cmd.Stderr = log, log
	// Never outlive the test: child.Start forks it from a thread that
	// lives as long as the process (Pdeathsig follows the forking thread).
	if err := child.Start(cmd); err != nil {
		log.Close()
		return nil, fmt.Errorf("etcd testbed: starting etcd (scripts/install-deps.sh integration installs etcd-server): %w", err)
	}
	log.Close()
	s := &Server{Endpoint: "127.0.0.1:" + strconv.Itoa(cp), URL: client, TLS: ct, dir: dir, cmd: cmd, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait() }()
	cli, err := s.Client()
	if err != nil {
		s.Stop()
		return nil, err
	}
	defer cli.Close()
	for {
		c, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, err := cli.Get(c, "health")
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case e := <-s.exited:
			return nil, fmt.Errorf("etcd testbed: etcd exited (%v); see %s", e, filepath.Join(dir, "etcd.log"))
		case <-ctx.Done():
			s.Stop()
			return nil, fmt.Errorf("etcd testbed: etcd not serving on %s: %w (last: %v)", s.Endpoint, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Client returns a new client of the server (with the client certificate
// when it serves TLS).
func (s *Server) Client() (*clientv3.Client, error) {
	cfg := clientv3.Config{Endpoints: []string{s.URL}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()}
	if s.TLS != nil {
		t, err := s.TLS.Config()
		if err != nil {
			return nil, err
		}
		cfg.TLS = t
	}
	return clientv3.New(cfg)
}

// Pause stops (SIGSTOP) and Resume continues the server: an etcd that no
// longer answers.
func (s *Server) Pause() error  { return s.cmd.Process.Signal(syscall.SIGSTOP) }
func (s *Server) Resume() error { return s.cmd.Process.Signal(syscall.SIGCONT) }

// Stop kills the server and waits for it.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Kill()
	<-s.exited
}
