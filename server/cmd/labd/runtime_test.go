package main

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server"
	"github.com/labrm/terraform-provider-lab/server/kubernetes"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/servertest/kubetest"
	"github.com/labrm/terraform-provider-lab/server/store"
	"github.com/labrm/terraform-provider-lab/server/workload"
)

// labRuntime is one engine labs run on, as the process tests see it: the
// HA and crash tests run once per runtime (eachRuntime), with the same
// assertions.
type labRuntime struct {
	name string
	// image is the test image, present on the engine.
	image string
	// flags point labd at the engine: nothing for Docker (the shared
	// engine), a namespace of the test's own on the test cluster.
	flags []string
	// list returns every workload on the engine, of any installation.
	list func(t *testing.T) []workload.Status
	// remove removes one workload by name.
	remove func(t *testing.T, name string)
	// kill kills a lab's container with SIGKILL behind labd's back (through
	// the engine's API when killsThroughAPI); removeBehind removes its
	// workload at once, as someone other than labd would.
	kill            func(t *testing.T, lab *api.LabInstanceRequest)
	killsThroughAPI bool
	removeBehind    func(t *testing.T, lab *api.LabInstanceRequest)
	// cluster and namespace, on kubernetes: the test cluster and the
	// test's namespace there.
	cluster   *kubetest.Cluster
	namespace string
}

// eachRuntime runs fn as a parallel subtest per runtime: docker, then
// kubernetes. A runtime that is not available skips its subtest (fails it
// under CI), as servertest does.
func eachRuntime(t *testing.T, fn func(t *testing.T, rt *labRuntime)) {
	for _, name := range []string{server.RuntimeDocker, server.RuntimeKubernetes} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, newRuntime(t, name))
		})
	}
}

// newRuntime connects to the runtime called name.
func newRuntime(t *testing.T, name string) *labRuntime {
	t.Helper()
	if name == server.RuntimeDocker {
		image := servertest.Docker(t)
		return &labRuntime{name: name, image: image,
			list: func(t *testing.T) []workload.Status { return listDocker(t, "") },
			remove: func(t *testing.T, name string) {
				removeDocker(t, "", name)
			},
			kill: func(t *testing.T, lab *api.LabInstanceRequest) {
				dockerCLI(t, "kill", "--signal", "KILL", lab.Status.ContainerID)
			},
			killsThroughAPI: true,
			removeBehind: func(t *testing.T, lab *api.LabInstanceRequest) {
				dockerCLI(t, "rm", "-f", lab.Status.ContainerID)
			},
		}
	}
	c := kubetest.Connect(t)
	ns := c.Namespace(t)
	// One engine per test, watching the test's namespace: what labd's
	// engine would see there.
	e, err := kubernetes.New(context.Background(), kubernetes.Config{RESTConfig: c.Config, Namespace: ns, Installation: "test-observer",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	return &labRuntime{name: name, image: c.Image, cluster: c, namespace: ns,
		flags: []string{"--runtime=kubernetes", "--kubeconfig=" + c.Kubeconfig, "--kubernetes-namespace=" + ns},
		list: func(t *testing.T) []workload.Status {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			all, err := e.List(ctx)
			if err != nil {
				t.Fatalf("list pods: %v", err)
			}
			return all
		},
		remove: func(t *testing.T, name string) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := e.Remove(ctx, name); err != nil {
				t.Logf("remove pod %s: %v", name, err)
			}
		},
		kill: func(t *testing.T, lab *api.LabInstanceRequest) { killPodContainer(t, c, ns, lab) },
		removeBehind: func(t *testing.T, lab *api.LabInstanceRequest) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			grace := int64(0)
			err := c.Client.CoreV1().Pods(ns).Delete(ctx, workload.Name(lab.Metadata.UID), metav1.DeleteOptions{GracePeriodSeconds: &grace})
			if err != nil {
				t.Fatalf("delete the pod of %s: %v", lab.Metadata.Name, err)
			}
		},
	}
}

// dockerCLI runs the docker command line on the shared engine.
func dockerCLI(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		t.Fatalf("docker %v: %v %s", args, err, out)
	}
}

// killPodContainer SIGKILLs the processes of a lab's container on the
// node (this machine), as the kernel's or an operator's kill would: not
// through the Kubernetes API, which has no kill. A process is the
// container's when its cgroup path names the container's id (with either
// cgroup driver).
func killPodContainer(t *testing.T, c *kubetest.Cluster, ns string, lab *api.LabInstanceRequest) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, workload.Name(lab.Metadata.UID), metav1.GetOptions{})
	if err != nil || len(pod.Status.ContainerStatuses) == 0 {
		t.Fatalf("the pod of %s: %v", lab.Metadata.Name, err)
	}
	_, id, ok := strings.Cut(pod.Status.ContainerStatuses[0].ContainerID, "://")
	if !ok || id == "" {
		t.Fatalf("the pod of %s has container id %q", lab.Metadata.Name, pod.Status.ContainerStatuses[0].ContainerID)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	killed := 0
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains(string(b), id) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if err == nil && syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	if killed == 0 {
		t.Fatalf("no process of container %s (lab %s) found to kill", id, lab.Metadata.Name)
	}
}

// workloads lists the runtime's workloads of the installation whose
// database is dbURL.
func (rt *labRuntime) workloads(t *testing.T, dbURL string) []workload.Status {
	t.Helper()
	id := installationID(t, dbURL)
	var out []workload.Status
	for _, w := range rt.list(t) {
		if workload.Ours(w.Labels, id) {
			out = append(out, w)
		}
	}
	return out
}

// removeWorkloads removes, when the test ends, whatever workloads the
// installation of dbURL left on the runtime.
func (rt *labRuntime) removeWorkloads(t *testing.T, dbURL string) {
	t.Cleanup(func() {
		for _, w := range rt.workloads(t, dbURL) {
			rt.remove(t, w.Name)
		}
	})
}

// installationID reads the installation id of the store at dbURL.
func installationID(t *testing.T, dbURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, store.Config{URL: dbURL})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id, err := db.InstallationID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
