package fence

import "errors"

// ErrInvalidConfig is wrapped by every driver's *ConfigError.
var ErrInvalidConfig = errors.New("fence: invalid device config")

// ConfigError names the driver Config field that is wrong. Its text never
// contains a password or an option's value.
type ConfigError struct {
	Driver string // "ipmi", "redfish", "agent"
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return e.Driver + ": invalid config: " + e.Field + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) hold.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Redacted shows whether a password is set, never what it is: for String,
// GoString and LogValue of driver configs.
func Redacted(password string) string {
	if password == "" {
		return `""`
	}
	return "<redacted>"
}
