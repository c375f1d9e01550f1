package nova

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
)

// Errors callers tell apart with errors.Is.
var (
	ErrCredentials  = errors.New("nova: no OpenStack credentials (set OS_CLOUD for clouds.yaml, or OS_AUTH_URL and the other OS_* variables)")
	ErrMicroversion = errors.New("nova: the compute API is older than microversion " + baseMicroversion)
	ErrNoService    = errors.New("nova: no nova-compute service on that host")
	ErrNoTarget     = errors.New("nova: no enabled, up nova-compute host outside the ones to avoid")
)

// Microversions pinned per call. baseMicroversion (Pike) identifies
// services by UUID and shows forced_down; everything is read and changed at
// it. keepStoppedMicroversion keeps a stopped server stopped through an
// evacuation (computes >= Antelope); below it vigil stops it again.
const (
	baseMicroversion        = "2.53"
	keepStoppedMicroversion = "2.95"
)

// Credentials are how to reach and log in to the cloud, as every OpenStack
// tool takes them: a clouds.yaml entry (OS_CLOUD) or OS_* variables.
type Credentials struct {
	Auth     gophercloud.AuthOptions
	Endpoint gophercloud.EndpointOpts
	TLS      *tls.Config // nil: the system's roots
}

// CredentialsFromEnv reads credentials the way the openstack CLI does:
// OS_CLOUD names an entry of clouds.yaml (found through
// OS_CLIENT_CONFIG_FILE, ./, ~/.config/openstack/ or /etc/openstack/);
// without it the OS_* variables of an openrc are used. getenv is os.Getenv
// in main.
func CredentialsFromEnv(getenv func(string) string) (Credentials, error) {
	if cloud := getenv("OS_CLOUD"); cloud != "" {
		opts := []clouds.ParseOption{clouds.WithCloudName(cloud)}
		if f := getenv("OS_CLIENT_CONFIG_FILE"); f != "" {
			opts = append(opts, clouds.WithLocations(f))
		}
		if r := getenv("OS_REGION_NAME"); r != "" {
			opts = append(opts, clouds.WithRegion(r))
		}
		if i := getenv("OS_INTERFACE"); i != "" {
			opts = append(opts, clouds.WithEndpointType(i))
		}
		auth, eo, tlsConf, err := clouds.Parse(opts...)
		if err != nil {
			return Credentials{}, fmt.Errorf("nova: clouds.yaml entry %q: %w", cloud, err)
		}
		auth.AllowReauth = true
		return Credentials{Auth: auth, Endpoint: eo, TLS: tlsConf}, nil
	}
	if getenv("OS_AUTH_URL") == "" {
		return Credentials{}, ErrCredentials
	}
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := getenv(k); v != "" {
				return v
			}
		}
		return ""
	}
	auth := gophercloud.AuthOptions{
		IdentityEndpoint:            getenv("OS_AUTH_URL"),
		Username:                    getenv("OS_USERNAME"),
		UserID:                      first("OS_USER_ID", "OS_USERID"),
		Password:                    getenv("OS_PASSWORD"),
		DomainName:                  first("OS_USER_DOMAIN_NAME", "OS_DOMAIN_NAME"),
		DomainID:                    first("OS_USER_DOMAIN_ID", "OS_DOMAIN_ID"),
		TokenID:                     getenv("OS_TOKEN"),
		ApplicationCredentialID:     getenv("OS_APPLICATION_CREDENTIAL_ID"),
		ApplicationCredentialName:   getenv("OS_APPLICATION_CREDENTIAL_NAME"),
		ApplicationCredentialSecret: getenv("OS_APPLICATION_CREDENTIAL_SECRET"),
		AllowReauth:                 true,
	}
	if id := first("OS_PROJECT_ID", "OS_TENANT_ID"); id != "" {
		auth.Scope = &gophercloud.AuthScope{ProjectID: id}
	} else if name := first("OS_PROJECT_NAME", "OS_TENANT_NAME"); name != "" {
		auth.Scope = &gophercloud.AuthScope{ProjectName: name,
			DomainName: first("OS_PROJECT_DOMAIN_NAME", "OS_DOMAIN_NAME"), DomainID: first("OS_PROJECT_DOMAIN_ID", "OS_DOMAIN_ID")}
	}
	avail := gophercloud.AvailabilityPublic
	switch strings.TrimSuffix(getenv("OS_INTERFACE"), "URL") {
	case "internal":
		avail = gophercloud.AvailabilityInternal
	case "admin":
		avail = gophercloud.AvailabilityAdmin
	}
	return Credentials{Auth: auth, Endpoint: gophercloud.EndpointOpts{Region: getenv("OS_REGION_NAME"), Availability: avail}}, nil
}

// Config tunes the client. Zero fields take DefaultConfig's values.
type Config struct {
	// CallTimeout bounds one HTTP request to Nova.
	CallTimeout time.Duration
	// Retries is how many times a request that failed transiently (no
	// answer, a timeout, HTTP 408, 429, 5xx but 501) is sent again.
	Retries int
	// Backoff is the wait before the first retry; it doubles after each.
	Backoff time.Duration
	// PageSize is the servers list's page (Nova caps it at osapi_max_limit,
	// 1000 by default).
	PageSize int
	Log      *slog.Logger
}

// DefaultConfig: 30 s per call (longer than Nova takes to answer anything
// the executor asks; an RPC hang is rpc_response_timeout, 60 s), 3 retries
// from 1 s (1+2+4 s), pages of 1000 servers.
func DefaultConfig() Config {
	return Config{CallTimeout: 30 * time.Second, Retries: 3, Backoff: time.Second, PageSize: 1000}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.CallTimeout <= 0 {
		c.CallTimeout = d.CallTimeout
	}
	if c.Retries < 0 {
		c.Retries = 0
	}
	if c.Backoff <= 0 {
		c.Backoff = d.Backoff
	}
	if c.PageSize <= 0 {
		c.PageSize = d.PageSize
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Client is an admin compute client at a negotiated microversion. Safe for
// concurrent use.
type Client struct {
	compute *gophercloud.ServiceClient
	cfg     Config
	// max is the newest microversion the Nova API offers.
	max microversion
}

// Connect logs in and negotiates the compute API's microversion.
func Connect(ctx context.Context, cred Credentials, cfg Config) (*Client, error) {
	pc, err := providerClient(ctx, cred)
	if err != nil {
		return nil, err
	}
	sc, err := openstack.NewComputeV2(pc, cred.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("nova: compute endpoint: %w", err)
	}
	return New(ctx, sc, cfg)
}

func providerClient(ctx context.Context, cred Credentials) (*gophercloud.ProviderClient, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultConfig().CallTimeout)
	defer cancel()
	var pc *gophercloud.ProviderClient
	var err error
	if cred.TLS != nil {
		pc, err = config.NewProviderClient(ctx, cred.Auth, config.WithTLSConfig(cred.TLS))
	} else {
		pc, err = config.NewProviderClient(ctx, cred.Auth)
	}
	if err != nil {
		return nil, fmt.Errorf("nova: log in to %s: %w", cred.Auth.IdentityEndpoint, err)
	}
	return pc, nil
}

// New wraps an authenticated compute client and negotiates the
// microversion: the API must offer baseMicroversion.
func New(ctx context.Context, compute *gophercloud.ServiceClient, cfg Config) (*Client, error) {
	c := &Client{compute: compute, cfg: cfg.withDefaults()}
	var doc struct {
		Version struct {
			Version    string `json:"version"`
			MinVersion string `json:"min_version"`
		} `json:"version"`
	}
	err := c.retry(ctx, "negotiate microversion", func(ctx context.Context) error {
		_, err := c.compute.Get(ctx, c.compute.Endpoint, &doc, &gophercloud.RequestOpts{OkCodes: []int{200}})
		return err
	})
	if err != nil {
		return nil, err
	}
	max, err := parseMicroversion(doc.Version.Version)
	if err != nil {
		return nil, fmt.Errorf("nova: version document of %s: %w", c.compute.Endpoint, err)
	}
	if max.less(mustMicroversion(baseMicroversion)) {
		return nil, fmt.Errorf("%w: %s offers %s", ErrMicroversion, c.compute.Endpoint, doc.Version.Version)
	}
	c.max = max
	return c, nil
}

// Microversion is the newest compute microversion the API offers.
func (c *Client) Microversion() string { return c.max.String() }

// at is the compute client pinned to microversion mv for one call.
func (c *Client) at(mv string) *gophercloud.ServiceClient {
	sc := *c.compute
	sc.Microversion = mv
	return &sc
}

// evacuateMicroversion is the newest evacuate body vigil speaks that the
// API offers: 2.95 (stopped servers stay stopped) or the base version.
func (c *Client) evacuateMicroversion() string {
	if !c.max.less(mustMicroversion(keepStoppedMicroversion)) {
		return keepStoppedMicroversion
	}
	return baseMicroversion
}

// retry runs call with a per-call timeout, again after a transient failure,
// at most cfg.Retries more times, backing off. It returns the last error.
func (c *Client) retry(ctx context.Context, what string, call func(context.Context) error) error {
	wait := c.cfg.Backoff
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		err := call(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("nova: %s: %w", what, ctx.Err())
		}
		if !Transient(err) || attempt > c.cfg.Retries {
			return fmt.Errorf("nova: %s: %w", what, err)
		}
		c.cfg.Log.Warn("nova call failed, retrying", "call", what, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("nova: %s: %w (after %v)", what, ctx.Err(), err)
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// Transient reports whether err may go away if the same request is sent
// again: no answer in time, a connection that failed, or an HTTP status that
// says "later" (408, 429, 500, 502, 503, 504).
func Transient(err error) bool {
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		switch code.Actual {
		case 408, 429, 500, 502, 503, 504:
			return true
		}
		return false
	}
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr)
}

// microversion is a compute API microversion, 2.N.
type microversion struct{ major, minor int }

func parseMicroversion(s string) (microversion, error) {
	maj, min, ok := strings.Cut(s, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if !ok || err1 != nil || err2 != nil {
		return microversion{}, fmt.Errorf("microversion %q is not N.M", s)
	}
	return microversion{a, b}, nil
}

func mustMicroversion(s string) microversion {
	m, err := parseMicroversion(s)
	if err != nil {
		panic(err)
	}
	return m
}

func (m microversion) less(o microversion) bool {
	return m.major < o.major || m.major == o.major && m.minor < o.minor
}

func (m microversion) String() string { return fmt.Sprintf("%d.%d", m.major, m.minor) }
