package client

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RetryPolicy bounds the retries of transient failures.
//
// Which failures are retried depends on whether repeating the request is
// safe. GET, DELETE, and PUT or PATCH carrying metadata.resource_version
// are idempotent (a repeated conditional write fails with 409 instead of
// writing twice) and are retried on connection errors, 429 and 5xx other
// than 501/505. POST (create, start, stop) is retried only when the server
// surely did not act on it: the connection could not be made, or it
// answered 429 or 503, which refuse a request without processing it.
//
// A create that, after such a retry, is answered 409 already_exists is
// resolved with the request id the client puts on every create (annotation
// AnnotationRequestID): if the existing object carries our id, an earlier
// attempt created it and Create returns it; otherwise someone else owns the
// name and the 409 stands.
type RetryPolicy struct {
	// MaxAttempts counts the first try; 1 turns retries off. Default 5.
	MaxAttempts int
	// MinBackoff is the first wait; each retry doubles it. Default 200ms.
	MinBackoff time.Duration
	// MaxBackoff caps a wait. Default 5s.
	MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After honoured; a server asking
	// for longer gets its error returned instead. Default 30s.
	MaxRetryAfter time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	p.MaxAttempts = cmp.Or(p.MaxAttempts, 5)
	p.MinBackoff = cmp.Or(p.MinBackoff, 200*time.Millisecond)
	p.MaxBackoff = max(cmp.Or(p.MaxBackoff, 5*time.Second), p.MinBackoff)
	p.MaxRetryAfter = cmp.Or(p.MaxRetryAfter, 30*time.Second)
	return p
}

// backoff yields exponentially growing waits with "equal jitter": each wait
// is between half and all of min(MaxBackoff, MinBackoff*2^n), so retries
// spread out yet never come sooner than half the nominal delay.
type backoff struct{ n int }

func (b *backoff) next(p RetryPolicy) time.Duration {
	d := p.MinBackoff << min(b.n, 30)
	if d <= 0 || d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	b.n++
	half := d / 2
	return half + rand.N(half+1)
}

// Backoff returns the n-th (from 0) wait of the policy, with jitter; it is
// exported for callers that poll with the same schedule.
func (p RetryPolicy) Backoff(n int) time.Duration {
	b := backoff{n: n}
	return b.next(p.withDefaults())
}

// statusError is an HTTP error answer; do() unwraps it to the *api.Error.
type statusError struct {
	status int
	body   []byte
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

func unwrapStatus(err error) error {
	var se *statusError
	if errors.As(err, &se) {
		return se.err
	}
	return err
}

// transportError is a failure below HTTP: no answer was received.
type transportError struct {
	method, url string
	err         error
	// afterSend: the request was sent and answered, reading the body failed.
	afterSend bool
}

func (e *transportError) Error() string { return fmt.Sprintf("%s %s: %v", e.method, e.url, e.err) }
func (e *transportError) Unwrap() error { return e.err }

// notSent reports whether the request surely never reached the server: the
// connection itself could not be made.
func (e *transportError) notSent() bool {
	if e.afterSend {
		return false
	}
	var op *net.OpError
	if errors.As(e.err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	if errors.As(e.err, &dns) {
		return true
	}
	return errors.Is(e.err, syscall.ECONNREFUSED)
}

// retryable reports whether err, from one attempt of r, may be retried.
func (c *Client) retryable(r request, err error) bool {
	var te *transportError
	if errors.As(err, &te) {
		if permanentTransport(te.err) {
			return false
		}
		if te.notSent() {
			return true
		}
		return r.idempotent
	}
	var se *statusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false
	}
	return se.status >= 500 && r.idempotent
}

// permanentTransport reports failures that a retry cannot fix: a bad
// certificate or a TLS handshake with something that is not our server.
func permanentTransport(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &rh)
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, 1<<20)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
