package api

import (
	"fmt"
	"maps"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Limits on user input.
const (
	MinDurationMinutes = 1
	MaxDurationMinutes = 480
	MaxEnvironment     = 64
	MaxEnvValueBytes   = 32 << 10
	MaxLabels          = 64
	MaxAnnotationBytes = 256 << 10
)

var (
	dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	envKeyRe     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// A qualified name as Kubernetes has it: an optional DNS subdomain
	// prefix and a name of at most 63 characters.
	labelNameRe  = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	labelValueRe = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)
	dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	finalizerRe  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)
	// imageRe is the reference grammar of distribution/reference: an
	// optional registry host[:port], a lower-case path of components, an
	// optional tag and an optional digest.
	imageRe = regexp.MustCompile(`^` +
		`(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?/)?` +
		`[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*` +
		`(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?` +
		`(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`)
)

// ValidateName checks a DNS-1123 label, the rule for names and namespaces.
func ValidateName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("is required")
	case len(s) > 63:
		return fmt.Errorf("must be at most 63 characters")
	case !dns1123Label.MatchString(s):
		return fmt.Errorf("must be a DNS-1123 label: lower-case letters, digits and '-', starting and ending with a letter or digit")
	}
	return nil
}

// ValidateImage checks a container image reference such as
// "python:3.9-alpine" or "registry.example.edu:5000/labs/java@sha256:...".
func ValidateImage(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("is required")
	case len(s) > 255+128+80:
		return fmt.Errorf("is too long")
	case !imageRe.MatchString(s):
		return fmt.Errorf("must be a container image reference like \"python:3.9-alpine\" (lower-case repository, optional :tag and @digest)")
	}
	name, _, _ := strings.Cut(s, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	if len(name) > 255 {
		return fmt.Errorf("repository name must be at most 255 characters")
	}
	return nil
}

// ValidateEmail checks a bare e-mail address (no display name).
func ValidateEmail(s string) error {
	if s == "" {
		return fmt.Errorf("is required")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > 254 {
		return fmt.Errorf("must be an e-mail address like student@university.edu")
	}
	_, domain, _ := strings.Cut(s, "@")
	if domain == "" || strings.HasPrefix(domain, "[") {
		return fmt.Errorf("must be an e-mail address like student@university.edu")
	}
	return nil
}

// ValidateDuration checks duration_minutes.
func ValidateDuration(m int) error {
	if m < MinDurationMinutes || m > MaxDurationMinutes {
		return fmt.Errorf("must be between %d and %d minutes", MinDurationMinutes, MaxDurationMinutes)
	}
	return nil
}

// ParseStartTime parses scheduled_start_time; "" means "start now".
func ParseStartTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("must be an RFC 3339 time like 2026-01-02T15:04:05Z")
	}
	return t, nil
}

// ValidateEnvName checks an environment variable name.
func ValidateEnvName(k string) error {
	if !envKeyRe.MatchString(k) {
		return fmt.Errorf("must match [A-Za-z_][A-Za-z0-9_]*")
	}
	return nil
}

// ValidateCPU checks a CPU limit: more than 0 and at most 8 cores.
func ValidateCPU(s string) error {
	m, err := ParseCPU(s)
	if err != nil {
		return err
	}
	if m <= 0 || m > MaxCPUMilli {
		return fmt.Errorf("must be more than 0 and at most %s cores", FormatCPU(MaxCPUMilli))
	}
	return nil
}

// ValidateMemory checks a memory limit.
func ValidateMemory(s string) error {
	b, err := ParseMemory(s)
	if err != nil {
		return err
	}
	if b < MinMemoryBytes || b > MaxMemoryBytes {
		return fmt.Errorf("must be between 6Mi and 64Gi")
	}
	return nil
}

// ValidateLabelKey checks a label or annotation key: [prefix/]name.
func ValidateLabelKey(k string) error {
	prefix, name, found := strings.Cut(k, "/")
	if !found {
		prefix, name = "", k
	}
	if found && (prefix == "" || len(prefix) > 253 || !dnsSubdomain.MatchString(prefix)) {
		return fmt.Errorf("prefix must be a DNS subdomain")
	}
	if name == "" || len(name) > 63 || !labelNameRe.MatchString(name) {
		return fmt.Errorf("must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, with an optional DNS-subdomain prefix and '/'")
	}
	return nil
}

// ValidateLabelValue checks a label value.
func ValidateLabelValue(v string) error {
	if len(v) > 63 || !labelValueRe.MatchString(v) {
		return fmt.Errorf("must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
	}
	return nil
}

// ValidateSpec checks every rule on a spec; field paths start at "spec".
func ValidateSpec(s *Spec) FieldErrors {
	var fe FieldErrors
	check := func(field string, err error) {
		if err != nil {
			fe.Add(field, "%s", err.Error())
		}
	}
	check("spec.lab_template", ValidateImage(s.LabTemplate))
	check("spec.student_email", ValidateEmail(s.StudentEmail))
	check("spec.duration_minutes", ValidateDuration(s.DurationMinutes))
	_, err := ParseStartTime(s.ScheduledStartTime)
	check("spec.scheduled_start_time", err)
	if len(s.Environment) > MaxEnvironment {
		fe.Add("spec.environment", "must have at most %d entries", MaxEnvironment)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
		check("spec.environment["+k+"]", ValidateEnvName(k))
		if len(s.Environment[k]) > MaxEnvValueBytes {
			fe.Add("spec.environment["+k+"]", "value must be at most %d bytes", MaxEnvValueBytes)
		}
		if strings.ContainsRune(s.Environment[k], 0) {
			fe.Add("spec.environment["+k+"]", "value must not contain NUL")
		}
	}
	if rl := s.ResourceLimits; rl != nil {
		check("spec.resource_limits.cpu", ValidateCPU(rl.CPU))
		check("spec.resource_limits.memory", ValidateMemory(rl.Memory))
	}
	validateWorkload(s, &fe)
	return fe
}

// ValidateMeta checks the user-writable parts of metadata.
func ValidateMeta(m *ObjectMeta) FieldErrors {
	var fe FieldErrors
	if err := ValidateName(m.Name); err != nil {
		fe.Add("metadata.name", "%s", err)
	}
	if err := ValidateName(m.Namespace); err != nil {
		fe.Add("metadata.namespace", "%s", err)
	}
	if len(m.Labels) > MaxLabels {
		fe.Add("metadata.labels", "must have at most %d entries", MaxLabels)
	}
	for _, k := range slices.Sorted(maps.Keys(m.Labels)) {
		if err := ValidateLabelKey(k); err != nil {
			fe.Add("metadata.labels["+k+"]", "key %s", err)
		}
		if err := ValidateLabelValue(m.Labels[k]); err != nil {
			fe.Add("metadata.labels["+k+"]", "value %s", err)
		}
	}
	size := 0
	for _, k := range slices.Sorted(maps.Keys(m.Annotations)) {
		if err := ValidateLabelKey(k); err != nil {
			fe.Add("metadata.annotations["+k+"]", "key %s", err)
		}
		size += len(k) + len(m.Annotations[k])
	}
	if size > MaxAnnotationBytes {
		fe.Add("metadata.annotations", "must total at most %d bytes", MaxAnnotationBytes)
	}
	seen := map[string]bool{}
	for i, f := range m.Finalizers {
		field := fmt.Sprintf("metadata.finalizers[%d]", i)
		if len(f) > 316 || !finalizerRe.MatchString(f) {
			fe.Add(field, "must be a qualified name like %s", Finalizer)
		}
		if seen[f] {
			fe.Add(field, "duplicate finalizer %q", f)
		}
		seen[f] = true
	}
	return fe
}

// ValidateCreate checks a new object after Default.
func ValidateCreate(l *LabInstanceRequest) error {
	fe := ValidateMeta(&l.Metadata)
	fe = append(fe, ValidateSpec(&l.Spec)...)
	fe = append(fe, validateTypeMeta(l)...)
	if l.Metadata.DeletionTimestamp != nil {
		fe.Add("metadata.deletion_timestamp", "is set by the server on delete")
	}
	return fe.Err()
}

// ValidateTypeMeta checks api_version and kind, which a body may leave out
// but not get wrong.
func ValidateTypeMeta(l *LabInstanceRequest) error { return validateTypeMeta(l).Err() }

func validateTypeMeta(l *LabInstanceRequest) FieldErrors {
	var fe FieldErrors
	if l.APIVersion != "" && l.APIVersion != APIVersion {
		fe.Add("api_version", "must be %s", APIVersion)
	}
	if l.Kind != "" && l.Kind != Kind {
		fe.Add("kind", "must be %s", Kind)
	}
	return fe
}

// ValidateUpdate checks a user's change of old into l: the rules of
// ValidateCreate plus what may not change after creation.
func ValidateUpdate(old, l *LabInstanceRequest) error {
	fe := ValidateMeta(&l.Metadata)
	fe = append(fe, ValidateSpec(&l.Spec)...)
	o, n := &old.Spec, &l.Spec
	immutable := func(field string, changed bool) {
		if changed {
			fe.Add(field, "is immutable after creation; replace the lab to change it")
		}
	}
	immutable("metadata.name", old.Metadata.Name != l.Metadata.Name)
	immutable("metadata.namespace", old.Metadata.Namespace != l.Metadata.Namespace)
	immutable("metadata.uid", l.Metadata.UID != "" && old.Metadata.UID != l.Metadata.UID)
	immutable("spec.lab_template", o.LabTemplate != n.LabTemplate)
	immutable("spec.student_email", o.StudentEmail != n.StudentEmail)
	immutable("spec.environment", !maps.Equal(o.Environment, n.Environment))
	immutable("spec.resource_limits", !limitsEqual(o.ResourceLimits, n.ResourceLimits))
	for _, c := range immutableWorkload(o, n) {
		immutable(c.field, c.changed)
	}
	if o.ScheduledStartTime != n.ScheduledStartTime && old.Status.Phase != PhasePending && old.Status.Phase != "" {
		fe.Add("spec.scheduled_start_time", "can only change while the lab is PENDING (it is %s)", old.Status.Phase)
	}
	if old.Metadata.DeletionTimestamp != nil {
		for _, f := range l.Metadata.Finalizers {
			if !old.Metadata.HasFinalizer(f) {
				fe.Add("metadata.finalizers", "the lab is being deleted: finalizers can only be removed")
				break
			}
		}
		if l.Metadata.DeletionTimestamp == nil || !l.Metadata.DeletionTimestamp.Equal(*old.Metadata.DeletionTimestamp) {
			fe.Add("metadata.deletion_timestamp", "is set by the server on delete")
		}
		if !SpecEqual(o, n) {
			fe.Add("spec", "the lab is being deleted: only finalizers can be removed")
		}
	} else if l.Metadata.DeletionTimestamp != nil {
		fe.Add("metadata.deletion_timestamp", "is set by the server on delete")
	}
	return fe.Err()
}

func limitsEqual(a, b *ResourceLimits) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// SpecEqual reports whether two specs are the same desired state; the
// server bumps generation exactly when this is false. Forms that mean the
// same compare equal: nil and empty maps and lists, no security_context and
// an empty one, and absent resource_requests and the defaults they stand
// for (see Spec.EffectiveRequests).
func SpecEqual(a, b *Spec) bool {
	return a.LabTemplate == b.LabTemplate && a.StudentEmail == b.StudentEmail &&
		a.DurationMinutes == b.DurationMinutes && a.ScheduledStartTime == b.ScheduledStartTime &&
		maps.Equal(a.Environment, b.Environment) && limitsEqual(a.ResourceLimits, b.ResourceLimits) &&
		workloadEqual(a, b)
}

// ParseLabelSelector parses "k=v,k2=v2" (equality terms only).
func ParseLabelSelector(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, term := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(term), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		v = strings.TrimPrefix(v, "=") // accept k==v
		if !ok {
			return nil, fmt.Errorf("term %q: want key=value", term)
		}
		if err := ValidateLabelKey(k); err != nil {
			return nil, fmt.Errorf("term %q: key %v", term, err)
		}
		if err := ValidateLabelValue(v); err != nil {
			return nil, fmt.Errorf("term %q: value %v", term, err)
		}
		if prev, dup := out[k]; dup && prev != v {
			return nil, fmt.Errorf("term %q: key %q given twice", term, k)
		}
		out[k] = v
	}
	return out, nil
}
