package api

import "cmp"

// Default fills in what a create may leave out: api_version and kind, the
// namespace, resource_limits and resource_requests. Values given are kept,
// so that a wrong api_version or kind is reported by ValidateCreate, not
// overwritten.
func (l *LabInstanceRequest) Default() {
	l.APIVersion, l.Kind = cmp.Or(l.APIVersion, APIVersion), cmp.Or(l.Kind, Kind)
	l.Metadata.Namespace = cmp.Or(l.Metadata.Namespace, DefaultNamespace)
	l.Spec.defaultLimits()
	l.Spec.defaultRequests()
}

// defaultLimits gives a spec without resource_limits the default ones, on
// create and on a replace that leaves them out alike, so that a replace
// without them is not a change of immutable limits.
func (s *Spec) defaultLimits() {
	if s.ResourceLimits == nil {
		s.ResourceLimits = &ResourceLimits{CPU: DefaultCPU, Memory: DefaultMemory}
	}
}

// defaultRequests gives a spec without resource_requests, or without one
// of their amounts, the default ones under its limits, on create and on
// every update alike (after defaultLimits).
func (s *Spec) defaultRequests() {
	r := s.EffectiveRequests()
	s.ResourceRequests = &r
}

// DefaultRequests is what a lab with these limits reserves when it names no
// resource_requests: DefaultRequestCPU and DefaultRequestMemory, each
// replaced by the limit, as the user spelled it, where the limit is smaller.
// A limit that does not parse leaves the default (validation reports it).
func DefaultRequests(limits ResourceLimits) ResourceRequests {
	r := ResourceRequests{CPU: DefaultRequestCPU, Memory: DefaultRequestMemory}
	if m, err := ParseCPU(limits.CPU); err == nil && m < defaultRequestMilliCPU {
		r.CPU = limits.CPU
	}
	if b, err := ParseMemory(limits.Memory); err == nil && b < defaultRequestBytes {
		r.Memory = limits.Memory
	}
	return r
}

// EffectiveLimits is what caps the lab's workload: resource_limits, or the
// defaults when a stored lab has none.
func (s *Spec) EffectiveLimits() ResourceLimits {
	if s.ResourceLimits != nil {
		return *s.ResourceLimits
	}
	return ResourceLimits{CPU: DefaultCPU, Memory: DefaultMemory}
}

// EffectiveRequests is what admission reserves for the lab: its
// resource_requests, with DefaultRequests under its limits for an amount
// left out (""), or for all of them when it has none. Create and update
// default requests, so a stored lab has them unless it was stored before
// requests existed; such a lab reserves the defaults. Immutability and
// SpecEqual compare these values, so that leaving requests out of an
// update is not a change.
func (s *Spec) EffectiveRequests() ResourceRequests {
	def := DefaultRequests(s.EffectiveLimits())
	if s.ResourceRequests == nil {
		return def
	}
	return ResourceRequests{CPU: cmp.Or(s.ResourceRequests.CPU, def.CPU), Memory: cmp.Or(s.ResourceRequests.Memory, def.Memory)}
}

// PrepareCreate makes l a lab ready to be stored: the fields the server owns
// (uid, resource_version, generation, creation_timestamp, status) are
// cleared, so that a manifest read from the API can be posted again; what a
// create may leave out is defaulted; and the result is validated. It is
// idempotent. The API calls it on the request, to refuse bad input before
// any store work, and the store calls it again on what it stores, so that no
// caller of the store (the controller, a test) can skip it.
func PrepareCreate(l *LabInstanceRequest) error {
	m := &l.Metadata
	m.UID, m.ResourceVersion, m.Generation, m.CreationTimestamp = "", 0, 0, nil
	l.Status = Status{}
	l.Default()
	return ValidateCreate(l)
}
