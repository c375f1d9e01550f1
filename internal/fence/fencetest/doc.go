// Package fencetest holds checks every fence driver's tests share. It is for
// tests only; the vigil binary must never import it.
package fencetest
