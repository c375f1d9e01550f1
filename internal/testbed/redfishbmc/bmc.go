package redfishbmc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config describes one test BMC.
type Config struct {
	// Username and Password are the only credentials the BMC accepts.
	Username string
	Password string
	// StartOff makes the host start powered off (default: on).
	StartOff bool
	// Power is called with the new power state on every change the BMC makes
	// (On: true; ForceOff, GracefulShutdown: false; ForceRestart: false then
	// true). If it returns an error the reset fails with HTTP 500 and the
	// state does not change. Nil means no hook.
	Power func(on bool) error
	// Settle is how long PowerState shows PoweringOn/PoweringOff after a change
	// before it shows On/Off. The hook runs at once. Default 0.
	Settle time.Duration
	// Logger receives one debug line per request. Nil discards.
	Logger *slog.Logger
	// OtherSystems makes the BMC manage further computer systems (a
	// multi-node chassis), listed in the Systems collection before the
	// host's own system "1". Each starts powered on, has no hook, and
	// obeys resets; read it with SystemPoweredOn.
	OtherSystems []string
	// Role is the user's Redfish role, one of DSP0266's predefined roles:
	// "Administrator" (default when empty), "Operator" or "ReadOnly". The
	// BMC enforces it: a reset needs ConfigureComponents (which ReadOnly
	// lacks), reading another user's account needs ConfigureUsers.
	Role string
	// NoAccountService leaves AccountService out of the service root and
	// answers 404 for it, as BMCs that expose no accounts do.
	NoAccountService bool
	// NoNMI leaves Nmi out of the system's ResetType@Redfish.AllowableValues
	// and refuses it, as BMCs that cannot send an NMI do. By default the
	// BMC accepts Nmi, records it (NMIs) and changes no power.
	NoNMI bool
}

// DefaultConfig returns a BMC config with test credentials, host on, no hook
// and no settle time.
func DefaultConfig() Config {
	return Config{
		Username: "admin",
		Password: "vigil-test-password",
	}
}

// Validate reports whether c can run a BMC.
func (c Config) Validate() error {
	switch {
	case c.Username == "":
		return errors.New("redfishbmc: Username is empty")
	case c.Password == "":
		return errors.New("redfishbmc: Password is empty")
	case c.Settle < 0:
		return errors.New("redfishbmc: Settle is negative")
	case c.Username == ownerName:
		return fmt.Errorf("redfishbmc: Username %q is the BMC's other account", ownerName)
	}
	if _, ok := roles[c.Role]; c.Role != "" && !ok {
		return fmt.Errorf("redfishbmc: Role %q is not one of %s", c.Role, strings.Join(roleIDs, ", "))
	}
	for _, id := range c.OtherSystems {
		if id == "" || id == "1" || strings.ContainsAny(id, "/?#") {
			return fmt.Errorf("redfishbmc: other system id %q must be a path segment other than 1", id)
		}
	}
	return nil
}

// Reachability is how the BMC behaves on the network.
type Reachability int

const (
	// Up listens and answers.
	Up Reachability = iota
	// Down does not listen: connections are refused.
	Down
	// Silent accepts connections and never answers; requests hang until the
	// client gives up or the BMC leaves Silent (then the connection is closed).
	Silent
)

// Lie is what the BMC reports as PowerState regardless of the host.
type Lie int

const (
	// Truthful reports the host's power state.
	Truthful Lie = iota
	// SayOff always reports "Off".
	SayOff
	// SayOn always reports "On".
	SayOn
)

// BMC is a running (or, after New, not yet listening) test BMC.
type BMC struct {
	cfg     Config
	log     *slog.Logger
	handler http.Handler
	tlsCfg  *tls.Config
	pool    *x509.CertPool
	certPEM []byte

	// actionMu serialises resets so the hook sees one change at a time; it is
	// held while the hook runs, mu is not.
	actionMu sync.Mutex

	// mu guards everything below.
	mu        sync.Mutex
	on        bool
	changedAt time.Time
	lie       Lie
	refuse    int           // HTTP status for resets; 0 accepts them
	nmis      int           // Nmi resets accepted
	silent    chan struct{} // non-nil while Silent; closed on leaving it
	hanging   int           // requests held by a silent BMC
	sessions  map[string]string
	nextSess  int
	others    map[string]bool // power of OtherSystems by id
	port      int
	srv       *http.Server
	served    chan struct{} // closed when srv's Serve returns
	closed    bool
}

// New makes a BMC that does not listen yet: its Handler can be driven with
// httptest. Start (or SetReachability(Up)) makes it listen.
func New(cfg Config) (*BMC, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cert, certPEM, err := selfSigned(time.Now())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	b := &BMC{
		cfg:     cfg,
		log:     log,
		pool:    pool,
		certPEM: certPEM,
		tlsCfg: &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"http/1.1"},
		},
		on:       !cfg.StartOff,
		sessions: make(map[string]string),
		others:   make(map[string]bool),
	}
	for _, id := range cfg.OtherSystems {
		b.others[id] = true
	}
	b.handler = b.routes()
	return b, nil
}

// Start makes a BMC and makes it listen on 127.0.0.1 with an ephemeral port.
func Start(cfg Config) (*BMC, error) {
	b, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := b.SetReachability(Up); err != nil {
		return nil, err
	}
	return b, nil
}

// Handler is the BMC's HTTP handler, without TLS or a socket.
func (b *BMC) Handler() http.Handler { return b.handler }

// Port is the TCP port, 0 before the BMC first listened. It stays the same
// across SetReachability(Down) and back to Up.
func (b *BMC) Port() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.port
}

// Endpoint is the base URL for clients, e.g. "https://127.0.0.1:40123".
func (b *BMC) Endpoint() string {
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(b.Port()))
}

// CertPool trusts the BMC's certificate, for clients that verify TLS.
func (b *BMC) CertPool() *x509.CertPool { return b.pool }

// CertPEM is the BMC's certificate in PEM, for clients outside the process.
func (b *BMC) CertPEM() []byte { return append([]byte(nil), b.certPEM...) }

// PoweredOn is the host's real power state, whatever the BMC reports.
func (b *BMC) PoweredOn() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.on
}

// SystemPoweredOn is the power state of system id: "1" is the host
// (PoweredOn), the others come from Config.OtherSystems.
func (b *BMC) SystemPoweredOn(id string) (on, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if id == "1" {
		return b.on, true
	}
	on, ok = b.others[id]
	return on, ok
}

// NMIs is how many Nmi resets the BMC accepted for the host's system.
func (b *BMC) NMIs() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nmis
}

// SetLie sets what the BMC reports as PowerState.
func (b *BMC) SetLie(l Lie) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lie = l
}

// RefuseResets makes every reset answer with HTTP status code and change
// nothing; 0 accepts resets again.
func (b *BMC) RefuseResets(code int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refuse = code
}

// SetReachability switches how the BMC behaves on the network. Up after Down
// listens again on the same port.
func (b *BMC) SetReachability(r Reachability) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("redfishbmc: closed")
	}
	if r != Silent && b.silent != nil {
		close(b.silent)
		b.silent = nil
	}
	switch r {
	case Up:
		return b.listenLocked()
	case Down:
		b.stopLocked()
		return nil
	case Silent:
		if err := b.listenLocked(); err != nil {
			return err
		}
		if b.silent == nil {
			b.silent = make(chan struct{})
		}
		return nil
	}
	return fmt.Errorf("redfishbmc: unknown reachability %d", r)
}

// Close stops the BMC. It is safe to call more than once.
func (b *BMC) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.silent != nil {
		close(b.silent)
		b.silent = nil
	}
	b.stopLocked()
	b.closed = true
	return nil
}

func (b *BMC) listenLocked() error {
	if b.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)))
	if err != nil {
		return fmt.Errorf("redfishbmc: listen: %w", err)
	}
	b.port = ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{
		Handler:           b.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(b.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.Background() },
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		// Serve returns http.ErrServerClosed when stopLocked closes srv.
		_ = srv.Serve(tls.NewListener(ln, b.tlsCfg))
	}()
	b.srv, b.served = srv, served
	return nil
}

// stopLocked closes the listener and every open connection and waits for the
// serving goroutine to end.
func (b *BMC) stopLocked() {
	if b.srv == nil {
		return
	}
	_ = b.srv.Close()
	<-b.served
	b.srv, b.served = nil, nil
}

// reportedState is the PowerState the BMC shows now.
func (b *BMC) reportedState(now time.Time) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.lie {
	case SayOff:
		return "Off"
	case SayOn:
		return "On"
	}
	settling := now.Sub(b.changedAt) < b.cfg.Settle
	switch {
	case b.on && settling:
		return "PoweringOn"
	case b.on:
		return "On"
	case settling:
		return "PoweringOff"
	default:
		return "Off"
	}
}

// errRefused is returned by reset when RefuseResets is set.
type errRefused struct{ code int }

func (e errRefused) Error() string { return "reset refused: HTTP " + strconv.Itoa(e.code) }

// reset applies a validated reset type: the hook runs for each change.
func (b *BMC) reset(resetType string) error {
	b.actionMu.Lock()
	defer b.actionMu.Unlock()
	b.mu.Lock()
	on, refuse := b.on, b.refuse
	b.mu.Unlock()
	if refuse != 0 {
		return errRefused{code: refuse}
	}
	var steps []bool
	switch resetType {
	case "Nmi":
		// A diagnostic interrupt: the host's kernel panics (and dumps) if
		// it is set up to; the BMC changes no power.
		b.mu.Lock()
		b.nmis++
		b.mu.Unlock()
	case "On":
		if !on {
			steps = []bool{true}
		}
	case "ForceOff", "GracefulShutdown":
		if on {
			steps = []bool{false}
		}
	case "ForceRestart":
		if on {
			steps = []bool{false, true}
		} else {
			steps = []bool{true}
		}
	}
	for _, s := range steps {
		if b.cfg.Power != nil {
			if err := b.cfg.Power(s); err != nil {
				return fmt.Errorf("power hook: %w", err)
			}
		}
		b.mu.Lock()
		b.on, b.changedAt = s, time.Now()
		b.mu.Unlock()
	}
	return nil
}

// hang blocks a request while the BMC is Silent. It returns true if the
// request must not be answered (the connection has been dropped).
func (b *BMC) hang(w http.ResponseWriter, r *http.Request) bool {
	b.mu.Lock()
	ch := b.silent
	if ch != nil {
		b.hanging++
	}
	b.mu.Unlock()
	if ch == nil {
		return false
	}
	defer func() {
		b.mu.Lock()
		b.hanging--
		b.mu.Unlock()
	}()
	select {
	case <-r.Context().Done():
	case <-ch:
	}
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
	}
	return true
}
