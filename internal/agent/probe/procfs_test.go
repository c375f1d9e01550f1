package probe

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStat(t *testing.T) {
	// Field 22 (starttime) is the 20th after the comm.
	tail := " S 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 4242 1000 10"
	for _, tc := range []struct {
		name, line string
		want       procStat
		err        bool
	}{
		{"plain", "77 (libvirtd)" + tail, procStat{comm: "libvirtd", state: 'S', start: 4242}, false},
		{"comm with spaces and parentheses ends at the last )", "78 (a) (b c)" + tail, procStat{comm: "a) (b c", state: 'S', start: 4242}, false},
		{"zombie", "79 (nova-compute) Z" + tail[2:], procStat{comm: "nova-compute", state: 'Z', start: 4242}, false},
		{"too short", "80 (x) S 1 2 3", procStat{}, true},
		{"no comm", "81 x S" + tail, procStat{}, true},
		{"starttime not a number", "82 (x) S 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 soon 1000", procStat{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.line + "\n"))
			if tc.err {
				if !errors.Is(err, errStat) {
					t.Fatalf("parseStat = %+v, %v; want errStat", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseStat = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestParseBootTime(t *testing.T) {
	got, err := parseBootTime([]byte("cpu  1 2 3\ncpu0 1 2 3\nintr 5\nctxt 9\nbtime 1764755000\nprocesses 4\n"))
	if err != nil || got != 1764755000 {
		t.Fatalf("parseBootTime = %d, %v; want 1764755000", got, err)
	}
	if _, err := parseBootTime([]byte("cpu 1 2 3\n")); err == nil {
		t.Fatal("parseBootTime without a btime line: want an error")
	}
}

func TestParseCmdline(t *testing.T) {
	if d := cmp.Diff([]string{"/usr/bin/python3", "", "/usr/bin/nova-compute"},
		parseCmdline([]byte("/usr/bin/python3\x00\x00/usr/bin/nova-compute\x00"))); d != "" {
		t.Errorf("parseCmdline keeps an empty argument inside (-want +got):\n%s", d)
	}
	if got := parseCmdline(nil); got != nil {
		t.Errorf("a kernel thread's empty cmdline = %q, want none", got)
	}
	if d := cmp.Diff([]string{"libvirtd", "-d"}, parseCmdline([]byte("libvirtd\x00-d\x00"))); d != "" {
		t.Errorf("parseCmdline (-want +got):\n%s", d)
	}
}

func TestMatchesName(t *testing.T) {
	for _, tc := range []struct {
		name, svc, comm string
		argv            []string
		want            bool
	}{
		{"comm set from the #! script's name", "nova-compute", "nova-compute", []string{"/usr/bin/python3", "/usr/bin/nova-compute"}, true},
		{"comm is cut at 15 bytes", "nova-compute-ironic", "nova-compute-ir", nil, true},
		{"binary by path", "libvirtd", "libvirtd", []string{"/usr/sbin/libvirtd", "-d"}, true},
		{"renamed comm, argv[0] still the path", "libvirtd", "rpc-worker", []string{"/usr/sbin/libvirtd"}, true},
		{"python runs the script", "nova-compute", "python3", []string{"/usr/bin/python3.11", "/usr/bin/nova-compute", "--config-file", "/etc/nova/nova.conf"}, true},
		{"a pager reading its log is not the service", "nova-compute", "less", []string{"less", "/var/log/nova/nova-compute"}, false},
		{"a later argument is not the service", "nova-compute", "python3", []string{"python3", "-m", "nova-compute"}, false},
		{"another service", "nova-compute", "nova-conductor", []string{"/usr/bin/python3", "/usr/bin/nova-conductor"}, false},
		{"a prefix is not the name", "libvirtd", "libvirt", []string{"/usr/sbin/libvirt"}, false},
		{"kernel thread", "libvirtd", "kworker/0:1", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := matchesName(tc.svc, tc.comm, tc.argv); got != tc.want {
				t.Errorf("matchesName(%q, %q, %q) = %v, want %v", tc.svc, tc.comm, tc.argv, got, tc.want)
			}
		})
	}
}
