package api

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"time"
)

// ApplyReplace applies a replace (PUT) of cur by in. in's spec, labels and
// annotations replace cur's, its finalizers too when it has the field (nil
// keeps cur's, so that a client unaware of finalizers cannot drop the
// controller's); resource_limits and resource_requests left out are
// defaulted as on create (requests by applyUpdate).
// in's status and the metadata the server owns are ignored, except that a
// different uid is an error. cur changes only when the replace is valid
// (see ValidateUpdate), and a replace with what is stored leaves cur as it
// was, so that it writes nothing.
func ApplyReplace(cur, in *LabInstanceRequest) error {
	next := cur.DeepCopy()
	src := in.DeepCopy()
	next.Spec = src.Spec
	next.Spec.defaultLimits()
	next.Metadata.Labels = src.Metadata.Labels
	next.Metadata.Annotations = src.Metadata.Annotations
	if src.Metadata.Finalizers != nil {
		next.Metadata.Finalizers = src.Metadata.Finalizers
	}
	if src.Metadata.UID != "" {
		next.Metadata.UID = src.Metadata.UID // a mismatch is reported by ValidateUpdate
	}
	return applyUpdate(cur, next)
}

// PrepareMergePatch checks what a JSON merge patch (RFC 7396) of a lab may
// hold before it meets the stored lab: status is the controller's. It takes
// out metadata.resource_version, which makes the patch conditional, and
// returns it (0 when absent).
//
// patch is the decoded JSON object; numbers may be int64, float64 or
// json.Number.
func PrepareMergePatch(patch map[string]any) (version int64, err error) {
	if _, ok := patch["status"]; ok {
		return 0, fieldError(EINVALID, "status", "is read-only: it is written by the controller")
	}
	meta, ok := patch["metadata"].(map[string]any)
	if !ok {
		return 0, nil
	}
	raw, ok := meta["resource_version"]
	if !ok {
		return 0, nil
	}
	delete(meta, "resource_version")
	if raw == nil {
		return 0, nil
	}
	if v, ok := wholeNumber(raw); ok && v > 0 {
		return v, nil
	}
	return 0, fieldError(EBADREQUEST, "metadata.resource_version", "must be a positive integer")
}

func wholeNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int64(n), true
		}
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	}
	return 0, false
}

// ApplyMergePatch applies a JSON merge patch, prepared by PrepareMergePatch,
// to the JSON form of cur's {api_version, kind, metadata, spec}. Fields the
// server owns may appear in the patch only with their current values. As
// with ApplyReplace, cur changes only when the result is a valid update.
//
// The patch's field names and value types are expected to have been checked
// against LabInstanceRequest when it was decoded (as labd's codec does), so
// that every problem in it is reported at once, by its path.
func ApplyMergePatch(cur *LabInstanceRequest, patch map[string]any) error {
	next, err := mergeLab(cur, patch)
	if err != nil {
		return err
	}
	return applyUpdate(cur, next)
}

func mergeLab(cur *LabInstanceRequest, patch map[string]any) (*LabInstanceRequest, error) {
	view := cur.DeepCopy()
	view.Status = Status{}
	b, err := json.Marshal(view)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var doc any
	if err := d.Decode(&doc); err != nil {
		return nil, err
	}
	merged, ok := mergePatch(doc, patch).(map[string]any)
	if !ok {
		return nil, Errorf(EBADREQUEST, "a merge patch must be an object")
	}
	delete(merged, "status")
	if b, err = json.Marshal(merged); err != nil {
		return nil, err
	}
	var next LabInstanceRequest
	d = json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&next); err != nil {
		return nil, Errorf(EBADREQUEST, "cannot apply the merge patch: %v", err)
	}
	var fe FieldErrors
	m, om := &next.Metadata, &cur.Metadata
	if m.Generation != om.Generation {
		fe.Add("metadata.generation", "is set by the server")
	}
	if !timeEqual(m.CreationTimestamp, om.CreationTimestamp) {
		fe.Add("metadata.creation_timestamp", "is set by the server")
	}
	if next.APIVersion != APIVersion {
		fe.Add("api_version", "must be %s", APIVersion)
	}
	if next.Kind != Kind {
		fe.Add("kind", "must be %s", Kind)
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	return &next, nil
}

// mergePatch applies an RFC 7396 merge patch to target: objects merge
// recursively, null deletes, anything else replaces. Values of patch are
// shared, not copied; target's maps are changed in place.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

// applyUpdate checks a user's change of cur into next and applies it to
// cur. The store runs it inside its write transaction, against the locked
// current version, so the immutability rules see what is really stored.
// The server's own fields, and the stored form of values equal to the
// stored ones (nil vs. empty), are kept, so that a no-op writes nothing.
//
// resource_requests, or an amount of them, left out of next are defaulted,
// for a replace and a merge patch alike; a lab stored without requests (see
// Spec.EffectiveRequests) keeps none.
func applyUpdate(cur, next *LabInstanceRequest) error {
	next.Spec.defaultRequests()
	if err := ValidateUpdate(cur, next); err != nil {
		return err
	}
	m, om := &next.Metadata, &cur.Metadata
	m.UID, m.ResourceVersion, m.Generation = om.UID, om.ResourceVersion, om.Generation
	m.CreationTimestamp, m.DeletionTimestamp = om.CreationTimestamp, om.DeletionTimestamp
	m.Labels = sameMap(om.Labels, m.Labels)
	m.Annotations = sameMap(om.Annotations, m.Annotations)
	if slices.Equal(om.Finalizers, m.Finalizers) || len(m.Finalizers) == 0 && len(om.Finalizers) == 0 {
		m.Finalizers = om.Finalizers
	}
	if len(m.Finalizers) == 0 {
		m.Finalizers = nil
	}
	next.Spec.Environment = sameMap(cur.Spec.Environment, next.Spec.Environment)
	keepStoredWorkload(&cur.Spec, &next.Spec)
	next.APIVersion, next.Kind = APIVersion, Kind
	next.Status = cur.Status
	*cur = *next
	return nil
}

// sameMap returns old when it holds what m holds, else m (nil if empty).
func sameMap(old, m StringMap) StringMap {
	if maps.Equal(old, m) {
		return old
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func timeEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// fieldError is an *Error naming one field.
func fieldError(code, field, message string) *Error {
	return &Error{Code: code, Fields: []FieldError{{Field: field, Message: message}}}
}
