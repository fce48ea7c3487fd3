package workload

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// A workspace is a student's persistent storage in one namespace: it
// outlives the labs that mount it, so work survives from one lab to the
// next. On Docker it is a named volume, on Kubernetes a
// PersistentVolumeClaim. Engines create it on first use (Ensure of a Spec
// with a Workspace) and remove it only when asked (RemoveWorkspace): the
// garbage collector never touches workspaces.

// Labels put on every workspace, besides LabelManagedBy and
// LabelInstallation. The readable identity lives here; the name is a hash.
const (
	// LabelKind tells workspaces from workloads on engines that list both
	// through the same label filter.
	LabelKind = "kind"
	// LabelStudent is the student's e-mail address, lower-cased.
	LabelStudent = "student"

	// KindWorkspace is LabelKind's value on workspaces.
	KindWorkspace = "workspace"
)

// ErrInUse: a workspace cannot be removed while a workload mounts it.
var ErrInUse = errors.New("workspace in use")

// WorkspaceName is the engine name of the workspace of student in
// namespace for an installation: "ws-" and 24 hex digits of a SHA-256 of
// the three. An e-mail address is not a valid volume or claim name, and
// names must not collide between installations sharing an engine; the
// hash is stable, so every lab of the student finds the same workspace.
// The e-mail address is compared case-insensitively, as the store does.
func WorkspaceName(installation, namespace, student string) string {
	h := sha256.Sum256([]byte(installation + "\x00" + namespace + "\x00" + strings.ToLower(student)))
	return "ws-" + hex.EncodeToString(h[:12])
}

// WorkspaceLabels are the labels of a workspace: ours, of kind workspace,
// with its namespace and student.
func WorkspaceLabels(installation, namespace, student string) map[string]string {
	return map[string]string{
		LabelManagedBy:    ManagedBy,
		LabelInstallation: installation,
		LabelKind:         KindWorkspace,
		LabelNamespace:    namespace,
		LabelStudent:      strings.ToLower(student),
	}
}

// Mount asks for a workspace to be mounted into a workload; the engine
// creates it with Labels if it does not exist.
type Mount struct {
	Workspace string // WorkspaceName(...)
	Path      string // absolute path inside the workload
	Labels    map[string]string
}

// Workspace is what an engine reports about a workspace.
type Workspace struct {
	Name    string
	Labels  map[string]string
	Created time.Time // zero when the engine does not say
}
