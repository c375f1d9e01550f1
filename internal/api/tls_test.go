package api_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/api"
	"github.com/vigil-ha/vigil/internal/api/apitest"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir, and returns their paths.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "vigil controller (test)"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLSRoundTrip(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	conf, err := api.ServerTLS(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	b := apitest.New("ctl1", testHosts()...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := api.NewServer(ln.Addr().String(), api.Handler(b, testTokens(t), slog.New(slog.DiscardHandler)), conf, slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- server.ServeTLS(ln, "", "") }()
	defer func() {
		if err := server.Close(); err != nil {
			t.Error(err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
	url := "https://" + ln.Addr().String()

	ctx := context.Background()
	cc, err := api.ClientTLS(os.ReadFile, certFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := api.NewClient(url, readerTok, cc)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(ctx); err != nil || len(st.Hosts) != 2 {
		t.Fatalf("status over TLS: %+v, %v", st, err)
	}

	// Without the CA the client trusts only the system's: it refuses.
	cc, err = api.ClientTLS(os.ReadFile, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err = api.NewClient(url, readerTok, cc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Health(ctx)
	var unknown x509.UnknownAuthorityError
	if !errors.Is(err, api.ErrUnreachable) || !errors.As(err, &unknown) {
		t.Errorf("without the CA: %v; want ErrUnreachable and an unknown authority", err)
	}
	if conf.MinVersion < tls.VersionTLS12 {
		t.Errorf("server admits TLS older than 1.2")
	}
}

func TestTLSErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	otherCert, _ := selfSigned(t, t.TempDir())
	_, otherKey := selfSigned(t, t.TempDir())
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  func() error
		want []string
	}{
		{"no cert", func() error { _, err := api.ServerTLS(filepath.Join(dir, "nope.crt"), keyFile); return err }, []string{"nope.crt"}},
		{"no key", func() error { _, err := api.ServerTLS(certFile, filepath.Join(dir, "nope.key")); return err }, []string{"nope.key"}},
		{"not a pair", func() error { _, err := api.ServerTLS(otherCert, otherKey); return err }, []string{otherCert, otherKey, "the key the certificate's own"}},
		{"garbage CA", func() error { _, err := api.ClientTLS(os.ReadFile, garbage); return err }, []string{garbage, "holds no PEM certificate"}},
		{"no CA", func() error { _, err := api.ClientTLS(os.ReadFile, filepath.Join(dir, "ca.pem")); return err }, []string{"ca.pem"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want it to name %q", err, w)
				}
			}
		})
	}
}
