package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// MaxSavedLogBytes is how much of an ended lab's output is kept in the
// store (its end) once its workload is removed.
const MaxSavedLogBytes = 64 << 10

// cleanup finishes an ended lab (COMPLETED or FAILED) on the engine: its
// workload is stopped if still running, its last output saved in the
// store (GET .../logs answers from there), the workload removed and its
// absence confirmed; a reservation still recorded is released. Each step
// is idempotent, so an interrupted cleanup is simply run again. The
// student's workspace is not touched: it keeps the files.
func (c *Controller) cleanup(ctx context.Context, lab *api.LabInstanceRequest, ctr *workload.Status) error {
	if ctr != nil {
		if ctr.State == workload.Running {
			if err := c.cfg.Engine.Stop(ctx, ctr.Name, c.cfg.StopTimeout); err != nil {
				return fmt.Errorf("stop container: %w", err)
			}
		}
		if err := c.saveLogs(ctx, lab, ctr.Name); err != nil {
			return err
		}
		if err := c.cfg.Engine.Remove(ctx, ctr.Name); err != nil {
			return fmt.Errorf("remove container: %w", err)
		}
		if _, err := c.cfg.Engine.Inspect(ctx, ctr.Name); !errors.Is(err, workload.ErrNotFound) {
			if err == nil {
				err = errors.New("container still exists after removal")
			}
			return fmt.Errorf("confirm container removal: %w", err)
		}
	}
	if len(lab.Status.ResourceAllocation) == 0 {
		return nil
	}
	return c.write(ctx, lab, "", func(x *api.LabInstanceRequest) error {
		x.Status.ResourceAllocation = nil
		return nil
	})
}

// saveLogs keeps the end of the workload's output with the lab.
func (c *Controller) saveLogs(ctx context.Context, lab *api.LabInstanceRequest, name string) error {
	out, err := c.cfg.Engine.Logs(ctx, name, 0)
	if errors.Is(err, workload.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read output to keep: %w", err)
	}
	tail, truncated := logTail(out, MaxSavedLogBytes)
	err = c.cfg.Store.SaveLabLogs(ctx, lab.Metadata.UID, store.LabLogs{Output: tail, Truncated: truncated, SavedAt: c.cfg.Now()}, c.fence())
	if err != nil {
		return fmt.Errorf("keep output: %w", err)
	}
	return nil
}

// logTail is the end of out in at most max bytes, starting at a line (or,
// for a line longer than that, at a character) boundary. Pure.
func logTail(out string, max int) (string, bool) {
	if len(out) <= max {
		return out, false
	}
	tail := out[len(out)-max:]
	if i := strings.IndexByte(tail, '\n'); i >= 0 && i < len(tail)-1 {
		return tail[i+1:], true
	}
	for len(tail) > 0 && !utf8.RuneStart(tail[0]) {
		tail = tail[1:]
	}
	return tail, true
}
