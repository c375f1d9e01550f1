package ipmi

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // RAKP-HMAC-SHA1 and HMAC-SHA1-96 are what cipher suite 3 is
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"net"
	"sync"
)

// guard stands between go-ipmi and the BMC's socket: it reads every
// datagram first and passes on only those a BMC in this session could have
// sent. go-ipmi v0.9.1 checks none of this itself:
//
//   - it slices an encrypted payload before checking its length, so a
//     short or misaligned one panics (client/session_v20.go decryptPayload,
//     crypto.DecryptAES), also in its keep-alive goroutine where no recover
//     can catch it;
//   - it never verifies a reply's integrity code (AuthCode), and accepts a
//     plaintext IPMI 1.5 reply in the middle of a 2.0 session, so one
//     spoofed datagram with a guessed 6-bit sequence number forges "power
//     off";
//   - it ignores the session sequence number, so a replayed reply passes.
//
// The guard follows session setup in both directions (IPMI 2.0 section 13):
// it learns the session IDs and the random numbers from the Open Session
// and RAKP messages, derives the session keys (SIK, K1, K2, section 13.31
// and 13.32) from the password as the BMC does, and then accepts only
// in-session replies that are addressed to our session, authenticated
// with K1, newer than every reply before them, encrypted in whole AES
// blocks with valid padding and hold a well-formed IPMI message. Before
// the session exists it accepts only the one sessionless reply and the
// setup messages go-ipmi asked for, each of its exact length, with the
// algorithms go-ipmi proposed. Everything else is dropped and counted.
//
// A hostile BMC (or anyone who can send from its address) can then still
// fail a fence, never crash vigil or fake a verified one.
type guard struct {
	net.Conn
	kuid    []byte // the password, zero-padded to 20 bytes (Kuid)
	dropped func(reason string)
	readBuf []byte

	// mu guards the session state below: go-ipmi's keep-alive goroutine
	// and its caller share the connection.
	mu       sync.Mutex
	phase    phase
	want15   bool    // a sessionless IPMI 1.5 request is out
	console  uint32  // our session ID
	proposed [3]byte // authentication, integrity, confidentiality algorithms
	rm       [16]byte
	role     byte
	user     []byte
	k1, k2   []byte
	lastSeq  uint32 // of the newest in-session reply accepted
}

type phase int

const (
	setup     phase = iota // nothing of RMCP+ sent yet
	openSent               // Open Session Request out
	rakp1Sent              // RAKP 1 out
	rakp3Sent              // RAKP 3 out; keys derived
	active                 // RAKP 4 accepted
)

// RMCP+ payload types (IPMI 2.0 table 13-16) and algorithms (13-17..13-19).
const (
	payloadIPMI         = 0x00
	payloadOpenRequest  = 0x10
	payloadOpenResponse = 0x11
	payloadRAKP1        = 0x12
	payloadRAKP2        = 0x13
	payloadRAKP3        = 0x14
	payloadRAKP4        = 0x15

	authSHA1   = 0x01 // RAKP-HMAC-SHA1
	authSHA256 = 0x03 // RAKP-HMAC-SHA256
	integSHA1  = 0x01 // HMAC-SHA1-96
	integS256  = 0x04 // HMAC-SHA256-128
	confAES    = 0x01 // AES-CBC-128

	rmcpLen   = 4  // RMCP header
	headerLen = 12 // RMCP+ session header without OEM fields
)

func newGuard(c net.Conn, password string, dropped func(string)) *guard {
	kuid := make([]byte, 20)
	copy(kuid, password)
	return &guard{Conn: c, kuid: kuid, dropped: dropped, readBuf: make([]byte, 64<<10)}
}

// Write notes what go-ipmi asks for, then sends it.
func (g *guard) Write(b []byte) (int, error) {
	g.mu.Lock()
	g.sent(b)
	g.mu.Unlock()
	return g.Conn.Write(b)
}

// Read returns the next datagram the guard accepts; the others are dropped.
// The read deadline go-ipmi set bounds the whole wait.
func (g *guard) Read(b []byte) (int, error) {
	for {
		n, err := g.Conn.Read(g.readBuf)
		if err != nil {
			return 0, err
		}
		g.mu.Lock()
		reason := g.accept(g.readBuf[:n])
		g.mu.Unlock()
		if reason == "" && n <= len(b) {
			return copy(b, g.readBuf[:n]), nil
		}
		if reason == "" {
			reason = "longer than go-ipmi's buffer"
		}
		g.dropped(reason)
	}
}

// sent follows session setup in the requests.
func (g *guard) sent(b []byte) {
	if len(b) < rmcpLen+1 {
		return
	}
	if b[rmcpLen] != 0x06 { // IPMI 1.5: only the sessionless capabilities request
		g.want15 = g.phase == setup
		return
	}
	if len(b) < rmcpLen+headerLen {
		return
	}
	p := b[rmcpLen+headerLen:]
	switch b[rmcpLen+1] & 0x3f {
	case payloadOpenRequest:
		if len(p) >= 32 {
			g.console = binary.LittleEndian.Uint32(p[4:8])
			g.proposed = [3]byte{p[12] & 0x3f, p[20] & 0x3f, p[28] & 0x3f}
			g.phase, g.k1, g.k2, g.lastSeq = openSent, nil, nil, 0
		}
	case payloadRAKP1:
		if len(p) >= 28 && len(p) >= 28+int(p[27]) {
			copy(g.rm[:], p[8:24])
			g.role, g.user = p[24], append([]byte(nil), p[28:28+int(p[27])]...)
			g.phase = rakp1Sent
		}
	case payloadRAKP3:
		if g.k1 != nil {
			g.phase = rakp3Sent
		}
	}
}

// accept returns "" for a datagram to pass on, else why it is dropped.
func (g *guard) accept(b []byte) string {
	if len(b) < rmcpLen+1 || b[0] != 0x06 || b[3]&0x1f != 0x07 {
		return "not an RMCP IPMI message"
	}
	if b[rmcpLen] != 0x06 {
		return g.accept15(b[rmcpLen:])
	}
	s := b[rmcpLen:]
	if len(s) < headerLen {
		return "RMCP+ header cut short"
	}
	ptype, encrypted, authenticated := s[1]&0x3f, s[1]&0x80 != 0, s[1]&0x40 != 0
	id := binary.LittleEndian.Uint32(s[2:6])
	seq := binary.LittleEndian.Uint32(s[6:10])
	plen := int(binary.LittleEndian.Uint16(s[10:12]))
	if len(s) < headerLen+plen {
		return "payload longer than the datagram"
	}
	p := s[headerLen : headerLen+plen]
	if ptype != payloadIPMI {
		if id != 0 || encrypted || authenticated || len(s) != headerLen+plen {
			return "session setup message with a session, encryption or trailer"
		}
		return g.acceptSetup(ptype, p)
	}
	switch {
	case g.phase != active:
		return "IPMI reply before the session exists"
	case id != g.console:
		return "IPMI reply for another session"
	case !encrypted || !authenticated:
		return "unauthenticated or unencrypted IPMI reply inside the session"
	case seq == 0 || seq <= g.lastSeq:
		return "replayed or out-of-order session sequence number"
	}
	if reason := g.checkTrailer(s, plen); reason != "" {
		return reason
	}
	msg, reason := g.decrypt(p)
	if reason != "" {
		return reason
	}
	if !wellFormed(msg) {
		return "malformed IPMI message inside the session"
	}
	g.lastSeq = seq
	return ""
}

// accept15 admits the one sessionless reply to the capabilities request.
func (g *guard) accept15(s []byte) string {
	if !g.want15 {
		return "IPMI 1.5 reply outside session setup: it carries no authentication"
	}
	// auth type none (0), sequence 0, session 0, length, message.
	if len(s) < 10 || s[0] != 0 || binary.LittleEndian.Uint32(s[1:5]) != 0 || binary.LittleEndian.Uint32(s[5:9]) != 0 {
		return "IPMI 1.5 reply with a session or authentication"
	}
	if int(s[9]) != len(s)-10 || !wellFormed(s[10:]) {
		return "malformed IPMI 1.5 reply"
	}
	g.want15 = false
	return ""
}

// acceptSetup checks an Open Session Response or RAKP message 2 or 4: the
// one go-ipmi waits for, of its exact length, for our session.
func (g *guard) acceptSetup(ptype byte, p []byte) string {
	want := map[byte]phase{payloadOpenResponse: openSent, payloadRAKP2: rakp1Sent, payloadRAKP4: rakp3Sent}
	if ph, ok := want[ptype]; !ok || ph != g.phase {
		return "session setup message not asked for"
	}
	if len(p) < 8 || binary.LittleEndian.Uint32(p[4:8]) != g.console {
		return "session setup message for another session"
	}
	if p[1] != 0 { // an RMCP+ status code: go-ipmi reads only it and reports it
		return ""
	}
	switch ptype {
	case payloadOpenResponse:
		if len(p) != 36 {
			return "Open Session Response of the wrong length"
		}
		if got := [3]byte{p[16] & 0x3f, p[24] & 0x3f, p[32] & 0x3f}; got != g.proposed || !g.supported() {
			return "BMC chose algorithms other than the ones proposed"
		}
	case payloadRAKP2:
		if len(p) != 40+g.hash().Size() {
			return "RAKP 2 of the wrong length"
		}
		g.deriveKeys(p[8:24])
	case payloadRAKP4:
		if len(p) != 8+g.integrityLen() {
			return "RAKP 4 of the wrong length"
		}
		g.phase = active
	}
	return ""
}

// supported: the suites vigil allows (3 and 17) authenticate, check
// integrity and encrypt.
func (g *guard) supported() bool {
	a, i, c := g.proposed[0], g.proposed[1], g.proposed[2]
	return (a == authSHA1 && i == integSHA1 || a == authSHA256 && i == integS256) && c == confAES
}

func (g *guard) hash() hash.Hash {
	if g.proposed[0] == authSHA256 {
		return sha256.New()
	}
	return sha1.New()
}

func (g *guard) integrityLen() int {
	if g.proposed[1] == integS256 {
		return 16
	}
	return 12
}

// deriveKeys computes SIK = HMAC_Kuid(Rm | Rc | role | ULength | UName), and
// K1, K2 = HMAC_SIK(0x01 × 20), HMAC_SIK(0x02 × 20).
func (g *guard) deriveKeys(rc []byte) {
	mac := func(key []byte, parts ...[]byte) []byte {
		h := hmac.New(func() hash.Hash { return g.hash() }, key)
		for _, p := range parts {
			h.Write(p)
		}
		return h.Sum(nil)
	}
	sik := mac(g.kuid, g.rm[:], rc, []byte{g.role, byte(len(g.user))}, g.user)
	c1, c2 := make([]byte, 20), make([]byte, 20)
	for i := range c1 {
		c1[i], c2[i] = 0x01, 0x02
	}
	g.k1, g.k2 = mac(sik, c1), mac(sik, c2)
}

// checkTrailer verifies the integrity pad, the next header and the
// AuthCode over everything from the auth type to the next header.
func (g *guard) checkTrailer(s []byte, plen int) string {
	pad := (4 - (headerLen+plen+2)%4) % 4
	end := headerLen + plen + pad + 2
	if len(s) != end+g.integrityLen() {
		return "session trailer of the wrong length"
	}
	for _, c := range s[headerLen+plen : headerLen+plen+pad] {
		if c != 0xff {
			return "bad integrity pad"
		}
	}
	if int(s[end-2]) != pad || s[end-1] != 0x07 {
		return "bad pad length or next header"
	}
	newHash := sha1.New
	if g.proposed[1] == integS256 {
		newHash = sha256.New
	}
	h := hmac.New(newHash, g.k1)
	h.Write(s[:end])
	if subtle.ConstantTimeCompare(h.Sum(nil)[:g.integrityLen()], s[end:]) != 1 {
		return "AuthCode does not match the session's integrity key"
	}
	return ""
}

// decrypt opens an AES-CBC-128 payload: a 16-byte IV, then whole blocks
// whose plaintext ends in pad bytes 1, 2, ... and the pad length.
func (g *guard) decrypt(p []byte) ([]byte, string) {
	if len(p) < 2*aes.BlockSize || len(p)%aes.BlockSize != 0 {
		return nil, "encrypted payload not whole AES blocks after its IV"
	}
	block, err := aes.NewCipher(g.k2[:16])
	if err != nil {
		return nil, "no AES key"
	}
	pt := make([]byte, len(p)-aes.BlockSize)
	cipher.NewCBCDecrypter(block, p[:aes.BlockSize]).CryptBlocks(pt, p[aes.BlockSize:])
	n := int(pt[len(pt)-1])
	if n >= aes.BlockSize || n >= len(pt) {
		return nil, "bad confidentiality pad length"
	}
	for i := range n {
		if pt[len(pt)-1-n+i] != byte(i+1) {
			return nil, "bad confidentiality pad"
		}
	}
	return pt[:len(pt)-1-n], ""
}

// wellFormed checks an IPMI response message: rqAddr, netFn/rqLUN,
// checksum, rsAddr, rqSeq/rsLUN, command, completion code, data, checksum
// (IPMI 2.0 section 13.8), both checksums right.
func wellFormed(m []byte) bool {
	if len(m) < 8 {
		return false
	}
	return m[0]+m[1]+m[2] == 0 && sum(m[3:]) == 0
}

func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}
