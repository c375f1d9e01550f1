package hostileipmi

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/bougou/go-ipmi/pkg/crypto"
	"github.com/google/go-cmp/cmp"
)

// session packs msg as an RMCP+ IPMI payload, encrypted with k2 when set.
func session(t *testing.T, msg, k2 []byte) []byte {
	t.Helper()
	payloadType := byte(0x40) // authenticated
	if k2 != nil {
		enc, err := crypto.EncryptAESPayload(msg, k2, bytes.Repeat([]byte{7}, 16))
		if err != nil {
			t.Fatal(err)
		}
		msg, payloadType = enc, 0xc0
	}
	b := []byte{0x06, 0x00, 0xff, 0x07, 0x06, payloadType, 1, 2, 3, 4, 5, 0, 0, 0}
	b = binary.LittleEndian.AppendUint16(b, uint16(len(msg)))
	return append(b, msg...)
}

func TestDecodeRequest(t *testing.T) {
	k2 := bytes.Repeat([]byte{0x5a}, 20)
	// Chassis Control (netFn 0x00, cmd 0x02), pulse diagnostic interrupt (4).
	chassisControl := []byte{0x20, 0x00 << 2, 0xe0, 0x81, 0x04 << 2, 0x02, 0x04, 0x75}
	want := Request{NetFn: 0x00, Cmd: 0x02, Data: []byte{0x04}}
	// 21 bytes of ciphertext, as the length field says: not whole blocks.
	misaligned := session(t, chassisControl, k2)[:16+21]
	binary.LittleEndian.PutUint16(misaligned[14:16], 21)
	tests := []struct {
		name   string
		packet []byte
		conf   byte
		k2     []byte
		want   *Request
	}{
		{"encrypted", session(t, chassisControl, k2), 1, k2, &want},
		{"plain", session(t, chassisControl, nil), 0, nil, &want},
		{"misaligned", misaligned, 1, k2, nil},
		{"short", []byte{0x06, 0x00}, 1, k2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &peer{k2: tt.k2, algs: [3]byte{1, 1, tt.conf}}
			got, ok := p.decode(tt.packet)
			if tt.want == nil {
				if ok {
					t.Errorf("decode = %+v, want no request", got)
				}
				return
			}
			if !ok {
				t.Fatal("decode failed")
			}
			if diff := cmp.Diff(*tt.want, got); diff != "" {
				t.Errorf("decode (-want +got):\n%s", diff)
			}
		})
	}
}
