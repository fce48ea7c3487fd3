package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
)

// certificate holds the serving certificate, read from files and read
// again by Reload, which a running server picks up at its next handshake
// (tls.Config.GetCertificate): a renewed certificate needs no restart.
type certificate struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

func loadCertificate(certFile, keyFile string) (*certificate, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("TLS needs both a certificate file and a key file")
	}
	c := &certificate{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again; on error the certificate in use stays.
func (c *certificate) Reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cert.Store(&cert)
	return nil
}

func (c *certificate) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cert.Load(), nil }

// tlsConfig serves the certificate, TLS 1.2 at least.
func (c *certificate) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.get}
}

// ReloadTLS reads the TLS certificate and key files again (labd does on
// SIGHUP); new connections use them. On error the old ones stay. An error
// when the server serves no TLS.
func (s *Server) ReloadTLS() error {
	if s.cert == nil {
		return errors.New("labd serves no TLS")
	}
	return s.cert.Reload()
}

// TLS reports whether the server serves HTTPS.
func (s *Server) TLS() bool { return s.cert != nil }
