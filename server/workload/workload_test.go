package workload_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

func TestPermanent(t *testing.T) {
	t.Parallel()
	wrapped := fmt.Errorf("create container x: %w", fmt.Errorf("%w: nope:1 is not present and pulling it failed", workload.ErrImage))
	if f := workload.Permanent(wrapped); f != workload.ErrImage || f.Reason != "ImageUnavailable" {
		t.Fatalf("Permanent(wrapped ErrImage) = %v", f)
	}
	if !errors.Is(wrapped, workload.ErrImage) {
		t.Fatal("errors.Is(wrapped, ErrImage) = false")
	}
	if wrapped.Error() != "create container x: image unavailable: nope:1 is not present and pulling it failed" {
		t.Fatalf("message %q", wrapped.Error())
	}
	for _, err := range []error{nil, errors.New("engine down"), fmt.Errorf("inspect: %w", workload.ErrNotFound)} {
		if f := workload.Permanent(err); f != nil {
			t.Errorf("Permanent(%v) = %v, want nil (transient)", err, f)
		}
	}
}

func TestOurs(t *testing.T) {
	t.Parallel()
	ours := map[string]string{workload.LabelManagedBy: workload.ManagedBy, workload.LabelInstallation: "inst-1"}
	for _, tc := range []struct {
		labels map[string]string
		want   bool
	}{
		{ours, true},
		{map[string]string{workload.LabelManagedBy: workload.ManagedBy, workload.LabelInstallation: "inst-2"}, false},
		{map[string]string{workload.LabelManagedBy: "someone-else", workload.LabelInstallation: "inst-1"}, false},
		{map[string]string{workload.LabelInstallation: "inst-1"}, false},
		{nil, false},
	} {
		if got := workload.Ours(tc.labels, "inst-1"); got != tc.want {
			t.Errorf("Ours(%v) = %v, want %v", tc.labels, got, tc.want)
		}
	}
	if got := workload.Name("7ca48970-0000-4000-8000-000000000001"); got != "lab-7ca48970-0000-4000-8000-000000000001" {
		t.Fatalf("Name = %q", got)
	}
}

func TestResources(t *testing.T) {
	t.Parallel()
	host := workload.Resources{MilliCPU: 2000, MemoryBytes: 4 << 30}
	lab := workload.Resources{MilliCPU: 500, MemoryBytes: 64 << 20}
	if !lab.Fits(host) || host.Fits(lab) {
		t.Fatal("Fits")
	}
	if free := host.Sub(lab); free != (workload.Resources{MilliCPU: 1500, MemoryBytes: 4<<30 - 64<<20}) {
		t.Fatalf("Sub = %+v", free)
	}
	if s := lab.String(); s != "cpu 500m, memory 64Mi" {
		t.Fatalf("String = %q", s)
	}
}
