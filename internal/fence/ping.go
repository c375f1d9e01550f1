package fence

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// PingProber asks whether a host still answers ICMP echo on any of its
// addresses (its storage network ones, typically: the network its guests
// write over). It runs the system's ping(8), inside network namespace Netns
// when set (tests).
type PingProber struct {
	Addrs []string
	Netns string
}

var _ Prober = PingProber{}

// Answers reports whether any address replied to one echo within a second.
func (p PingProber) Answers(ctx context.Context) (bool, string, error) {
	if len(p.Addrs) == 0 {
		return false, "", errors.New("fence: ping probe has no addresses")
	}
	var silent []string
	for _, a := range p.Addrs {
		args := []string{"-c1", "-W1", "-n", a}
		name := "ping"
		if p.Netns != "" {
			args = append([]string{"netns", "exec", p.Netns, "ping"}, args...)
			name = "ip"
		}
		err := exec.CommandContext(ctx, name, args...).Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return true, a + " replies to ping", nil
		case errors.As(err, &exit) && exit.ExitCode() == 1:
			silent = append(silent, a) // ping ran; no reply
		default:
			return false, "", fmt.Errorf("fence: ping %s: %w", a, err)
		}
	}
	return false, strings.Join(silent, ", ") + " silent to ping", nil
}
