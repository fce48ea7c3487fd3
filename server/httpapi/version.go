package httpapi

import (
	"context"
	"fmt"

	"github.com/gin-gonic/gin"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// versionParam reads ?resource_version= of a list or watch: a
// non-negative integer (400 naming the field otherwise) that this store
// has handed out. A version above the store's latest position cannot have
// come from it — a typo, another installation, a restored older database —
// and a watch from there would wait in silence for changes that may never
// come; it is 400 too, saying so.
func (s *Server) versionParam(ctx context.Context, c *gin.Context) (int64, bool, error) {
	v, given, err := intParam(c, "resource_version")
	if err != nil || !given {
		return v, given, err
	}
	latest, err := s.store.LatestPosition(ctx)
	if err != nil {
		return 0, false, err
	}
	if v > latest {
		return 0, false, fieldError(api.EBADREQUEST, "resource_version",
			fmt.Sprintf("%d is newer than any version this server has issued (the latest is %d): use metadata.resource_version of a list or of an object", v, latest))
	}
	return v, true, nil
}
