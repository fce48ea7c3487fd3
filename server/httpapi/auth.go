package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Role is what a bearer token may do.
type Role int

// Roles. The zero Role is no role: an unknown token.
const (
	// ReadOnly tokens may read: GET and HEAD, which includes watches,
	// lists, events and logs. Meant for dashboards and auditors.
	ReadOnly Role = 1
	// ReadWrite tokens may do anything, as the Terraform provider must.
	ReadWrite Role = 2
)

// String returns "ro" or "rw", the prefixes of labd's token file.
func (r Role) String() string {
	switch r {
	case ReadOnly:
		return "ro"
	case ReadWrite:
		return "rw"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// MinTokenLength is the shortest token accepted: 16 characters of a random
// token are 96 bits or more, enough that guessing is hopeless.
const MinTokenLength = 16

// Token is one API bearer token and its role.
type Token struct {
	Secret string
	Role   Role
}

// CheckTokenSecret reports what is wrong with secret as a bearer token, or
// nil. Tokens are RFC 6750 b64token characters (letters, digits and
// -._~+/, then = padding), so that base64, base64url and hex tokens fit, and
// a token never holds the white space, ':' or ',' labd's token lists use as
// separators. The error never quotes the secret.
func CheckTokenSecret(secret string) error {
	if len(secret) < MinTokenLength {
		return fmt.Errorf("token is %d characters long, shorter than %d (make one with: openssl rand -hex 32)", len(secret), MinTokenLength)
	}
	if !isB64Token(secret) {
		return errors.New("token has characters other than letters, digits and -._~+/ (then = padding)")
	}
	return nil
}

func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for _, c := range []byte(body) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		default:
			return false
		}
	}
	return true
}

// Tokens is the set of bearer tokens the API accepts. It holds their
// SHA-256 digests only, so that neither a heap dump nor a stray %v shows a
// token, and so that every comparison is over equal-length values and runs
// in constant time. Set replaces the set at run time (labd does on SIGHUP);
// it is safe for concurrent use.
type Tokens struct {
	set atomic.Pointer[[]tokenDigest]
}

type tokenDigest struct {
	sum  [sha256.Size]byte
	role Role
}

// NewTokens returns the set of tokens, which must be valid (see Set).
func NewTokens(tokens []Token) (*Tokens, error) {
	t := &Tokens{}
	if err := t.Set(tokens); err != nil {
		return nil, err
	}
	return t, nil
}

// Set replaces the tokens, all at once so that no request sees half a set.
// It keeps the old set and returns an error when tokens is empty (an empty
// set would lock everyone out; to serve without tokens, start without),
// when a token is malformed (CheckTokenSecret) or has no role, or when a
// token appears twice. Errors number tokens from 1 and never quote them.
func (t *Tokens) Set(tokens []Token) error {
	if len(tokens) == 0 {
		return errors.New("no tokens")
	}
	set := make([]tokenDigest, 0, len(tokens))
	seen := make(map[[sha256.Size]byte]int, len(tokens))
	for i, tok := range tokens {
		if err := CheckTokenSecret(tok.Secret); err != nil {
			return fmt.Errorf("token %d: %w", i+1, err)
		}
		if tok.Role != ReadOnly && tok.Role != ReadWrite {
			return fmt.Errorf("token %d: role must be read-only or read-write", i+1)
		}
		sum := sha256.Sum256([]byte(tok.Secret))
		if j, dup := seen[sum]; dup {
			return fmt.Errorf("token %d: same as token %d", i+1, j)
		}
		seen[sum] = i + 1
		set = append(set, tokenDigest{sum: sum, role: tok.Role})
	}
	t.set.Store(&set)
	return nil
}

func (t *Tokens) digests() []tokenDigest {
	if p := t.set.Load(); p != nil {
		return *p
	}
	return nil
}

// Count returns how many tokens of each role there are, for start-up logs.
func (t *Tokens) Count() (readWrite, readOnly int) {
	for _, d := range t.digests() {
		if d.role == ReadWrite {
			readWrite++
		} else {
			readOnly++
		}
	}
	return readWrite, readOnly
}

// Authenticate returns the role of secret, or false when it is no token of
// the set. Its time does not depend on which token matched, nor on how
// much of a wrong one did: the presented secret is hashed, and every
// digest is compared with subtle.ConstantTimeCompare, with no early exit.
func (t *Tokens) Authenticate(secret string) (Role, bool) {
	sum := sha256.Sum256([]byte(secret))
	role := 0
	for _, d := range t.digests() {
		match := subtle.ConstantTimeCompare(sum[:], d.sum[:])
		role = subtle.ConstantTimeSelect(match, int(d.role), role)
	}
	return Role(role), role != 0
}

// authScope is what a route group guards.
type authScope int

const (
	// scopeAPI is the lab-instances collection: always guarded when
	// tokens are configured; reads need any token, writes a read-write one.
	scopeAPI authScope = iota
	// scopeMonitoring is metrics and the status details (status, leader,
	// bookmarks, finalizers): guarded only with Config.MetricsAuth, by any
	// token, since they are read-only. Health and ready are never guarded:
	// kubelets and load balancers probe them without credentials.
	scopeMonitoring
)

const realm = `Bearer realm="labd"`

// requireToken returns the middleware guarding a route group of scope. It
// is a no-op without Config.Tokens (labd then listens on loopback only,
// unless told --insecure-no-auth). It never logs the token, and its problem
// details never quote it.
func (s *Server) requireToken(scope authScope) gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.cfg.Tokens == nil || (scope == scopeMonitoring && !s.cfg.MetricsAuth) {
			c.Next()
			return
		}
		secret, problem := bearerToken(c.Request.Header)
		if problem != "" {
			challenge := realm
			if c.GetHeader("Authorization") != "" {
				challenge += `, error="invalid_request"`
			}
			c.Header("WWW-Authenticate", challenge)
			s.writeError(c, errorf(api.EUNAUTHORIZED, "%s", problem))
			return
		}
		role, ok := s.cfg.Tokens.Authenticate(secret)
		if !ok {
			c.Header("WWW-Authenticate", realm+`, error="invalid_token"`)
			s.writeError(c, errorf(api.EUNAUTHORIZED, "the bearer token is not valid"))
			return
		}
		if role != ReadWrite && !isRead(c.Request.Method) {
			c.Header("WWW-Authenticate", realm+`, error="insufficient_scope"`)
			s.writeError(c, errorf(api.EFORBIDDEN, "a read-only token may not %s %s: that needs a read-write token",
				c.Request.Method, c.Request.URL.Path))
			return
		}
		// The role (never the token) goes on the request's log lines.
		c.Set(ctxLogger, s.logger(c).With("token_role", role.String()))
		c.Set(ctxRole, role)
		c.Next()
	}
}

const ctxRole = "httpapi.role"

// requireReadWrite guards a read that hands out a secret (a lab's access
// token): a read-only token may not, though it may GET everything else.
// Without Config.Tokens there is nothing to check.
func (s *Server) requireReadWrite(c *gin.Context) {
	if s.cfg.Tokens == nil {
		c.Next()
		return
	}
	if role, _ := c.Get(ctxRole); role != ReadWrite {
		c.Header("WWW-Authenticate", realm+`, error="insufficient_scope"`)
		s.writeError(c, errorf(api.EFORBIDDEN, "%s %s hands out a lab's access token: that needs a read-write token",
			c.Request.Method, c.Request.URL.Path))
		return
	}
	c.Next()
}

// bearerToken extracts the token of an "Authorization: Bearer <token>"
// header, or says what is wrong with the header.
func bearerToken(h http.Header) (secret, problem string) {
	values := h.Values("Authorization")
	switch len(values) {
	case 0:
		return "", `this endpoint needs a bearer token: send "Authorization: Bearer <token>"`
	case 1:
	default:
		return "", "more than one Authorization header"
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", `the Authorization header must be "Bearer <token>"`
	}
	secret = strings.TrimSpace(rest)
	if secret == "" || !isB64Token(secret) {
		return "", `the Authorization header must be "Bearer <token>", the token without spaces or quotes`
	}
	return secret, ""
}

// isRead reports whether method only reads. A watch is a GET.
func isRead(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}
