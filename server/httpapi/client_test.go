package httpapi_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
)

// TestTypedClient drives the API with the typed client the Terraform
// provider uses, so that the two sides of the wire agree.
func TestTypedClient(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *env) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := client.New(e.url)
		if err != nil {
			t.Fatal(err)
		}
		l, err := c.Create(ctx, &api.LabInstanceRequest{
			Metadata: api.ObjectMeta{Name: "typed", Namespace: "course-1", Labels: api.StringMap{"a": "1"}, Finalizers: []string{api.Finalizer}},
			Spec:     api.Spec{LabTemplate: "python:3.9-alpine", StudentEmail: "s@u.edu", DurationMinutes: 30},
		})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		key := l.Key()
		if _, err := c.Create(ctx, &api.LabInstanceRequest{Metadata: api.ObjectMeta{Name: "typed", Namespace: "course-1"}, Spec: l.Spec}); api.ErrorCode(err) != api.EALREADYEXISTS {
			t.Fatalf("second create: %v", err)
		}
		list, err := c.List(ctx, client.ListOptions{Namespace: "course-1"})
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("list: %v %+v", err, list)
		}
		w, err := c.Watch(ctx, client.WatchOptions{Namespace: "course-1", ResourceVersion: l.Metadata.ResourceVersion})
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		defer w.Close()

		next := l.DeepCopy()
		next.Spec.DurationMinutes = 45
		upd, err := c.Update(ctx, next)
		if err != nil || upd.Metadata.Generation != 2 || !upd.Metadata.HasFinalizer(api.Finalizer) {
			t.Fatalf("update: %v %+v", err, upd)
		}
		if _, err := c.Update(ctx, next); api.ErrorCode(err) != api.ECONFLICT {
			t.Fatalf("stale update: %v", err)
		}
		bad := upd.DeepCopy()
		bad.Spec.LabTemplate = "node:20"
		_, err = c.Update(ctx, bad)
		var ae *api.Error
		if api.ErrorCode(err) != api.EINVALID || !errors.As(err, &ae) || len(ae.Fields) == 0 || ae.Fields[0].Field != "spec.lab_template" {
			t.Fatalf("immutable update: %v", err)
		}
		patched, err := c.Patch(ctx, key, map[string]any{"metadata": map[string]any{"labels": map[string]any{"a": nil, "b": "2"}}}, upd.Metadata.ResourceVersion)
		if err != nil || patched.Metadata.Labels["b"] != "2" || len(patched.Metadata.Labels) != 1 {
			t.Fatalf("patch: %v %+v", err, patched)
		}
		ev, err := w.Next()
		for err == nil && ev.Type == api.WatchBookmark {
			ev, err = w.Next()
		}
		if err != nil || ev.Type != api.WatchModified || ev.Object.Spec.DurationMinutes != 45 {
			t.Fatalf("watch event: %v %+v", err, ev)
		}

		obj, deleted, err := c.Delete(ctx, key)
		if err != nil || deleted || obj.Metadata.DeletionTimestamp == nil {
			t.Fatalf("delete with finalizer: %v deleted=%v", err, deleted)
		}
		if _, err := c.Patch(ctx, key, map[string]any{"metadata": map[string]any{"finalizers": nil}}, 0); err != nil {
			t.Fatalf("remove finalizer: %v", err)
		}
		if _, err := c.Get(ctx, key); !api.IsNotFound(err) {
			t.Fatalf("get after finalize: %v", err)
		}
	})
}
