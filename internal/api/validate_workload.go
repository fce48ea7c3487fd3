package api

import (
	"fmt"
	"math"
	"net/url"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Rules on the fields that shape a lab's workload beyond its image:
// resource_requests, workspace, command, args, port, readiness_path,
// idle_timeout_minutes and security_context. Each is a pure function that
// the server (ValidateSpec) and the provider's plan-time validators share.

// Limits on the workload fields.
const (
	MaxArgs               = 64        // entries of command, and of args
	MaxArgBytes           = 4096      // bytes of one entry of command or args
	MaxMountPathBytes     = 4096      // bytes of workspace.mount_path (Linux's PATH_MAX)
	MaxReadinessPathBytes = 1024      // bytes of readiness_path
	MaxPort               = 65535     // port
	MaxRunAsUser          = 1<<31 - 1 // security_context.run_as_user
)

// reservedMounts are the kernel's file systems in a container: a workspace
// mounted there would hide them or expose the host's.
var reservedMounts = []string{"/proc", "/sys", "/dev"}

// ValidateRequestCPU checks a CPU request: a CPU amount from 0 (no
// guarantee) to 8 cores. That it is at most the limit is
// CheckRequestsWithinLimits' rule.
func ValidateRequestCPU(s string) error {
	m, err := ParseCPU(s)
	if err != nil {
		return err
	}
	if m > MaxCPUMilli {
		return fmt.Errorf("must be at most %s cores", FormatCPU(MaxCPUMilli))
	}
	return nil
}

// ValidateRequestMemory checks a memory request: from 0 (no guarantee) to
// 64Gi.
func ValidateRequestMemory(s string) error {
	b, err := ParseMemory(s)
	if err != nil {
		return err
	}
	if b > MaxMemoryBytes {
		return fmt.Errorf("must be at most 64Gi")
	}
	return nil
}

// CheckRequestsWithinLimits reports each request above its limit, on the
// request's field. Amounts that do not parse are left to their own checks.
func CheckRequestsWithinLimits(req ResourceRequests, lim ResourceLimits) FieldErrors {
	var fe FieldErrors
	if r, err := ParseCPU(req.CPU); err == nil {
		if l, err := ParseCPU(lim.CPU); err == nil && r > l {
			fe.Add("spec.resource_requests.cpu", "must be at most the CPU limit, resource_limits.cpu = %q", lim.CPU)
		}
	}
	if r, err := ParseMemory(req.Memory); err == nil {
		if l, err := ParseMemory(lim.Memory); err == nil && r > l {
			fe.Add("spec.resource_requests.memory", "must be at most the memory limit, resource_limits.memory = %q", lim.Memory)
		}
	}
	return fe
}

// ValidateMountPath checks workspace.mount_path: an absolute, clean path
// (as path.Clean leaves it), not "/" and not in the kernel's file systems.
func ValidateMountPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("is required")
	case len(p) > MaxMountPathBytes:
		return fmt.Errorf("must be at most %d bytes", MaxMountPathBytes)
	case !utf8.ValidString(p):
		return fmt.Errorf("must be valid UTF-8")
	case strings.ContainsFunc(p, unicode.IsControl):
		return fmt.Errorf("must not contain NUL or other control characters")
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("must be an absolute path like /home/student")
	case slices.Contains(strings.Split(p, "/"), ".."):
		return fmt.Errorf("must not contain a \"..\" element")
	case p == "/":
		return fmt.Errorf("must not be /")
	case path.Clean(p) != p:
		return fmt.Errorf("must be a clean path, without \".\" elements or repeated or trailing '/' (%s)", path.Clean(p))
	}
	for _, r := range reservedMounts {
		if p == r || strings.HasPrefix(p, r+"/") {
			return fmt.Errorf("must not be %s or below it", r)
		}
	}
	return nil
}

// validateArgv checks command or args: at most MaxArgs entries of at most
// MaxArgBytes bytes, no NUL (the kernel's argv cannot hold one), and, for
// command, no empty entry (an empty program name).
func validateArgv(fe *FieldErrors, field string, argv []string, command bool) {
	if len(argv) > MaxArgs {
		fe.Add(field, "must have at most %d entries", MaxArgs)
	}
	for i, a := range argv {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case command && a == "":
			fe.Add(f, "must not be empty")
		case len(a) > MaxArgBytes:
			fe.Add(f, "must be at most %d bytes", MaxArgBytes)
		case strings.ContainsRune(a, 0):
			fe.Add(f, "must not contain NUL")
		}
	}
}

// ValidateCommand checks spec.command; errors name spec.command or an
// entry, spec.command[i].
func ValidateCommand(argv []string) FieldErrors {
	var fe FieldErrors
	validateArgv(&fe, "spec.command", argv, true)
	return fe
}

// ValidateArgs checks spec.args; errors name spec.args or an entry.
func ValidateArgs(argv []string) FieldErrors {
	var fe FieldErrors
	validateArgv(&fe, "spec.args", argv, false)
	return fe
}

// ValidatePort checks port: 0 (the image's only exposed port, or none) or
// a TCP port.
func ValidatePort(p int) error {
	if p < 0 || p > MaxPort {
		return fmt.Errorf("must be between 1 and %d, or 0 for the image's only exposed port", MaxPort)
	}
	return nil
}

// ValidateReadinessPath checks readiness_path: "" (a TCP connect is enough)
// or the path, and optional query, of a URL on the lab's app.
func ValidateReadinessPath(p string) error {
	if p == "" {
		return nil
	}
	switch {
	case len(p) > MaxReadinessPathBytes:
		return fmt.Errorf("must be at most %d bytes", MaxReadinessPathBytes)
	case !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//"):
		return fmt.Errorf("must be a path starting with a single '/', like /healthz")
	case !utf8.ValidString(p):
		return fmt.Errorf("must be valid UTF-8")
	case strings.ContainsFunc(p, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return fmt.Errorf("must not contain white space or control characters (escape them, like %%20)")
	case strings.Contains(p, "#"):
		return fmt.Errorf("must not have a fragment (#...)")
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return fmt.Errorf("must be a URL path like /healthz, without scheme or host, with valid %%-escapes")
	}
	return nil
}

// ValidateIdleTimeout checks idle_timeout_minutes: 0 (never) up to the
// longest duration.
func ValidateIdleTimeout(m int) error {
	if m < 0 || m > MaxDurationMinutes {
		return fmt.Errorf("must be between 0 (never) and %d minutes", MaxDurationMinutes)
	}
	return nil
}

// ValidateRunAsUser checks security_context.run_as_user: a non-negative
// 32-bit user id.
func ValidateRunAsUser(uid int64) error {
	if uid < 0 || uid > MaxRunAsUser {
		return fmt.Errorf("must be between 0 and %d", MaxRunAsUser)
	}
	return nil
}

// validateWorkload adds the workload fields' errors to fe.
func validateWorkload(s *Spec, fe *FieldErrors) {
	check := func(field string, err error) {
		if err != nil {
			fe.Add(field, "%s", err.Error())
		}
	}
	if s.ResourceRequests != nil {
		rr := s.EffectiveRequests() // an amount left out is defaulted
		check("spec.resource_requests.cpu", ValidateRequestCPU(rr.CPU))
		check("spec.resource_requests.memory", ValidateRequestMemory(rr.Memory))
		*fe = append(*fe, CheckRequestsWithinLimits(rr, s.EffectiveLimits())...)
	}
	if ws := s.Workspace; ws != nil {
		check("spec.workspace.mount_path", ValidateMountPath(ws.MountPath))
	}
	validateArgv(fe, "spec.command", s.Command, true)
	validateArgv(fe, "spec.args", s.Args, false)
	check("spec.port", ValidatePort(s.Port))
	check("spec.readiness_path", ValidateReadinessPath(s.ReadinessPath))
	check("spec.idle_timeout_minutes", ValidateIdleTimeout(s.IdleTimeoutMinutes))
	if sc := s.SecurityContext; sc != nil && sc.RunAsUser != nil {
		check("spec.security_context.run_as_user", ValidateRunAsUser(*sc.RunAsUser))
	}
}

// fieldChange says whether one field differs between two specs.
type fieldChange struct {
	field   string
	changed bool
}

// immutableWorkload says, field by field, which immutable workload fields
// differ between o and n, in a fixed order. idle_timeout_minutes, the one
// that may change, is not among them.
func immutableWorkload(o, n *Spec) []fieldChange {
	return []fieldChange{
		{"spec.resource_requests", o.EffectiveRequests() != n.EffectiveRequests()},
		{"spec.workspace", !workspaceEqual(o.Workspace, n.Workspace)},
		{"spec.command", !slices.Equal(o.Command, n.Command)},
		{"spec.args", !slices.Equal(o.Args, n.Args)},
		{"spec.port", o.Port != n.Port},
		{"spec.readiness_path", o.ReadinessPath != n.ReadinessPath},
		{"spec.security_context", !securityEqual(o.SecurityContext, n.SecurityContext)},
	}
}

// workloadEqual reports whether the workload fields of a and b are the same
// desired state.
func workloadEqual(a, b *Spec) bool {
	for _, c := range immutableWorkload(a, b) {
		if c.changed {
			return false
		}
	}
	return a.IdleTimeoutMinutes == b.IdleTimeoutMinutes
}

// keepStoredWorkload makes next's workload fields share the stored form of
// cur's where they mean the same (nil vs. empty lists, an empty security
// context vs. none, requests left out of a replace of an older lab), so
// that a no-op update writes nothing.
func keepStoredWorkload(cur, next *Spec) {
	if cur.EffectiveRequests() == next.EffectiveRequests() {
		next.ResourceRequests = cur.ResourceRequests
	}
	if slices.Equal(cur.Command, next.Command) {
		next.Command = cur.Command
	}
	if slices.Equal(cur.Args, next.Args) {
		next.Args = cur.Args
	}
	if securityEqual(cur.SecurityContext, next.SecurityContext) {
		next.SecurityContext = cur.SecurityContext
	}
}

func workspaceEqual(a, b *Workspace) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// securityEqual compares security contexts by meaning: none is the same as
// an empty one.
func securityEqual(a, b *SecurityContext) bool {
	var x, y SecurityContext
	if a != nil {
		x = *a
	}
	if b != nil {
		y = *b
	}
	uid := func(p *int64) int64 {
		if p == nil {
			return math.MinInt64
		}
		return *p
	}
	return uid(x.RunAsUser) == uid(y.RunAsUser) && x.ReadOnlyRootFilesystem == y.ReadOnlyRootFilesystem
}
