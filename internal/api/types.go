package api

import (
	"encoding/xml"
	"time"
)

// Identifiers fixed by the API group.
const (
	APIVersion = "lab.labrm.io/v1"
	Kind       = "LabInstanceRequest"
	ListKind   = "LabInstanceRequestList"

	// Finalizer is the controller's finalizer: while present, a deleted lab
	// keeps its row until its container is gone and its allocation released.
	Finalizer = "lab-instance-controller.labrm.io"

	// DefaultNamespace is used when a request names none.
	DefaultNamespace = "default"
)

// Key names a lab within the API: namespace and name are unique together.
type Key struct {
	Namespace string `json:"namespace" xml:"namespace"`
	Name      string `json:"name" xml:"name"`
}

// String renders the key as "namespace/name", the form used as Terraform id,
// CloudEvents subject and work-queue key.
func (k Key) String() string { return k.Namespace + "/" + k.Name }

// LabInstanceRequest asks for one lab container for one student.
type LabInstanceRequest struct {
	XMLName    xml.Name   `json:"-" xml:"LabInstanceRequest"`
	APIVersion string     `json:"api_version" xml:"api_version"`
	Kind       string     `json:"kind" xml:"kind"`
	Metadata   ObjectMeta `json:"metadata" xml:"metadata"`
	Spec       Spec       `json:"spec" xml:"spec"`
	Status     Status     `json:"status" xml:"status"`
}

// Key returns the object's namespace and name.
func (l *LabInstanceRequest) Key() Key {
	return Key{Namespace: l.Metadata.Namespace, Name: l.Metadata.Name}
}

// DeepCopy returns a copy that shares no maps or slices with l, so a
// mutation function can be retried on a fresh copy after a conflict.
func (l *LabInstanceRequest) DeepCopy() *LabInstanceRequest {
	if l == nil {
		return nil
	}
	c := *l
	c.Metadata.Labels = l.Metadata.Labels.Clone()
	c.Metadata.Annotations = l.Metadata.Annotations.Clone()
	c.Metadata.Finalizers = cloneSlice(l.Metadata.Finalizers)
	c.Metadata.CreationTimestamp = cloneTime(l.Metadata.CreationTimestamp)
	c.Metadata.DeletionTimestamp = cloneTime(l.Metadata.DeletionTimestamp)
	c.Spec.Environment = l.Spec.Environment.Clone()
	c.Spec.ResourceLimits = clonePtr(l.Spec.ResourceLimits)
	c.Spec.ResourceRequests = clonePtr(l.Spec.ResourceRequests)
	c.Spec.Workspace = clonePtr(l.Spec.Workspace)
	c.Spec.Command = cloneSlice(l.Spec.Command)
	c.Spec.Args = cloneSlice(l.Spec.Args)
	if sc := l.Spec.SecurityContext; sc != nil {
		c.Spec.SecurityContext = &SecurityContext{RunAsUser: clonePtr(sc.RunAsUser), ReadOnlyRootFilesystem: sc.ReadOnlyRootFilesystem}
	}
	c.Status.LastActivity = cloneTime(l.Status.LastActivity)
	c.Status.Conditions = cloneSlice(l.Status.Conditions)
	c.Status.Transitions = cloneSlice(l.Status.Transitions)
	c.Status.StartedAt = cloneTime(l.Status.StartedAt)
	c.Status.CompletedAt = cloneTime(l.Status.CompletedAt)
	c.Status.ResourceAllocation = l.Status.ResourceAllocation.Clone()
	return &c
}

func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

func cloneTime(t *time.Time) *time.Time { return clonePtr(t) }

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

// ObjectMeta identifies and versions an object.
type ObjectMeta struct {
	Name      string `json:"name" xml:"name"`
	Namespace string `json:"namespace" xml:"namespace"`
	UID       string `json:"uid,omitempty" xml:"uid,omitempty"`
	// ResourceVersion changes on every write; a write that carries it only
	// succeeds against that exact version (optimistic locking). It is also a
	// position in the change log: watching from it yields later changes.
	ResourceVersion int64 `json:"resource_version,omitempty" xml:"resource_version,omitempty"`
	// Generation counts changes of spec only; status.observed_generation
	// tells whether the controller has acted on the latest one.
	Generation        int64      `json:"generation,omitempty" xml:"generation,omitempty"`
	Labels            StringMap  `json:"labels,omitempty" xml:"labels,omitempty"`
	Annotations       StringMap  `json:"annotations,omitempty" xml:"annotations,omitempty"`
	Finalizers        []string   `json:"finalizers,omitempty" xml:"finalizers>finalizer,omitempty"`
	CreationTimestamp *time.Time `json:"creation_timestamp,omitempty" xml:"creation_timestamp,omitempty"`
	DeletionTimestamp *time.Time `json:"deletion_timestamp,omitempty" xml:"deletion_timestamp,omitempty"`
}

// HasFinalizer reports whether f is among the object's finalizers.
func (m *ObjectMeta) HasFinalizer(f string) bool {
	for _, x := range m.Finalizers {
		if x == f {
			return true
		}
	}
	return false
}

// AddFinalizer adds f unless present and reports whether it changed anything.
func (m *ObjectMeta) AddFinalizer(f string) bool {
	if m.HasFinalizer(f) {
		return false
	}
	m.Finalizers = append(m.Finalizers, f)
	return true
}

// RemoveFinalizer removes f and reports whether it was present.
func (m *ObjectMeta) RemoveFinalizer(f string) bool {
	out := m.Finalizers[:0:0]
	for _, x := range m.Finalizers {
		if x != f {
			out = append(out, x)
		}
	}
	removed := len(out) != len(m.Finalizers)
	if len(out) == 0 {
		out = nil
	}
	m.Finalizers = out
	return removed
}

// Spec is the desired state of a lab, written by its owner.
type Spec struct {
	// LabTemplate is the container image the lab runs.
	LabTemplate  string `json:"lab_template" xml:"lab_template"`
	StudentEmail string `json:"student_email" xml:"student_email"`
	// DurationMinutes bounds how long the lab runs once started.
	DurationMinutes int `json:"duration_minutes" xml:"duration_minutes"`
	// ScheduledStartTime is an RFC 3339 time before which the lab stays
	// PENDING. It is kept as the user wrote it so that it round-trips.
	ScheduledStartTime string    `json:"scheduled_start_time,omitempty" xml:"scheduled_start_time,omitempty"`
	Environment        StringMap `json:"environment,omitempty" xml:"environment,omitempty"`
	// ResourceLimits caps what the lab's workload may use.
	ResourceLimits *ResourceLimits `json:"resource_limits,omitempty" xml:"resource_limits,omitempty"`
	// ResourceRequests is what admission reserves for the lab against the
	// engine's capacity (what it is guaranteed); at most ResourceLimits.
	ResourceRequests *ResourceRequests `json:"resource_requests,omitempty" xml:"resource_requests,omitempty"`
	// Workspace, when set, mounts the student's persistent workspace (one
	// per namespace and student, kept across labs) at its mount path.
	Workspace *Workspace `json:"workspace,omitempty" xml:"workspace,omitempty"`
	// Command and Args override the image's entrypoint and command. In XML
	// each entry is an <arg> element; the tags have no omitempty, which
	// encoding/xml would apply to each entry and so drop empty arguments.
	Command []string `json:"command,omitempty" xml:"command>arg"`
	Args    []string `json:"args,omitempty" xml:"args>arg"`
	// Port is the port the lab's app listens on; 0 means the image's only
	// exposed port, and a lab with neither has no access URL (a batch lab).
	Port int `json:"port,omitempty" xml:"port,omitempty"`
	// ReadinessPath is an HTTP path that must answer below 500 before the
	// lab is RUNNING; "" means a TCP connect to Port is enough.
	ReadinessPath string `json:"readiness_path,omitempty" xml:"readiness_path,omitempty"`
	// IdleTimeoutMinutes ends a lab nobody has used through the gateway
	// for that long (COMPLETED, reason Idle); 0 never does.
	IdleTimeoutMinutes int `json:"idle_timeout_minutes,omitempty" xml:"idle_timeout_minutes,omitempty"`
	// SecurityContext tightens the lab's hardening profile further.
	SecurityContext *SecurityContext `json:"security_context,omitempty" xml:"security_context,omitempty"`
}

// Resources is an amount of CPU and memory, as users write it.
type Resources struct {
	// CPU in cores, as a decimal ("0.5", "2") or millicores ("500m").
	CPU string `json:"cpu" xml:"cpu"`
	// Memory in bytes with an optional binary or decimal suffix ("512Mi", "2Gi").
	Memory string `json:"memory" xml:"memory"`
}

// ResourceLimits caps the lab's workload.
type ResourceLimits = Resources

// ResourceRequests is what admission reserves for a lab.
type ResourceRequests = Resources

// Workspace asks for the student's persistent workspace.
type Workspace struct {
	// MountPath is the absolute path inside the lab where it is mounted.
	MountPath string `json:"mount_path" xml:"mount_path"`
}

// SecurityContext holds the per-lab hardening settings.
type SecurityContext struct {
	// RunAsUser runs the lab's processes as this numeric user id.
	RunAsUser *int64 `json:"run_as_user,omitempty" xml:"run_as_user,omitempty"`
	// ReadOnlyRootFilesystem makes the image's file system read-only; the
	// workspace and /tmp stay writable.
	ReadOnlyRootFilesystem bool `json:"read_only_root_filesystem,omitempty" xml:"read_only_root_filesystem,omitempty"`
}

// Status is the observed state of a lab, written only by the controller.
type Status struct {
	Phase              Phase        `json:"phase" xml:"phase"`
	ObservedGeneration int64        `json:"observed_generation,omitempty" xml:"observed_generation,omitempty"`
	Conditions         []Condition  `json:"conditions,omitempty" xml:"conditions>condition,omitempty"`
	ContainerID        string       `json:"container_id,omitempty" xml:"container_id,omitempty"`
	AccessURL          string       `json:"access_url,omitempty" xml:"access_url,omitempty"`
	StartedAt          *time.Time   `json:"started_at,omitempty" xml:"started_at,omitempty"`
	CompletedAt        *time.Time   `json:"completed_at,omitempty" xml:"completed_at,omitempty"`
	ErrorMessage       string       `json:"error_message,omitempty" xml:"error_message,omitempty"`
	ResourceAllocation StringMap    `json:"resource_allocation,omitempty" xml:"resource_allocation,omitempty"`
	Transitions        []Transition `json:"transitions,omitempty" xml:"transitions>transition,omitempty"`
	// Endpoint is host:port where labd's gateway reaches the lab's app on
	// the engine's network; students use AccessURL, never this.
	Endpoint string `json:"endpoint,omitempty" xml:"endpoint,omitempty"`
	// LastActivity is when a student last used the lab through the gateway.
	LastActivity *time.Time `json:"last_activity,omitempty" xml:"last_activity,omitempty"`
}

// Condition is one aspect of the status, Kubernetes style: its
// last_transition_time moves only when status flips.
type Condition struct {
	Type               string    `json:"type" xml:"type"`
	Status             string    `json:"status" xml:"status"` // "True", "False" or "Unknown"
	Reason             string    `json:"reason,omitempty" xml:"reason,omitempty"`
	Message            string    `json:"message,omitempty" xml:"message,omitempty"`
	LastTransitionTime time.Time `json:"last_transition_time" xml:"last_transition_time"`
}

// Condition types and statuses.
const (
	// ConditionScheduled is False while a lab waits for its start time or for
	// capacity, True once it left PENDING.
	ConditionScheduled = "Scheduled"
	// ConditionReady is True exactly while the lab is RUNNING.
	ConditionReady = "Ready"

	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"
)

// Transition records one phase change.
type Transition struct {
	From   Phase     `json:"from" xml:"from"`
	To     Phase     `json:"to" xml:"to"`
	Reason string    `json:"reason" xml:"reason"`
	At     time.Time `json:"at" xml:"at"`
}

// LabInstanceRequestList is a page of a list.
type LabInstanceRequestList struct {
	XMLName    xml.Name             `json:"-" xml:"LabInstanceRequestList"`
	APIVersion string               `json:"api_version" xml:"api_version"`
	Kind       string               `json:"kind" xml:"kind"`
	Metadata   ListMeta             `json:"metadata" xml:"metadata"`
	Items      []LabInstanceRequest `json:"items" xml:"items>LabInstanceRequest"`
}

// ListMeta carries what a client needs to continue: the next page's token
// and the position from which a watch sees every change the list missed.
type ListMeta struct {
	Continue        string `json:"continue,omitempty" xml:"continue,omitempty"`
	ResourceVersion int64  `json:"resource_version" xml:"resource_version"`
}

// Watch event types, as in Kubernetes.
const (
	WatchAdded    = "ADDED"
	WatchModified = "MODIFIED"
	WatchDeleted  = "DELETED"
	WatchBookmark = "BOOKMARK"
)

// WatchEvent is one line of a watch stream. A BOOKMARK carries an object
// whose only meaningful field is metadata.resource_version: the position to
// resume from.
type WatchEvent struct {
	Type   string              `json:"type"`
	Object *LabInstanceRequest `json:"object"`
}

// Change-event types written to the outbox with every change, and delivered
// as CloudEvent types.
const (
	EventCreated         = "labinstancerequest.created"
	EventUpdated         = "labinstancerequest.updated"
	EventStatusUpdated   = "labinstancerequest.statusupdated"
	EventDeleted         = "labinstancerequest.deleted"
	EventReconciled      = "labinstancerequest.reconciled"
	EventReconcileFailed = "labinstancerequest.reconciliation.failed"
	EventFinalized       = "labinstancerequest.finalized"
	EventFinalizeFailed  = "labinstancerequest.finalization.failed"
)

// WatchType maps a change-event type to the watch event type it is streamed
// as; controller events (reconciled, finalized, ...) are not object changes
// and map to "".
func WatchType(eventType string) string {
	switch eventType {
	case EventCreated:
		return WatchAdded
	case EventUpdated, EventStatusUpdated:
		return WatchModified
	case EventDeleted:
		return WatchDeleted
	}
	return ""
}

// LabEvent is one entry of a lab's history (GET .../{name}/events).
type LabEvent struct {
	Time time.Time `json:"time" xml:"time"`
	// Type is "PhaseTransition" for a recorded transition, else a
	// change-event type such as labinstancerequest.created.
	Type            string `json:"type" xml:"type"`
	From            Phase  `json:"from,omitempty" xml:"from,omitempty"`
	To              Phase  `json:"to,omitempty" xml:"to,omitempty"`
	Reason          string `json:"reason,omitempty" xml:"reason,omitempty"`
	Message         string `json:"message,omitempty" xml:"message,omitempty"`
	ResourceVersion int64  `json:"resource_version,omitempty" xml:"resource_version,omitempty"`
}

// EventTypeTransition marks a LabEvent that records a phase transition.
const EventTypeTransition = "PhaseTransition"

// LabEventList is a lab's history, oldest first.
type LabEventList struct {
	XMLName xml.Name   `json:"-" xml:"LabEventList"`
	Items   []LabEvent `json:"items" xml:"items>event"`
}

// Annotations through which POST .../start and .../stop ask the controller
// to act. They are annotations, not spec, so that Terraform sees no drift
// and the request is recorded on the object until the controller has acted.
const (
	AnnotationStartRequested = "lab.labrm.io/start-requested-at"
	AnnotationStopRequested  = "lab.labrm.io/stop-requested-at"
	// AnnotationStopReason, beside AnnotationStopRequested, says that the
	// controller itself asked for the stop, and why ("Idle").
	AnnotationStopReason = "lab.labrm.io/stop-reason"
)
