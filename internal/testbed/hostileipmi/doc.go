// Package hostileipmi is a hostile BMC for tests: a UDP relay on loopback in
// front of a real one (ipmi_sim) that follows each RMCP+ session the way a
// man in the middle who knows the password would, and adds to the genuine
// replies what a broken or hostile BMC, or anyone who can send from the
// BMC's address, might send:
//
//   - Short: before each in-session reply, one authenticated with the
//     session's integrity key whose encrypted payload is 4 bytes;
//   - Misaligned: likewise, 21 bytes (not whole AES blocks after the IV);
//   - Unauthenticated: before each in-session request reaches the BMC, 64
//     plaintext IPMI 1.5 Get Chassis Status replies saying "power off", one
//     for each 6-bit sequence number (no key needed);
//   - Replay: every earlier in-session reply of the session again, before
//     each request and after each reply.
//
// It also records every in-session request a client sends, decrypted
// (Requests), so a test can check the exact command bytes that reached the
// BMC. The genuine replies always follow, so a client that drops what it must
// still works. It derives session keys with go-ipmi's own crypto package,
// independently of the code under test. It must never listen on anything
// but 127.0.0.1, and never be linked into the vigil binary.
package hostileipmi
