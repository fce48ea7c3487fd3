package servertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/server/docker"
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
	engine, err := docker.New(docker.Config{})
	if err != nil {
		unavailable(t, "Docker", "%v", err)
	}
	defer engine.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := engine.Ping(ctx); err != nil {
		unavailable(t, "Docker", "%v", err)
	}
	if ok, err := engine.HasImage(ctx, img); err != nil || !ok {
		unavailable(t, "Docker", "test image %s: present %v, %v", img, ok, err)
	}
	return img
}

// EnvTestAppImage names the environment variable with the local test app
// image (scripts/testenv.sh builds labrm/testapp:test from
// internal/testapp: a web app with WebSocket echo, server-sent events and
// chunked streams; it exposes no port).
const EnvTestAppImage = "LAB_TEST_APP_IMAGE"

// TestApp checks, as Docker does, that the engine answers and holds the
// test app image, and returns the image's name.
func TestApp(t testing.TB) string {
	t.Helper()
	Docker(t)
	img := os.Getenv(EnvTestAppImage)
	if img == "" {
		unavailable(t, "Docker", "%s is not set", EnvTestAppImage)
	}
	engine, err := docker.New(docker.Config{})
	if err != nil {
		unavailable(t, "Docker", "%v", err)
	}
	defer engine.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if ok, err := engine.HasImage(ctx, img); err != nil || !ok {
		unavailable(t, "Docker", "test app image %s: present %v, %v", img, ok, err)
	}
	return img
}
