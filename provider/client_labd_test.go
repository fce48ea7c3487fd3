package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
)

// TestClientAgainstLabd drives internal/client against a real labd: the
// typed errors, conditional writes, pagination and the watch stream the
// provider relies on, as the server really speaks them.
func TestClientAgainstLabd(t *testing.T) {
	t.Parallel()
	d := startLabd(t)
	c := d.Client
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	if h, err := c.Health(ctx); err != nil || h.Status != "healthy" {
		t.Fatalf("Health = %+v, %v", h, err)
	}
	if r, err := c.Ready(ctx); err != nil || r.Status != "ready" {
		t.Fatalf("Ready = %+v, %v", r, err)
	}

	created, err := c.Create(ctx, scheduledLab("cl-a", api.StringMap{"team": "a"}))
	if err != nil {
		t.Fatal(err)
	}
	if created.Metadata.UID == "" || created.Metadata.Namespace != "default" || created.Status.Phase != api.PhasePending ||
		created.Metadata.Annotations[client.AnnotationRequestID] == "" {
		t.Fatalf("created %+v", created.Metadata)
	}
	if _, err := c.Create(ctx, scheduledLab("cl-a", nil)); api.ErrorCode(err) != api.EALREADYEXISTS {
		t.Errorf("duplicate create: %v, want already_exists", err)
	}
	bad := scheduledLab("cl-bad", nil)
	bad.Spec.DurationMinutes = 0
	var e *api.Error
	if _, err := c.Create(ctx, bad); !errors.As(err, &e) || e.Code != api.EINVALID || len(e.Fields) != 1 || e.Fields[0].Field != "spec.duration_minutes" {
		t.Errorf("invalid create: %#v, want EINVALID on spec.duration_minutes", err)
	}
	if _, err := c.Get(ctx, api.Key{Namespace: "default", Name: "nope"}); !api.IsNotFound(err) {
		t.Errorf("Get missing: %v, want not found", err)
	}

	// A watch from the created version sees the next change to this lab only.
	w, err := c.Watch(ctx, client.WatchOptions{Namespace: "default", Name: "cl-a", ResourceVersion: created.Metadata.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := c.Create(ctx, scheduledLab("cl-b", api.StringMap{"team": "b"})); err != nil {
		t.Fatal(err)
	}

	// Conditional writes: the current version wins, a stale one is a
	// conflict. The controller writes too (finalizer, conditions), so the
	// write is retried on a fresh read, as the provider does.
	writeFresh := func(what string, write func(cur *api.LabInstanceRequest) (*api.LabInstanceRequest, error)) *api.LabInstanceRequest {
		t.Helper()
		for attempt := 0; ; attempt++ {
			cur, err := c.Get(ctx, created.Key())
			if err != nil {
				t.Fatal(err)
			}
			l, err := write(cur)
			if err == nil {
				return l
			}
			if !api.IsConflict(err) || attempt == 10 {
				t.Fatalf("%s: %v", what, err)
			}
		}
	}
	updated := writeFresh("update", func(cur *api.LabInstanceRequest) (*api.LabInstanceRequest, error) {
		cur.Spec.DurationMinutes = 45
		return c.Update(ctx, cur)
	})
	if updated.Spec.DurationMinutes != 45 || updated.Metadata.ResourceVersion <= created.Metadata.ResourceVersion {
		t.Errorf("update gave duration %d rv %d", updated.Spec.DurationMinutes, updated.Metadata.ResourceVersion)
	}
	stale := created.DeepCopy()
	stale.Spec.DurationMinutes = 50
	if _, err := c.Update(ctx, stale); !api.IsConflict(err) {
		t.Errorf("stale update: %v, want conflict", err)
	}
	patched := writeFresh("merge patch", func(cur *api.LabInstanceRequest) (*api.LabInstanceRequest, error) {
		return c.Patch(ctx, created.Key(), map[string]any{"metadata": map[string]any{"labels": map[string]any{"extra": "1"}}}, cur.Metadata.ResourceVersion)
	})
	if patched.Metadata.Labels["extra"] != "1" || patched.Metadata.Labels["team"] != "a" || patched.Spec.DurationMinutes != 45 {
		t.Errorf("merge patch gave labels %v duration %d; want team=a, extra=1, 45", patched.Metadata.Labels, patched.Spec.DurationMinutes)
	}
	if _, err := c.Patch(ctx, created.Key(), map[string]any{"spec": map[string]any{"duration_minutes": 50}}, created.Metadata.ResourceVersion); !api.IsConflict(err) {
		t.Errorf("stale patch: %v, want conflict", err)
	}

	// The watch streams this lab's changes only (cl-b is filtered out),
	// in order, up to our update.
	for {
		ev, err := w.Next()
		if err != nil {
			t.Fatalf("watch ended before the update was seen: %v", err)
		}
		if ev.Type == api.WatchBookmark {
			continue
		}
		if ev.Object.Metadata.Name != "cl-a" || ev.Type != api.WatchModified {
			t.Fatalf("watch event %s %s; want MODIFIED of cl-a only", ev.Type, ev.Object.Metadata.Name)
		}
		if ev.Type == api.WatchModified && ev.Object.Spec.DurationMinutes == 45 {
			break
		}
	}

	// Lists: filters, and pages followed by ListAll.
	page, err := c.List(ctx, client.ListOptions{Namespace: "default", Limit: 1})
	if err != nil || len(page.Items) != 1 || page.Metadata.Continue == "" || page.Metadata.ResourceVersion == 0 {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	all, err := c.ListAll(ctx, client.ListOptions{Namespace: "default", Limit: 1})
	if err != nil || len(all.Items) != 2 {
		t.Fatalf("ListAll = %v, %v; want 2 labs", all, err)
	}
	sel, err := c.ListAll(ctx, client.ListOptions{LabelSelector: map[string]string{"team": "b"}, Phase: api.PhasePending})
	if err != nil || len(sel.Items) != 1 || sel.Items[0].Metadata.Name != "cl-b" {
		t.Fatalf("selector list = %v, %v; want cl-b", sel, err)
	}
	if _, err := c.List(ctx, client.ListOptions{Continue: "garbage"}); api.ErrorCode(err) != api.EBADREQUEST {
		t.Errorf("bad continue: %v, want bad_request", err)
	}
	if hist, err := c.Events(ctx, created.Key()); err != nil || len(hist.Items) == 0 {
		t.Errorf("Events = %v, %v", hist, err)
	}

	// Delete: gone at once without finalizers; then 404; the watch says DELETED.
	obj, deleted, err := c.Delete(ctx, created.Key())
	if err != nil || obj.Metadata.Name != "cl-a" {
		t.Fatalf("Delete = %v, %v, %v", obj, deleted, err)
	}
	if deleted {
		if _, _, err := c.Delete(ctx, created.Key()); !api.IsNotFound(err) {
			t.Errorf("second delete: %v, want not found", err)
		}
	} else if err := d.waitGone(t, created.Key(), time.Minute); err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := w.Next()
		if err != nil {
			t.Fatalf("watch ended before DELETED: %v", err)
		}
		if ev.Type == api.WatchDeleted {
			break
		}
	}
	w.Close()
	if _, err := w.Next(); err == nil {
		t.Error("Next after Close: want error")
	}
}

// scheduledLab is a small lab of the test image that stays PENDING: its
// start is days away.
func scheduledLab(name string, labels api.StringMap) *api.LabInstanceRequest {
	return &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{Name: name, Labels: labels},
		Spec: api.Spec{LabTemplate: testImage(), StudentEmail: "s@university.edu", DurationMinutes: 30,
			ScheduledStartTime: farFuture(), ResourceLimits: &api.ResourceLimits{CPU: "0.1", Memory: "32Mi"}},
	}
}

// TestClientControlAgainstLabd: start, logs and stop of a scheduled lab on
// a real labd with Docker, followed by the provider's wait loop, and the
// leader and bookmark status routes.
func TestClientControlAgainstLabd(t *testing.T) {
	t.Parallel()
	requireDocker(t)
	d := startLabd(t)
	c := d.Client
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// Leadership is taken just after labd starts serving: wait for it.
	err := eventually(ctx, 30*time.Second, 20*time.Millisecond, func(ctx context.Context) error {
		l, err := c.Leader(ctx)
		if err == nil && l.IsLeader && l.Identity != "" && l.Leader == l.Identity && l.Epoch >= 1 {
			return nil
		}
		return fmt.Errorf("Leader = %+v, %v", l, err)
	})
	if err != nil {
		t.Fatalf("%v; want this single replica leading within 30s", err)
	}
	created, err := c.Create(ctx, scheduledLab("ctl", nil))
	if err != nil {
		t.Fatal(err)
	}
	key := created.Key()
	if _, err := c.Logs(ctx, key, 10); !api.IsConflict(err) {
		t.Errorf("logs of a PENDING lab: %v, want conflict", err)
	}
	if _, err := c.Stop(ctx, key); !api.IsConflict(err) {
		t.Errorf("stop of a PENDING lab: %v, want conflict", err)
	}
	if _, err := c.Start(ctx, key); err != nil {
		t.Fatalf("start: %v", err)
	}
	start := time.Now()
	l, err := awaitLab(ctx, c, waitConfig{}, key, nil, 2*time.Minute, "to be RUNNING", untilPhase(key, api.PhaseRunning))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("started lab RUNNING after %v", time.Since(start).Round(time.Millisecond))
	if l.Status.ContainerID == "" || l.Status.StartedAt == nil {
		t.Errorf("RUNNING lab without container_id or started_at: %+v", l.Status)
	}
	err = eventually(ctx, 30*time.Second, 100*time.Millisecond, func(context.Context) error {
		out, err := c.Logs(ctx, key, 50) // bounded by the test, so that an error is the server's
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "lab test image: started") {
			return nil
		}
		return fmt.Errorf("logs %q", out)
	})
	if err != nil {
		t.Fatalf("%v after 30s; want the image's start line", err)
	}
	if _, err := c.Stop(ctx, key); err != nil {
		t.Fatalf("stop: %v", err)
	}
	l, err = awaitLab(ctx, c, waitConfig{}, key, nil, time.Minute, "to be COMPLETED", func(l *api.LabInstanceRequest) (bool, error) {
		return l != nil && l.Status.Phase == api.PhaseCompleted, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Status.CompletedAt == nil {
		t.Errorf("COMPLETED lab without completed_at: %+v", l.Status)
	}
	if b, err := c.Bookmarks(ctx); err != nil || b.CurrentVersion == 0 || len(b.Watchers) == 0 {
		t.Errorf("Bookmarks = %+v, %v; want the controller watcher's progress", b, err)
	}
}
