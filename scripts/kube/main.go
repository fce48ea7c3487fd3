// Command kube is the test environment's single-node Kubernetes in one
// binary: etcd and the upstream kube-apiserver, kube-controller-manager,
// kube-scheduler and kubelet commands, chosen by the first argument
//
//	kube etcd --data-dir ...
//	kube kube-apiserver --etcd-servers ...
//
// (or by the name it is called under, through a symlink, like busybox).
//
// One binary instead of five because the five share nearly all their
// packages: on two cores the compile is the same either way, but each extra
// link of a Kubernetes command costs tens of seconds and ~150 MB of disk.
// scripts/testenv.sh builds it from this module (its own go.mod, so the main
// module's `go mod tidy` never sees Kubernetes) through the Go module proxy
// and caches it by version.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	_ "time/tzdata" // CronJob time zones, as the upstream apiserver and controller-manager

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as upstream
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

var commands = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"}

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args
	if name == "kube" || strings.HasPrefix(name, "kube.") {
		if len(os.Args) < 2 {
			fmt.Fprintf(os.Stderr, "usage: kube {%s} [flags]\n", strings.Join(commands, "|"))
			os.Exit(2)
		}
		name, args = os.Args[1], os.Args[1:]
	}
	// Upstream commands parse os.Args themselves (cobra), so drop the
	// dispatch argument from it.
	os.Args = args
	switch name {
	case "etcd":
		etcdmain.Main(args)
	case "kube-apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "kube-controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "kube-scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "kubelet":
		os.Exit(cli.Run(kubelet.NewKubeletCommand(context.Background())))
	case "commands":
		fmt.Println(strings.Join(commands, "\n"))
	default:
		fmt.Fprintf(os.Stderr, "kube: unknown command %q (want one of %s)\n", name, strings.Join(commands, ", "))
		os.Exit(2)
	}
}
