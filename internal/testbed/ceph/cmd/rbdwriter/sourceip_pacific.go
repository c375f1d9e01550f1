//go:build pacific

package main

// librados has no client-side bind address (ms_bind_before_connect only
// applies to messengers that call client_bind, which librados does not), and
// on loopback every client is 127.0.0.1. To play another host, this binary
// defines connect(2) itself and exports it (-rdynamic): the dynamic linker
// then resolves librados' calls to it, and it binds each IPv4 socket to the
// chosen source address before calling the real connect. Go's own net package
// makes raw system calls and is not affected.

/*
#cgo LDFLAGS: -rdynamic -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static struct in_addr rbdwriter_src;
static int rbdwriter_src_set;

static int rbdwriter_set_source(const char *ip) {
	rbdwriter_src_set = inet_pton(AF_INET, ip, &rbdwriter_src) == 1;
	return rbdwriter_src_set;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
	static int (*real_connect)(int, const struct sockaddr *, socklen_t);
	if (!real_connect)
		real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
	if (rbdwriter_src_set && addr && addr->sa_family == AF_INET) {
		struct sockaddr_in src;
		memset(&src, 0, sizeof src);
		src.sin_family = AF_INET;
		src.sin_addr = rbdwriter_src;
		// A socket that is already bound (EINVAL: librados retrying a
		// non-blocking connect on the same socket) keeps its address.
		if (bind(fd, (const struct sockaddr *)&src, sizeof src) != 0 && errno != EINVAL)
			return -1;
	}
	return real_connect(fd, addr, len);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// setSourceIP makes every later IPv4 connect of this process come from ip.
// It must be called before the Ceph client connects.
func setSourceIP(ip string) error {
	cs := C.CString(ip)
	defer C.free(unsafe.Pointer(cs))
	if C.rbdwriter_set_source(cs) == 0 {
		return fmt.Errorf("rbdwriter: -source-ip %q is not an IPv4 address", ip)
	}
	return nil
}
