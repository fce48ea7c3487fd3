package kubernetes

import (
	"context"
	"errors"
	"fmt"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// Restart starts again the workload of a lab whose run was interrupted.
// A pod is never started twice (restart policy Never: an exit is for the
// controller to judge), and this engine reports no workload as stopped by
// the engine itself (workload.ReasonEngineRestart): a pod on a lost node
// is reported NodeLost, which fails its lab. So Restart is only the
// general case: a pod that runs, or has yet to, is reported as it is; one
// that ended, or belongs to another spec, is deleted and made anew from
// spec by Ensure, on the same workspace claim (the student's files are
// kept, the pod's own file system is not).
func (e *Engine) Restart(ctx context.Context, spec workload.Spec) (workload.Status, error) {
	pod, err := e.getPod(ctx, spec.Name)
	switch {
	case errors.Is(err, workload.ErrNotFound):
		return e.Ensure(ctx, spec)
	case err != nil:
		return workload.Status{}, err
	}
	want, err := podFor(spec, e.podOptions())
	if err != nil {
		return workload.Status{}, fmt.Errorf("restart pod: %w", err)
	}
	st := e.status(pod)
	if st.State != workload.Exited && pod.DeletionTimestamp == nil && sameLab(workloadLabels(pod), workloadLabels(want)) {
		return st, nil
	}
	if err := e.deleteAndWait(ctx, pod); err != nil {
		return workload.Status{}, fmt.Errorf("restart pod %s: %w", spec.Name, err)
	}
	e.log.Info("pod deleted to be made anew", "pod", spec.Name, "uid", pod.UID, "was", st.Detail)
	return e.Ensure(ctx, spec)
}
