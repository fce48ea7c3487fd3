package servertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// EnvTestImage names the environment variable with the local test image
// (scripts/testenv.sh builds labrm/busybox:test: busybox httpd on 8080, or
// exit with $LAB_EXIT_CODE after $LAB_EXIT_AFTER seconds). No registry is
// reachable from the test machines, so tests never use any other image.
const EnvTestImage = "LAB_TEST_IMAGE"

// Docker checks that a Docker engine answers (DOCKER_HOST or the default
// socket) and holds the test image, and returns the image's name. Without
// them the test is skipped, or fails when CI=true.
func Docker(t testing.TB) string {
	t.Helper()
	img := os.Getenv(EnvTestImage)
	if img == "" {
		unavailable(t, "Docker", "%s is not set", EnvTestImage)
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		unavailable(t, "Docker", "docker client: %v", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		unavailable(t, "Docker", "ping %s: %v", cli.DaemonHost(), err)
	}
	if _, err := cli.ImageInspect(ctx, img); err != nil {
		unavailable(t, "Docker", "test image %s: %v", img, err)
	}
	return img
}
