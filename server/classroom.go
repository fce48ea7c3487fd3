package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/reconcile"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// capacity answers GET /api/status/capacity on every replica: the leader
// from its admission ledger, any other replica (a standby, an API-only
// one) from the store, through the same ledger code.
type capacity struct {
	db   *store.DB
	ctrl *reconcile.Controller // nil on an API-only replica
}

var _ httpapi.CapacityReader = capacity{}

func (c capacity) Capacity(ctx context.Context, limit int) (api.CapacityStatus, error) {
	if c.ctrl != nil {
		if st, ok := c.ctrl.Capacity(limit); ok {
			return st, nil
		}
	}
	return reconcile.CapacityFromStore(ctx, c.db, limit, time.Now())
}

// workspaces is the API's port onto students' workspaces: the engine
// holds them, the store says which labs hold them. Only replicas with an
// engine (--controller) serve it.
type workspaces struct {
	db     *store.DB
	engine reconcile.Engine
}

var _ httpapi.Workspaces = workspaces{}

// holders maps "namespace\x00student" to the names of the labs that hold
// that workspace (api.HoldsWorkspace), for the namespace and student
// given ("" for all).
func (w workspaces) holders(ctx context.Context, namespace, student string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, p := range []api.Phase{api.PhasePending, api.PhaseProvisioning, api.PhaseRunning, api.PhaseTimeout} {
		opts := store.ListOptions{Namespace: namespace, StudentEmail: student, Phase: p, Limit: store.MaxListLimit}
		for {
			list, err := w.db.ListLabs(ctx, opts)
			if err != nil {
				return nil, err
			}
			for i := range list.Items {
				l := &list.Items[i]
				if api.HoldsWorkspace(l) {
					k := l.Metadata.Namespace + "\x00" + strings.ToLower(l.Spec.StudentEmail)
					out[k] = append(out[k], l.Metadata.Name)
				}
			}
			if list.Metadata.Continue == "" {
				break
			}
			opts.Continue = list.Metadata.Continue
		}
	}
	return out, nil
}

func (w workspaces) list(ctx context.Context, namespace, student string) ([]api.StudentWorkspace, error) {
	installation, err := w.db.InstallationID(ctx)
	if err != nil {
		return nil, err
	}
	all, err := w.engine.ListWorkspaces(ctx)
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	held, err := w.holders(ctx, namespace, student)
	if err != nil {
		return nil, err
	}
	var out []api.StudentWorkspace
	for _, ws := range all {
		ns, st := ws.Labels[workload.LabelNamespace], ws.Labels[workload.LabelStudent]
		if !workload.Ours(ws.Labels, installation) || (namespace != "" && ns != namespace) || (student != "" && st != strings.ToLower(student)) {
			continue
		}
		item := api.StudentWorkspace{Namespace: ns, StudentEmail: st, Name: ws.Name, Labs: held[ns+"\x00"+st]}
		if item.Labs == nil {
			item.Labs = []string{}
		}
		slices.Sort(item.Labs)
		if !ws.Created.IsZero() {
			t := ws.Created
			item.CreatedAt = &t
		}
		out = append(out, item)
	}
	slices.SortFunc(out, func(a, b api.StudentWorkspace) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.StudentEmail, b.StudentEmail))
	})
	return out, nil
}

func (w workspaces) ListWorkspaces(ctx context.Context, namespace, student string) ([]api.StudentWorkspace, error) {
	return w.list(ctx, namespace, student)
}

// RemoveWorkspace refuses while a lab holds the workspace (it is not
// ended: it mounts it, or will); the engine refuses too while a container
// still mounts it (an ended lab whose cleanup has not run yet).
func (w workspaces) RemoveWorkspace(ctx context.Context, namespace, student string) (api.StudentWorkspace, error) {
	found, err := w.list(ctx, namespace, student)
	if err != nil {
		return api.StudentWorkspace{}, err
	}
	if len(found) == 0 {
		return api.StudentWorkspace{}, api.Errorf(api.ENOTFOUND, "no workspace of %s in namespace %s", student, namespace)
	}
	ws := found[0]
	if len(ws.Labs) > 0 {
		return ws, api.Errorf(api.ECONFLICT, "the workspace of %s in namespace %s is held by lab(s) %s, which have not ended: stop or delete them first",
			student, namespace, strings.Join(ws.Labs, ", "))
	}
	if err := w.engine.RemoveWorkspace(ctx, ws.Name); errors.Is(err, workload.ErrInUse) {
		return ws, api.Errorf(api.ECONFLICT, "the workspace of %s in namespace %s is still mounted by an ended lab's container, which its cleanup removes shortly: retry", student, namespace)
	} else if err != nil {
		return ws, err
	}
	return ws, nil
}
