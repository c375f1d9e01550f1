package libvirtd

import "fmt"

// TestDomainXML is a domain of libvirt's test driver (test:///default): no
// process, started and stopped by the daemon alone.
func TestDomainXML(name, uuid string) string {
	return fmt.Sprintf(`<domain type='test'>
  <name>%s</name>
  <uuid>%s</uuid>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
</domain>`, name, uuid)
}

// QEMUDomainXML is a real QEMU guest (qemu:///session) under TCG, so no
// KVM is needed: no disk and no network, it sits in the firmware, which
// is all a lifecycle test needs from it.
func QEMUDomainXML(name, uuid string) string {
	return fmt.Sprintf(`<domain type='qemu'>
  <name>%s</name>
  <uuid>%s</uuid>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>`, name, uuid)
}
