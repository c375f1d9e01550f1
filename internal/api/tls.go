package api

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// ServerTLS is the API server's TLS configuration: the certificate and key
// read from their PEM files, TLS 1.2 at least. Errors name the file.
func ServerTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("api: tls certificate: %w", err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("api: tls key: %w", err)
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("api: tls certificate %s and key %s: %w (both PEM, the key the certificate's own)", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// LoadCA reads a PEM file of one or more CA certificates.
func LoadCA(readFile func(string) ([]byte, error), caFile string) (*x509.CertPool, error) {
	data, err := readFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("api: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("api: CA file %s holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the CA that signed the controller's certificate, or the certificate itself", caFile)
	}
	return pool, nil
}

// ClientTLS is a client's TLS configuration: it trusts the CAs of caFile,
// or the system's when caFile is "".
func ClientTLS(readFile func(string) ([]byte, error), caFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return c, nil
	}
	pool, err := LoadCA(readFile, caFile)
	if err != nil {
		return nil, err
	}
	c.RootCAs = pool
	return c, nil
}
