package client

import (
	"context"
	"net/http"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// MaxPerLab asks labd for the largest limits one lab can ever be given
// (GET /api/status/capacity, its "max_per_lab": what one engine or node
// can run at most). ok is false when the server does not say (an older
// labd without the route or the field): callers then skip the check.
func (c *Client) MaxPerLab(ctx context.Context) (max api.Resources, ok bool, err error) {
	var out struct {
		MaxPerLab *api.Resources `json:"max_per_lab"`
	}
	_, err = c.doJSON(ctx, request{method: http.MethodGet, path: "api/status/capacity", idempotent: true}, &out)
	switch {
	case api.IsNotFound(err):
		return api.Resources{}, false, nil
	case err != nil:
		return api.Resources{}, false, err
	case out.MaxPerLab == nil || out.MaxPerLab.CPU == "" || out.MaxPerLab.Memory == "":
		return api.Resources{}, false, nil
	}
	return *out.MaxPerLab, true, nil
}
