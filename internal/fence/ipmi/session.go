package ipmi

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bougou/go-ipmi/pkg/client"
	"github.com/bougou/go-ipmi/pkg/command/chassis"
	"github.com/bougou/go-ipmi/pkg/types"
)

// session is one authenticated RMCP+ session with the BMC.
type session interface {
	// setPower sends chassis power up (on) or power down (!on).
	setPower(ctx context.Context, on bool) error
	// powerIsOn reads the chassis power state.
	powerIsOn(ctx context.Context) (bool, error)
	// diag sends chassis control "pulse diagnostic interrupt" (an NMI).
	diag(ctx context.Context) error
	// close ends the session; it never fails the caller.
	close()
}

// lanSession is a session over go-ipmi's lanplus client.
type lanSession struct {
	c            *client.Client
	replies      *replyCounter
	closeTimeout time.Duration
}

// dialLAN opens a lanplus session to the BMC in cfg. Its errors are
// classified.
func dialLAN(ctx context.Context, cfg Config, log *slog.Logger) (session, error) {
	replies := &replyCounter{target: net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port)),
		guard: func(c net.Conn) net.Conn {
			return newGuard(c, cfg.Password, func(reason string) {
				log.Warn("ipmi reply dropped", "reason", reason)
			})
		}}
	c, err := client.NewClient(cfg.Address, cfg.Port, cfg.Username, cfg.Password)
	if err != nil { // only a too-long username, which Validate rejects
		return nil, fmt.Errorf("new client: %w", err)
	}
	c.WithInterface(client.InterfaceLanplus).
		WithCipherSuiteID(types.CipherSuiteID(cfg.CipherSuite)).
		WithMaxPrivilegeLevel(cfg.Privilege.level()).
		WithTimeout(cfg.ExchangeTimeout).
		WithRetry(cfg.Retries).
		WithUDPProxy(replies)
	if err := c.Connect(ctx); err != nil {
		abandon(c)
		return nil, classify("open session", err, replies.count() > 0)
	}
	return &lanSession{c: c, replies: replies, closeTimeout: cfg.ExchangeTimeout}, nil
}

func (s *lanSession) setPower(ctx context.Context, on bool) error {
	ctl := chassis.ChassisControlPowerDown
	if on {
		ctl = chassis.ChassisControlPowerUp
	}
	before := s.replies.count()
	_, err := s.c.ChassisControl(ctx, ctl)
	return classify("chassis control", err, s.replies.count() > before)
}

func (s *lanSession) diag(ctx context.Context) error {
	before := s.replies.count()
	_, err := s.c.ChassisControl(ctx, chassis.ChassisControlDiagnosticInterrupt)
	return diagErr(classify("chassis control (pulse diagnostic interrupt)", err, s.replies.count() > before))
}

func (s *lanSession) powerIsOn(ctx context.Context) (bool, error) {
	before := s.replies.count()
	st, err := s.c.GetChassisStatus(ctx)
	if err != nil {
		return false, classify("chassis status", err, s.replies.count() > before)
	}
	return st.PowerIsOn, nil
}

// close sends Close Session, waiting at most one exchange for the reply
// (the BMC frees the session slot either way when it times out), and closes
// the socket. It also stops the client's keep-alive goroutine.
func (s *lanSession) close() {
	ctx, cancel := context.WithTimeout(context.Background(), s.closeTimeout)
	defer cancel()
	_ = s.c.Close(ctx)
}

// abandon releases a client whose Connect failed: there is no session to
// close, so the already cancelled context makes go-ipmi's Close skip the
// exchange and only close the socket.
func abandon(c *client.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c.Close(ctx)
}

// replyCounter is the UDP dialer handed to go-ipmi (WithUDPProxy). It dials
// the BMC as go-ipmi would and counts the datagrams that come back, so that
// "the BMC never answered" is a fact the driver observes rather than
// something read from error text; above the count sits the guard, which
// passes go-ipmi only the datagrams a BMC in the session could have sent.
type replyCounter struct {
	target string // host:port, joined so IPv6 addresses work
	guard  func(net.Conn) net.Conn
	n      atomic.Int64
}

// Dial ignores addr: go-ipmi builds it with "%s:%d", which breaks IPv6.
func (r *replyCounter) Dial(network, _ string) (net.Conn, error) {
	c, err := net.Dial(network, r.target)
	if err != nil {
		return nil, err
	}
	return r.guard(&countingConn{Conn: c, n: &r.n}), nil
}

func (r *replyCounter) count() int64 { return r.n.Load() }

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.n.Add(1)
	}
	return n, err
}
