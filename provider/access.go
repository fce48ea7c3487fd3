package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/internal/client"
)

// readAccessToken reads the lab's access token, for its access_token
// attribute, from GET .../access. A provider configured with a read-only
// API token may not (403): the attribute is then null, as it is for a lab
// labd no longer has; so is it against a labd without access tokens (an
// older one answers 404). The token itself is never logged.
func readAccessToken(ctx context.Context, c *client.Client, key api.Key) (types.String, error) {
	acc, err := c.Access(ctx, key)
	switch {
	case err == nil:
		return types.StringValue(acc.Token), nil
	case api.ErrorCode(err) == api.EFORBIDDEN:
		tflog.Debug(ctx, "access_token left null: the API token may not read it (a read-write one can)", map[string]any{"lab": key.String()})
		return types.StringNull(), nil
	case api.IsNotFound(err):
		return types.StringNull(), nil
	}
	return types.StringNull(), fmt.Errorf("read the access token of lab %s: %w", key, err)
}
