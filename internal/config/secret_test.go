package config_test

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/internal/config"
)

func TestSecret(t *testing.T) {
	env := map[string]string{"BMC_PASS": "s3cret env", "EMPTY": ""}
	files := map[string]string{
		"/etc/vigil/bmc.pass": "s3cret file\n",
		"/crlf":               "s3cret\r\n",
		"/two-newlines":       "s3cret\n\n",
		"/spaces":             "  s3cret  ",
		"/empty":              "\n",
	}
	getenv := func(k string) string { return env[k] }
	readFile := func(p string) ([]byte, error) {
		s, ok := files[p]
		if !ok {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
		}
		return []byte(s), nil
	}
	tests := []struct {
		name    string
		dev     config.Device
		want    string
		wantErr error
	}{
		{name: "file", dev: config.Device{PasswordFile: "/etc/vigil/bmc.pass"}, want: "s3cret file"},
		{name: "file with CRLF", dev: config.Device{PasswordFile: "/crlf"}, want: "s3cret"},
		{name: "only one newline is removed", dev: config.Device{PasswordFile: "/two-newlines"}, want: "s3cret\n"},
		{name: "spaces are kept", dev: config.Device{PasswordFile: "/spaces"}, want: "  s3cret  "},
		{name: "env", dev: config.Device{PasswordEnv: "BMC_PASS"}, want: "s3cret env"},
		{name: "no reference", dev: config.Device{Driver: "ceph-blocklist"}, want: ""},
		{name: "missing file", dev: config.Device{PasswordFile: "/nope"}, wantErr: fs.ErrNotExist},
		{name: "empty file", dev: config.Device{PasswordFile: "/empty"}, wantErr: config.ErrInvalid},
		{name: "unset env", dev: config.Device{PasswordEnv: "UNSET"}, wantErr: config.ErrInvalid},
		{name: "empty env", dev: config.Device{PasswordEnv: "EMPTY"}, wantErr: config.ErrInvalid},
		{name: "both", dev: config.Device{PasswordEnv: "BMC_PASS", PasswordFile: "/etc/vigil/bmc.pass"}, wantErr: config.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.dev.Secret(getenv, readFile)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Secret = %q, %v; want errors.Is %v", got, err, tt.wantErr)
				}
				if got != "" || strings.Contains(err.Error(), "s3cret") {
					t.Errorf("a failed Secret leaked %q / %v", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Secret = %q, %v; want %q", got, err, tt.want)
			}
			if s := tt.dev.String(); strings.Contains(s, "s3cret") {
				t.Errorf("String() = %q", s)
			}
		})
	}
}
