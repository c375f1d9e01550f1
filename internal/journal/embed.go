package journal

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Embedded is a single-node etcd inside the controller process, in its data
// directory: the journal of a lab or a small cloud when no etcd.endpoints are
// configured. Clients reach it only on a unix socket in that directory, so
// it can neither clash with an etcd Kolla-Ansible runs on the same node nor
// be reached over the network (its unused peer listener takes a loopback
// port the kernel picks); one controller, so no failover (run three with an
// external cluster for that).
type Embedded struct {
	etcd   *embed.Etcd
	Client *clientv3.Client
	// Endpoint is the client socket, for etcdctl: etcdctl --endpoints
	// unix://... (docs/architecture.md, restoring a snapshot).
	Endpoint string
}

// StartEmbedded starts the embedded etcd in dir (created 0700 if missing)
// and connects to it, waiting at most the context's time for it to be
// ready. A dir that another process's etcd holds fails (etcd locks its
// data), naming the directory.
func StartEmbedded(ctx context.Context, dir string, log *zap.Logger) (*Embedded, error) {
	if dir == "" {
		return nil, errors.New("journal: data_dir: empty; set the controller's data directory (its embedded etcd lives in data_dir/etcd)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: data_dir %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: data_dir %s: %w", dir, err)
	}
	client := url.URL{Scheme: "unix", Path: filepath.Join(abs, "client.sock")}
	// The peer listener must be host:port; a single member has no peer,
	// so it listens on a loopback port the kernel picks.
	peer := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	if n := len(client.Path); n > 100 {
		return nil, fmt.Errorf("journal: data_dir %s: its socket path is %d bytes, more than a unix socket takes (about 100): use a shorter data_dir", dir, n)
	}
	_ = os.Remove(client.Path) // a socket left by an earlier run that died
	cfg := embed.NewConfig()
	cfg.Name = "vigil"
	cfg.Dir = filepath.Join(abs, "etcd")
	// etcd insists that advertised URLs be host:port, which a socket path
	// is not; no client learns the endpoint from it (autosync is off).
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{{Scheme: "unix", Host: "localhost:0"}}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "warn"
	if log == nil {
		log = zap.NewNop()
	}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(log)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("journal: embedded etcd in %s: %w", cfg.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("journal: embedded etcd in %s: %w", cfg.Dir, err)
	case <-ctx.Done():
		e.Close()
		return nil, fmt.Errorf("journal: embedded etcd in %s not ready: %w", cfg.Dir, ctx.Err())
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{client.String()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("journal: connecting to the embedded etcd: %w", err)
	}
	return &Embedded{etcd: e, Client: cli, Endpoint: client.String()}, nil
}

// Close disconnects and stops the embedded etcd; its data stays in dir.
func (e *Embedded) Close() error {
	err := e.Client.Close()
	e.etcd.Close()
	return err
}
