// Package devices builds a host's fencing topology (fence.Topology) from
// vigil's configuration: one fence.Device per configured device, with its
// credential resolved from its reference.
//
// It is the only package that knows every driver. It must never log or
// return a secret; errors name the host, the level and the device.
package devices
