// Package ipmisim runs simulated BMCs for integration tests: one OpenIPMI
// `ipmi_sim` per host namespace, serving IPMI 2.0 lanplus (cipher suite 3)
// on 127.0.0.1.
//
// The BMC's chassis power is the host namespace itself: "power off"
// SIGKILLs every process living in the namespace and takes its links down
// (the host goes silent on every network at once), "power on" brings the
// links up and starts the host command again. The chassis_control program
// that does this ships inside this package (chassis-control.sh, embedded)
// and is written, with every other runtime file, under the directory the
// caller gives. PoweredOn reads the true state (does the namespace have
// processes?) without asking the BMC, so a test can check a fence driver's
// claim against reality.
//
// This package must never write into the repository or a shared directory,
// never bind anything but 127.0.0.1, and never touch a namespace other than
// the one it was given. It is test harness: production code must not import
// it.
package ipmisim
