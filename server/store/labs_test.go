package store_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/store"
)

func newLab(name string) *api.LabInstanceRequest {
	l := &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{Name: name, Namespace: "default", Labels: api.StringMap{"course": "cs101"}},
		Spec: api.Spec{LabTemplate: "python:3.9-alpine", StudentEmail: "student@university.edu",
			DurationMinutes: 60, Environment: api.StringMap{"LAB_TYPE": "python-basics"}},
	}
	l.Default()
	return l
}

func mustCreate(t *testing.T, db store.Interface, l *api.LabInstanceRequest) *api.LabInstanceRequest {
	t.Helper()
	out, err := db.CreateLab(context.Background(), l)
	if err != nil {
		t.Fatalf("create %s: %v", l.Metadata.Name, err)
	}
	return out
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := api.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func TestCreateGet(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		created := mustCreate(t, db, newLab("my-python-lab"))
		if created.Metadata.UID == "" || created.Metadata.ResourceVersion == 0 || created.Metadata.Generation != 1 {
			t.Fatalf("created metadata not set: %+v", created.Metadata)
		}
		if created.Status.Phase != api.PhasePending || created.Metadata.CreationTimestamp == nil {
			t.Fatalf("created status/time not set: %+v %v", created.Status, created.Metadata.CreationTimestamp)
		}
		got, err := db.GetLab(ctx, created.Key())
		if err != nil {
			t.Fatal(err)
		}
		if got.Metadata.UID != created.Metadata.UID || got.Metadata.ResourceVersion != created.Metadata.ResourceVersion ||
			got.Spec.Environment["LAB_TYPE"] != "python-basics" || !got.Metadata.CreationTimestamp.Equal(*created.Metadata.CreationTimestamp) {
			t.Fatalf("get = %+v, want %+v", got, created)
		}
		_, err = db.CreateLab(ctx, newLab("my-python-lab"))
		wantCode(t, err, api.EALREADYEXISTS)
		_, err = db.GetLab(ctx, api.Key{Namespace: "default", Name: "nope"})
		wantCode(t, err, api.ENOTFOUND)
		bad := newLab("bad")
		bad.Spec.DurationMinutes = 481
		_, err = db.CreateLab(ctx, bad)
		wantCode(t, err, api.EINVALID)
		if _, err := db.GetLab(ctx, bad.Key()); !api.IsNotFound(err) {
			t.Fatalf("invalid lab was stored: %v", err)
		}

		// A caller of the store gets the create defaults and cannot set what
		// the server owns (api.PrepareCreate runs here too).
		raw := &api.LabInstanceRequest{
			Metadata: api.ObjectMeta{Name: "raw", UID: "forged", ResourceVersion: 1 << 40, Generation: 9},
			Spec:     api.Spec{LabTemplate: "python:3", StudentEmail: "a@b.edu", DurationMinutes: 5},
			Status:   api.Status{Phase: api.PhaseRunning, ContainerID: "forged"},
		}
		got = mustCreate(t, db, raw)
		if got.Metadata.Namespace != api.DefaultNamespace || got.Spec.ResourceLimits == nil || got.Spec.ResourceLimits.CPU != api.DefaultCPU ||
			got.APIVersion != api.APIVersion || got.Kind != api.Kind {
			t.Fatalf("not defaulted: %+v", got)
		}
		if got.Metadata.UID == "forged" || got.Metadata.Generation != 1 || got.Metadata.ResourceVersion == 1<<40 ||
			got.Status.Phase != api.PhasePending || got.Status.ContainerID != "" {
			t.Fatalf("server-owned fields taken from the caller: %+v %+v", got.Metadata, got.Status)
		}
		if raw.Metadata.UID != "forged" || raw.Spec.ResourceLimits != nil {
			t.Fatal("CreateLab changed its argument")
		}
		wrongKind := newLab("pod")
		wrongKind.Kind = "Pod"
		_, err = db.CreateLab(ctx, wrongKind)
		wantCode(t, err, api.EINVALID)
	})
}

func TestUpdateVersioning(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := mustCreate(t, db, newLab("lab"))
		key := l.Key()

		// A label change is a write but not a spec change.
		l2, err := db.UpdateLab(ctx, key, store.WriteOptions{ExpectedVersion: l.Metadata.ResourceVersion}, func(x *api.LabInstanceRequest) error {
			x.Metadata.Labels["team"] = "a"
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if l2.Metadata.ResourceVersion <= l.Metadata.ResourceVersion || l2.Metadata.Generation != 1 {
			t.Fatalf("label change: rv %d -> %d, generation %d (want grown rv, generation 1)", l.Metadata.ResourceVersion, l2.Metadata.ResourceVersion, l2.Metadata.Generation)
		}
		// A spec change bumps generation.
		l3, err := db.UpdateLab(ctx, key, store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
			x.Spec.DurationMinutes = 90
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if l3.Metadata.Generation != 2 || l3.Spec.DurationMinutes != 90 {
			t.Fatalf("spec change: generation %d duration %d", l3.Metadata.Generation, l3.Spec.DurationMinutes)
		}
		// A no-op writes nothing.
		l4, err := db.UpdateLab(ctx, key, store.WriteOptions{}, func(x *api.LabInstanceRequest) error { return nil })
		if err != nil || l4.Metadata.ResourceVersion != l3.Metadata.ResourceVersion {
			t.Fatalf("no-op: rv %d -> %d, err %v", l3.Metadata.ResourceVersion, l4.Metadata.ResourceVersion, err)
		}
		// A stale version is a conflict and changes nothing.
		_, err = db.UpdateLab(ctx, key, store.WriteOptions{ExpectedVersion: l.Metadata.ResourceVersion}, func(x *api.LabInstanceRequest) error {
			x.Spec.DurationMinutes = 30
			return nil
		})
		wantCode(t, err, api.ECONFLICT)
		// Immutable fields are refused.
		_, err = db.UpdateLab(ctx, key, store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
			x.Spec.LabTemplate = "node:20"
			return nil
		})
		wantCode(t, err, api.EINVALID)
		got, _ := db.GetLab(ctx, key)
		if got.Spec.DurationMinutes != 90 || got.Spec.LabTemplate != "python:3.9-alpine" || got.Metadata.ResourceVersion != l3.Metadata.ResourceVersion {
			t.Fatalf("refused writes changed the lab: %+v", got)
		}
	})
}

func TestUpdateWithRetryConcurrent(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := mustCreate(t, db, newLab("counter"))
		const writers, each = 4, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					_, err := db.UpdateLabWithRetry(ctx, l.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
						n, _ := strconv.Atoi(x.Metadata.Annotations["n"])
						if x.Metadata.Annotations == nil {
							x.Metadata.Annotations = api.StringMap{}
						}
						x.Metadata.Annotations["n"] = strconv.Itoa(n + 1)
						return nil
					})
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("update: %v", err)
		}
		got, _ := db.GetLab(ctx, l.Key())
		if got.Metadata.Annotations["n"] != strconv.Itoa(writers*each) {
			t.Fatalf("counter = %s, want %d: an update was lost", got.Metadata.Annotations["n"], writers*each)
		}
	})
}

func TestPhaseStateMachineEnforced(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := mustCreate(t, db, newLab("phases"))
		now := time.Now()
		// Skipping PROVISIONING is forbidden and stores nothing.
		_, err := db.UpdateLab(ctx, l.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
			return x.Transition(api.PhaseRunning, "Started", "", now)
		})
		wantCode(t, err, api.ECONFLICT)
		// Setting the phase without recording the transition is refused too.
		_, err = db.UpdateLab(ctx, l.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
			x.Status.Phase = api.PhaseProvisioning
			return nil
		})
		wantCode(t, err, api.ECONFLICT)
		// Several recorded steps in one write are fine.
		got, err := db.UpdateLab(ctx, l.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
			if err := x.Transition(api.PhaseProvisioning, "Scheduled", "", now); err != nil {
				return err
			}
			return x.Transition(api.PhaseRunning, "ContainerStarted", "", now)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase != api.PhaseRunning || len(got.Status.Transitions) != 2 || got.Metadata.Generation != 1 {
			t.Fatalf("status = %+v", got.Status)
		}
		if c := got.Condition(api.ConditionReady); c == nil || c.Status != api.ConditionTrue {
			t.Fatalf("Ready condition = %+v", c)
		}
		// History cannot be rewritten.
		_, err = db.UpdateLab(ctx, l.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
			x.Status.Transitions = x.Status.Transitions[1:]
			return nil
		})
		wantCode(t, err, api.ECONFLICT)
	})
}

func TestDeleteAndFinalizers(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		plain := mustCreate(t, db, newLab("plain"))
		last, deleted, err := db.DeleteLab(ctx, plain.Key(), store.WriteOptions{})
		if err != nil || !deleted || last.Metadata.DeletionTimestamp == nil {
			t.Fatalf("delete without finalizers: deleted=%v err=%v", deleted, err)
		}
		if _, err := db.GetLab(ctx, plain.Key()); !api.IsNotFound(err) {
			t.Fatalf("deleted lab still readable: %v", err)
		}

		fin := newLab("finalized")
		fin.Metadata.Finalizers = []string{api.Finalizer}
		fin = mustCreate(t, db, fin)
		obj, deleted, err := db.DeleteLab(ctx, fin.Key(), store.WriteOptions{})
		if err != nil || deleted || obj.Metadata.DeletionTimestamp == nil {
			t.Fatalf("delete with finalizer: deleted=%v err=%v obj=%+v", deleted, err, obj)
		}
		// Deleting again changes nothing.
		again, _, err := db.DeleteLab(ctx, fin.Key(), store.WriteOptions{})
		if err != nil || again.Metadata.ResourceVersion != obj.Metadata.ResourceVersion {
			t.Fatalf("second delete wrote: %v", err)
		}
		// Finalizers can only be removed now.
		_, err = db.UpdateLab(ctx, fin.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
			x.Metadata.Finalizers = append(x.Metadata.Finalizers, "other.example.com")
			return nil
		})
		wantCode(t, err, api.EINVALID)
		_, err = db.UpdateLab(ctx, fin.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
			x.Metadata.RemoveFinalizer(api.Finalizer)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetLab(ctx, fin.Key()); !api.IsNotFound(err) {
			t.Fatalf("lab with no finalizer left still exists: %v", err)
		}
		var types []string
		for _, ev := range servertest.AllEvents(t, db) {
			if ev.Key == fin.Key() {
				types = append(types, ev.Type)
			}
		}
		want := fmt.Sprint([]string{api.EventCreated, api.EventUpdated, api.EventDeleted})
		if fmt.Sprint(types) != want {
			t.Fatalf("events = %v, want %v", types, want)
		}
	})
}

func TestListFiltersAndPages(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		for i := range 25 {
			l := newLab(fmt.Sprintf("lab-%02d", i))
			if i%2 == 0 {
				l.Metadata.Namespace = "cs101"
			}
			if i%5 == 0 {
				l.Spec.StudentEmail = "Alice@University.edu"
				l.Metadata.Labels = api.StringMap{"course": "cs101", "tier": "gold"}
			}
			mustCreate(t, db, l)
		}
		all := collect(t, db, store.ListOptions{Limit: 7})
		if len(all) != 25 {
			t.Fatalf("paged list returned %d labs, want 25", len(all))
		}
		for i := 1; i < len(all); i++ {
			a, b := all[i-1].Key(), all[i].Key()
			if a.Namespace > b.Namespace || (a.Namespace == b.Namespace && a.Name >= b.Name) {
				t.Fatalf("not ordered: %v then %v", a, b)
			}
		}
		if n := len(collect(t, db, store.ListOptions{Namespace: "cs101"})); n != 13 {
			t.Fatalf("namespace filter: %d, want 13", n)
		}
		if n := len(collect(t, db, store.ListOptions{StudentEmail: "alice@university.edu"})); n != 5 {
			t.Fatalf("email filter: %d, want 5", n)
		}
		if n := len(collect(t, db, store.ListOptions{LabelSelector: map[string]string{"tier": "gold", "course": "cs101"}})); n != 5 {
			t.Fatalf("label filter: %d, want 5", n)
		}
		if n := len(collect(t, db, store.ListOptions{Phase: api.PhaseRunning})); n != 0 {
			t.Fatalf("phase filter: %d, want 0", n)
		}
		if n := len(collect(t, db, store.ListOptions{Phase: api.PhasePending, Namespace: "default", Limit: 3})); n != 12 {
			t.Fatalf("phase+namespace filter: %d, want 12", n)
		}
		_, err := db.ListLabs(ctx, store.ListOptions{Continue: "garbage!"})
		wantCode(t, err, api.EBADREQUEST)
	})
}

func collect(t *testing.T, db *store.DB, opts store.ListOptions) []api.LabInstanceRequest {
	t.Helper()
	var out []api.LabInstanceRequest
	for page := 0; ; page++ {
		list, err := db.ListLabs(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if opts.Limit > 0 && len(list.Items) > opts.Limit {
			t.Fatalf("page of %d items exceeds limit %d", len(list.Items), opts.Limit)
		}
		out = append(out, list.Items...)
		if list.Metadata.Continue == "" {
			return out
		}
		if page > 100 {
			t.Fatal("pagination does not end")
		}
		opts.Continue = list.Metadata.Continue
	}
}

func TestHistory(t *testing.T) {
	t.Parallel()
	servertest.EachStore(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := mustCreate(t, db, newLab("hist"))
		_, err := db.UpdateLab(ctx, l.Key(), store.WriteOptions{}, func(x *api.LabInstanceRequest) error {
			return x.Transition(api.PhaseFailed, "ImageUnavailable", "no such image", time.Now())
		})
		if err != nil {
			t.Fatal(err)
		}
		h, err := db.LabHistory(ctx, l.Key())
		if err != nil {
			t.Fatal(err)
		}
		var sawCreated, sawTransition bool
		for i, e := range h.Items {
			if i > 0 && e.Time.Before(h.Items[i-1].Time) {
				t.Fatalf("history not oldest first: %+v", h.Items)
			}
			sawCreated = sawCreated || e.Type == api.EventCreated
			sawTransition = sawTransition || (e.Type == api.EventTypeTransition && e.To == api.PhaseFailed && e.Reason == "ImageUnavailable")
		}
		if !sawCreated || !sawTransition {
			t.Fatalf("history lacks created event or transition: %+v", h.Items)
		}
		_, err = db.LabHistory(ctx, api.Key{Namespace: "default", Name: "never"})
		wantCode(t, err, api.ENOTFOUND)
	})
}
