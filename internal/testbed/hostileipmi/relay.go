package hostileipmi

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"github.com/bougou/go-ipmi/pkg/crypto"
	"github.com/bougou/go-ipmi/pkg/types"
)

// Mode is what the relay adds to the genuine replies.
type Mode int32

const (
	Pass Mode = iota
	Short
	Misaligned
	Unauthenticated
	Replay
)

func (m Mode) String() string {
	return [...]string{"pass", "short", "misaligned", "unauthenticated", "replay"}[m]
}

// Relay is a running hostile BMC.
type Relay struct {
	conn     *net.UDPConn
	upstream *net.UDPAddr
	kuid     []byte
	mode     atomic.Int32
	injected atomic.Int64
	wg       sync.WaitGroup

	// mu guards peers.
	mu    sync.Mutex
	peers map[string]*peer

	// reqMu guards requests.
	reqMu    sync.Mutex
	requests []Request
}

// Start relays 127.0.0.1:<ephemeral> to upstream (host:port of the real BMC,
// whose user has password).
func Start(upstream, password string) (*Relay, error) {
	up, err := net.ResolveUDPAddr("udp4", upstream)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	r := &Relay{conn: c, upstream: up, kuid: crypto.PadPassword20([]byte(password)), peers: map[string]*peer{}}
	r.wg.Add(1)
	go r.serve()
	return r, nil
}

// Port is the relay's UDP port on 127.0.0.1.
func (r *Relay) Port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

// SetMode switches what the relay adds, for the sessions that follow and
// those running.
func (r *Relay) SetMode(m Mode) { r.mode.Store(int32(m)) }

// Injected is the number of hostile datagrams sent so far.
func (r *Relay) Injected() int64 { return r.injected.Load() }

// Close stops the relay and waits for its goroutines.
func (r *Relay) Close() {
	r.conn.Close()
	r.mu.Lock()
	for _, p := range r.peers {
		p.up.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// peer is one client socket and its own connection to the BMC.
type peer struct {
	client *net.UDPAddr
	up     *net.UDPConn

	// mu guards the session state.
	mu      sync.Mutex
	console uint32
	algs    [3]byte
	rm      [16]byte
	role    byte
	user    []byte
	k1, k2  []byte
	active  bool
	replies [][]byte // genuine in-session replies, for Replay
}

func (r *Relay) serve() {
	defer r.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		p, err := r.peer(from)
		if err != nil {
			continue
		}
		req := append([]byte(nil), buf[:n]...)
		inSession := p.request(req)
		if inSession {
			r.record(p, req)
			switch Mode(r.mode.Load()) {
			case Unauthenticated:
				for seq := range 64 {
					r.send(p, forged15(byte(seq)))
				}
			case Replay:
				p.mu.Lock()
				old := append([][]byte(nil), p.replies...)
				p.mu.Unlock()
				for _, b := range old {
					r.send(p, b)
				}
			}
		}
		_, _ = p.up.Write(req)
	}
}

func (r *Relay) peer(from *net.UDPAddr) (*peer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.peers[from.String()]; ok {
		return p, nil
	}
	up, err := net.DialUDP("udp4", nil, r.upstream)
	if err != nil {
		return nil, err
	}
	p := &peer{client: from, up: up}
	r.peers[from.String()] = p
	r.wg.Add(1)
	go r.back(p)
	return p, nil
}

// back relays the BMC's replies to the client, with the mode's additions.
func (r *Relay) back(p *peer) {
	defer r.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := p.up.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		reply := append([]byte(nil), buf[:n]...)
		seq, inSession := p.reply(r.kuid, reply)
		if inSession {
			switch Mode(r.mode.Load()) {
			case Short:
				r.send(p, p.forge(seq, make([]byte, 4)))
			case Misaligned:
				r.send(p, p.forge(seq, make([]byte, 16+5)))
			}
		}
		_, _ = r.conn.WriteToUDP(reply, p.client)
		if inSession && Mode(r.mode.Load()) == Replay {
			p.mu.Lock()
			old := append([][]byte(nil), p.replies...)
			p.replies = append(p.replies, reply)
			p.mu.Unlock()
			for _, b := range old {
				r.send(p, b)
			}
		}
	}
}

func (r *Relay) send(p *peer, b []byte) {
	r.injected.Add(1)
	_, _ = r.conn.WriteToUDP(b, p.client)
}

// request follows session setup in a client's datagram and reports whether
// it is an in-session IPMI request.
func (p *peer) request(b []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(b) < 16 || b[4] != 0x06 {
		return false
	}
	pl := b[16:]
	switch b[5] & 0x3f {
	case 0x10: // Open Session Request
		if len(pl) >= 32 {
			p.console = binary.LittleEndian.Uint32(pl[4:8])
			p.active, p.k1, p.replies = false, nil, nil
		}
	case 0x12: // RAKP 1
		if len(pl) >= 28 && len(pl) >= 28+int(pl[27]) {
			copy(p.rm[:], pl[8:24])
			p.role, p.user = pl[24], append([]byte(nil), pl[28:28+int(pl[27])]...)
		}
	case 0x00:
		return p.active
	}
	return false
}

// reply follows session setup in a BMC's datagram and reports whether it is
// an in-session IPMI reply, with its session sequence number.
func (p *peer) reply(kuid, b []byte) (uint32, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(b) < 16 || b[4] != 0x06 {
		return 0, false
	}
	pl := b[16:]
	switch b[5] & 0x3f {
	case 0x11: // Open Session Response
		if len(pl) >= 36 && pl[1] == 0 {
			p.algs = [3]byte{pl[16] & 0x3f, pl[24] & 0x3f, pl[32] & 0x3f}
		}
	case 0x13: // RAKP 2
		if len(pl) >= 24 && pl[1] == 0 {
			_, k1, k2, err := crypto.DeriveSessionKeys(types.AuthAlg(p.algs[0]), p.rm[:], pl[8:24], p.role, string(p.user), kuid)
			if err == nil {
				p.k1, p.k2 = k1, k2
			}
		}
	case 0x15: // RAKP 4
		p.active = p.k1 != nil && len(pl) >= 2 && pl[1] == 0
	case 0x00:
		return binary.LittleEndian.Uint32(b[10:14]), p.active
	}
	return 0, false
}

// forge is an in-session reply carrying payload as its encrypted payload,
// authenticated with the session's K1: what only the BMC could send.
func (p *peer) forge(seq uint32, payload []byte) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := []byte{0x06, 0x00, 0xff, 0x07, 0x06, 0xc0}
	b = binary.LittleEndian.AppendUint32(b, p.console)
	b = binary.LittleEndian.AppendUint32(b, seq)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(payload)))
	b = append(b, payload...)
	pad := (4 - (12+len(payload)+2)%4) % 4
	for range pad {
		b = append(b, 0xff)
	}
	b = append(b, byte(pad), 0x07)
	code, _ := crypto.IntegrityHMAC(types.IntegrityAlg(p.algs[1]), b[4:], p.k1)
	n, _ := crypto.IntegrityAuthCodeLen(types.IntegrityAlg(p.algs[1]))
	return append(b, code[:n]...)
}

// forged15 is a plaintext IPMI 1.5 Get Chassis Status reply with
// requester sequence number seq, saying the power is off.
func forged15(seq byte) []byte {
	msg := []byte{0x81, 0x01 << 2, 0, 0x20, seq << 2, 0x01, 0x00, 0x00, 0x00, 0x00}
	msg[2] = -(msg[0] + msg[1])
	var s byte
	for _, c := range msg[3:] {
		s += c
	}
	msg = append(msg, -s)
	b := []byte{0x06, 0x00, 0xff, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, byte(len(msg))}
	return append(b, msg...)
}
