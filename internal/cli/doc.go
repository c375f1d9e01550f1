// Package cli is vigil's command line: it parses arguments, wires the parts
// together and prints for humans. cmd/vigil only calls Main.
//
// It must not hold decision logic: what to do about a host is decided in
// package decision; this package only presents it. It reads the environment
// and the file system only through what Main is given.
package cli
