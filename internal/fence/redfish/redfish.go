package redfish

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/stmcginnis/gofish"
	"github.com/stmcginnis/gofish/common"
	gfredfish "github.com/stmcginnis/gofish/redfish"

	"github.com/vigil-ha/vigil/internal/fence"
)

const driverName = "redfish"

var _ fence.Device = (*Device)(nil)

// Device fences one host through its BMC's Redfish service.
type Device struct {
	cfg      Config
	endpoint string // cfg.Endpoint without a trailing slash
	log      *slog.Logger
	http     *http.Client

	// mu guards systemURI, the system's @odata.id once found ("" until then,
	// and again after the BMC answered 404 for it).
	mu        sync.Mutex
	systemURI string
}

// New checks cfg and returns a Device. It does not contact the BMC. A nil
// logger discards.
func New(cfg Config, log *slog.Logger) (*Device, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dialer := &net.Dialer{Timeout: cfg.RequestTimeout}
	transport := &http.Transport{
		Proxy:                 nil, // a BMC is on the management network, never behind a proxy from the environment
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConfig(cfg),
		TLSHandshakeTimeout:   cfg.RequestTimeout,
		ResponseHeaderTimeout: cfg.RequestTimeout,
		// Many BMCs handle kept-alive connections badly; gofish closes them anyway.
		DisableKeepAlives: true,
	}
	return &Device{
		cfg:      cfg,
		endpoint: strings.TrimSuffix(cfg.Endpoint, "/"),
		log:      log.With("driver", driverName),
		http:     &http.Client{Transport: transport, Timeout: cfg.RequestTimeout},
	}, nil
}

// tlsConfig verifies the BMC's certificate against cfg's roots, or only
// against its pin.
func tlsConfig(cfg Config) *tls.Config {
	c := &tls.Config{
		InsecureSkipVerify: cfg.InsecureTLS, //nolint:gosec // the operator's choice, off by default
		RootCAs:            cfg.RootCAs,
		MinVersion:         tls.VersionTLS12,
	}
	if pin := cfg.CertSHA256; pin != nil {
		// The chain is not checked (a pinned certificate is typically
		// self-signed); the pin is, on every handshake.
		c.InsecureSkipVerify = true //nolint:gosec // replaced by VerifyConnection
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errPinMismatch
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if subtle.ConstantTimeCompare(got[:], pin) != 1 {
				return fmt.Errorf("%w: it has SHA-256 %x", errPinMismatch, got)
			}
			return nil
		}
	}
	return c
}

// Off sends ForceOff and returns a Proof once PowerState has read Off for
// PowerWait within OffTimeout (or ctx's deadline, if sooner). A system that
// already reads Off gets no reset: the reads that follow are the proof.
func (d *Device) Off(ctx context.Context) (fence.Proof, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.OffTimeout)
	defer cancel()
	c, sys, err := d.open(ctx, "off")
	if err != nil {
		return fence.Proof{}, err
	}
	if sys.PowerState == gfredfish.OffPowerState {
		d.log.Info("redfish power already off", "power_state", sys.PowerState)
		r, err := d.verify(ctx, c, sys.ODataID, "off", fence.StatusOff)
		if err != nil {
			return fence.Proof{}, err
		}
		return fence.Proof{
			Driver: driverName,
			Detail: fmt.Sprintf("PowerState of %s read Off before any reset, none sent; %s", sys.ODataID, r),
			Power:  r.Proof(),
		}, nil
	}
	r, err := d.resetAndVerify(ctx, c, sys, "off", gfredfish.ForceOffResetType, fence.StatusOff)
	if err != nil {
		return fence.Proof{}, err
	}
	return fence.Proof{
		Driver: driverName,
		Detail: fmt.Sprintf("ForceOff accepted for %s; %s", sys.ODataID, r),
		Power:  r.Proof(),
	}, nil
}

// On sends On and returns nil once PowerState reads On within OnTimeout (or
// ctx's deadline, if sooner).
func (d *Device) On(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.OnTimeout)
	defer cancel()
	c, sys, err := d.open(ctx, "on")
	if err != nil {
		return err
	}
	if sys.PowerState == gfredfish.OnPowerState {
		return nil
	}
	_, err = d.resetAndVerify(ctx, c, sys, "on", gfredfish.OnResetType, fence.StatusOn)
	return err
}

// Status reads PowerState: Off is StatusOff; On, PoweringOn, PoweringOff and
// Paused are StatusOn (the host may still run); anything else is
// StatusUnknown.
func (d *Device) Status(ctx context.Context) (fence.Status, error) {
	_, sys, err := d.open(ctx, "status")
	if err != nil {
		return fence.StatusUnknown, err
	}
	return statusOf(sys.PowerState), nil
}

func statusOf(s gfredfish.PowerState) fence.Status {
	switch s {
	case gfredfish.OffPowerState:
		return fence.StatusOff
	case gfredfish.OnPowerState, gfredfish.PoweringOnPowerState, gfredfish.PoweringOffPowerState, gfredfish.PausedPowerState:
		return fence.StatusOn
	}
	return fence.StatusUnknown
}

// open connects and reads the system. The client's requests all use ctx.
func (d *Device) open(ctx context.Context, op string) (*gofish.APIClient, *gfredfish.ComputerSystem, error) {
	c, err := gofish.ConnectContext(ctx, gofish.ClientConfig{
		Endpoint:   d.endpoint,
		Username:   d.cfg.Username,
		Password:   d.cfg.Password,
		HTTPClient: d.http,
		BasicAuth:  true,
	})
	if err != nil {
		return nil, nil, classify(op+": read service root", reading, err)
	}
	uri, err := d.findSystem(c, op)
	if err != nil {
		return nil, nil, err
	}
	sys, err := gfredfish.GetComputerSystem(c, uri)
	if err != nil {
		var httpErr *common.Error
		if errors.As(err, &httpErr) && httpErr.HTTPReturnedStatusCode == http.StatusNotFound {
			d.forgetSystem(uri)
		}
		return nil, nil, classify(op+": read system", reading, err)
	}
	return c, sys, nil
}

// findSystem returns the system's URI, looking it up in the Systems
// collection the first time.
func (d *Device) findSystem(c *gofish.APIClient, op string) (string, error) {
	d.mu.Lock()
	uri := d.systemURI
	d.mu.Unlock()
	if uri != "" {
		return uri, nil
	}
	// gofish keeps the service root's Systems link private, and its Systems()
	// fetches members concurrently and loses their order; read both here.
	resp, err := c.Get(common.DefaultServiceRoot)
	if err != nil {
		return "", classify(op+": read service root", reading, err)
	}
	var root struct {
		Systems common.Link
	}
	err = json.NewDecoder(resp.Body).Decode(&root)
	resp.Body.Close()
	if err != nil {
		return "", fmt.Errorf("redfish: %s: service root: %w", op, err)
	}
	if root.Systems == "" {
		return "", fmt.Errorf("redfish: %s: service root has no Systems link", op)
	}
	col, err := common.GetCollection(c, string(root.Systems))
	if err != nil {
		return "", classify(op+": read systems", reading, err)
	}
	ids := make([]string, len(col.ItemLinks))
	for i, link := range col.ItemLinks {
		ids[i] = path.Base(link)
		if d.cfg.SystemID == ids[i] || (d.cfg.SystemID == "" && len(col.ItemLinks) == 1) {
			uri = link
		}
	}
	switch {
	case uri != "":
	case d.cfg.SystemID == "" && len(ids) > 1:
		// A multi-node chassis: guessing would power off a neighbour and
		// read back its state as proof.
		return "", fmt.Errorf("redfish: %s: %w: the BMC manages %d systems (%s) and no system is configured: set system to the host's",
			op, fence.ErrInvalidConfig, len(ids), strings.Join(ids, ", "))
	case d.cfg.SystemID == "":
		return "", fmt.Errorf("redfish: %s: %s lists no system", op, root.Systems)
	default:
		return "", fmt.Errorf("redfish: %s: no system %q among %s (%s)", op, d.cfg.SystemID, root.Systems, strings.Join(ids, ", "))
	}
	d.mu.Lock()
	d.systemURI = uri
	d.mu.Unlock()
	return uri, nil
}

func (d *Device) forgetSystem(uri string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.systemURI == uri {
		d.systemURI = ""
	}
}

// resetAndVerify sends the reset, then verifies that PowerState reads want.
func (d *Device) resetAndVerify(ctx context.Context, c *gofish.APIClient, sys *gfredfish.ComputerSystem,
	op string, rt gfredfish.ResetType, want fence.Status) (fence.PowerReading, error) {
	if !allows(sys, rt) {
		return fence.PowerReading{}, fmt.Errorf("redfish: %s: %s is not among the system's allowable reset types: %w", op, rt, fence.ErrRefused)
	}
	// gofish would send If-Match with the ETag of our read; a BMC whose
	// PowerState moved since then answers 412, and a fence must not fail on that.
	sys.DisableEtagMatch(true)
	if err := sys.Reset(rt); err != nil {
		return fence.PowerReading{}, classify(fmt.Sprintf("%s: reset %s", op, rt), resetting, err)
	}
	d.log.Info("redfish reset accepted", "reset_type", string(rt))
	return d.verify(ctx, c, sys.ODataID, op, want)
}

// verify reads the system's PowerState through fence.PowerCheck until it
// has read want for PowerWait or ctx ends.
func (d *Device) verify(ctx context.Context, c *gofish.APIClient, uri, op string, want fence.Status) (fence.PowerReading, error) {
	read := func(context.Context) (fence.Status, error) {
		now, err := gfredfish.GetComputerSystem(c, uri)
		if err != nil {
			return fence.StatusUnknown, classify(op+": read back", reading, err)
		}
		return statusOf(now.PowerState), nil
	}
	check := fence.PowerCheck{Interval: d.cfg.PollInterval, Wait: d.cfg.PowerWait}
	r, err := check.Await(ctx, want, read, d.log.With("power", op))
	if err != nil {
		return r, fmt.Errorf("redfish: %s: %w", op, err)
	}
	d.log.Info("redfish power verified", "power_state", want.String(), "attempt", r.Reads)
	return r, nil
}

// allows reports whether the system lists rt; a system that lists nothing
// is assumed to take the standard types.
func allows(sys *gfredfish.ComputerSystem, rt gfredfish.ResetType) bool {
	if len(sys.SupportedResetTypes) == 0 {
		return true
	}
	for _, t := range sys.SupportedResetTypes {
		if t == rt {
			return true
		}
	}
	return false
}
