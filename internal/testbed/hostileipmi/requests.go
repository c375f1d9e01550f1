package hostileipmi

import (
	"github.com/bougou/go-ipmi/pkg/crypto"
)

// Request is one in-session IPMI request a client sent through the relay.
type Request struct {
	NetFn byte   // network function (0x00 chassis, 0x06 application)
	Cmd   byte   // command, e.g. 0x02 Chassis Control
	Data  []byte // request data, after the command byte, without the checksum
}

// Requests returns the in-session requests relayed so far, oldest first.
func (r *Relay) Requests() []Request {
	r.reqMu.Lock()
	defer r.reqMu.Unlock()
	return append([]Request(nil), r.requests...)
}

// record decodes an in-session request datagram b of p and keeps it; a
// datagram it cannot decode is relayed all the same, and not kept.
func (r *Relay) record(p *peer, b []byte) {
	req, ok := p.decode(b)
	if !ok {
		return
	}
	r.reqMu.Lock()
	r.requests = append(r.requests, req)
	r.reqMu.Unlock()
}

// decode opens an RMCP+ IPMI payload (IPMI 2.0 section 13.8): the session
// header, then the payload, AES-CBC-128 encrypted when the payload type
// says so, then the IPMI request message (rsAddr, netFn/LUN, checksum,
// rqAddr, rqSeq/LUN, cmd, data, checksum).
func (p *peer) decode(b []byte) (Request, bool) {
	p.mu.Lock()
	k2, conf := p.k2, p.algs[2]
	p.mu.Unlock()
	if len(b) < 16 {
		return Request{}, false
	}
	n := int(b[14]) | int(b[15])<<8
	if len(b) < 16+n {
		return Request{}, false
	}
	msg := b[16 : 16+n]
	if b[5]&0x80 != 0 { // encrypted
		// Only AES-CBC-128 (the driver's suite 3), in whole blocks:
		// crypto/cipher panics on a partial one.
		if conf != 1 || k2 == nil || len(msg) < 32 || len(msg)%16 != 0 {
			return Request{}, false
		}
		plain, err := crypto.DecryptAESPayload(msg, k2)
		if err != nil {
			return Request{}, false
		}
		msg = plain
	}
	if len(msg) < 7 {
		return Request{}, false
	}
	return Request{NetFn: msg[1] >> 2, Cmd: msg[5], Data: append([]byte(nil), msg[6:len(msg)-1]...)}, true
}
