package api

import "cmp"

// Default fills in what a create may leave out: api_version and kind, the
// namespace, resource_limits. Values given are kept, so that a wrong
// api_version or kind is reported by ValidateCreate, not overwritten.
func (l *LabInstanceRequest) Default() {
	l.APIVersion, l.Kind = cmp.Or(l.APIVersion, APIVersion), cmp.Or(l.Kind, Kind)
	l.Metadata.Namespace = cmp.Or(l.Metadata.Namespace, DefaultNamespace)
	l.Spec.defaultLimits()
}

// defaultLimits gives a spec without resource_limits the default ones, on
// create and on a replace that leaves them out alike, so that a replace
// without them is not a change of immutable limits.
func (s *Spec) defaultLimits() {
	if s.ResourceLimits == nil {
		s.ResourceLimits = &ResourceLimits{CPU: DefaultCPU, Memory: DefaultMemory}
	}
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
