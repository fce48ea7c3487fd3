package api

import (
	"encoding/xml"
	"time"
)

// StudentWorkspace is a student's persistent workspace in a namespace, as
// GET /api/workspaces/ lists it: one per (namespace, student), created by
// the first lab of the student that asks for spec.workspace, mounted by
// every later one, kept when labs end or are deleted, removed only by
// DELETE /api/workspaces/{namespace}/{student_email}.
type StudentWorkspace struct {
	Namespace    string `json:"namespace"`
	StudentEmail string `json:"student_email"`
	// Name is the engine's name for it (a Docker volume): a hash, since an
	// e-mail address is not a valid volume name.
	Name      string     `json:"name"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	// Labs are the labs that hold it: not ended, they mount it or will.
	// While any does, it cannot be deleted.
	Labs []string `json:"labs"`
}

// StudentWorkspaceList is GET /api/workspaces/.
type StudentWorkspaceList struct {
	Items []StudentWorkspace `json:"items"`
}

// HoldsWorkspace reports whether a lab holds its student's workspace: it
// asks for one and has not ended (a deleted lab holds it until its
// finalizer has removed its workload).
func HoldsWorkspace(l *LabInstanceRequest) bool {
	if l.Spec.Workspace == nil {
		return false
	}
	switch l.Status.Phase {
	case PhaseCompleted, PhaseFailed:
		return false
	}
	return true
}

// Ended reports whether a phase is an end: COMPLETED, FAILED or TIMEOUT
// (which only stops the workload on its way to COMPLETED).
func Ended(p Phase) bool {
	return p == PhaseCompleted || p == PhaseFailed || p == PhaseTimeout
}

// CollectionResult answers a collection operation (DELETE
// /api/lab-instances/?..., POST /api/lab-instances/stop?...): the labs it
// acted on, or with dry_run would have.
type CollectionResult struct {
	XMLName xml.Name      `json:"-" xml:"CollectionResult"`
	DryRun  bool          `json:"dry_run" xml:"dry_run"`
	Items   []AffectedLab `json:"items" xml:"items>lab"`
}

// AffectedLab is one lab a collection operation acted on.
type AffectedLab struct {
	Namespace string `json:"namespace" xml:"namespace"`
	Name      string `json:"name" xml:"name"`
	UID       string `json:"uid" xml:"uid"`
	Phase     Phase  `json:"phase" xml:"phase"`
	// Result is what became of it: "deleted" (gone), "deleting" (its
	// finalizer runs), or "stopping" (it ends COMPLETED once stopped).
	Result string `json:"result" xml:"result"`
}

// Results of a collection operation on one lab.
const (
	ResultDeleted  = "deleted"
	ResultDeleting = "deleting"
	ResultStopping = "stopping"
)
