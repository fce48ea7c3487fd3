// Command labbench measures labd against baselines run side by side, in
// the same run on the same machine, and prints the ratios:
//
//	creates     lab creates/s through the API (--controller=false) vs
//	            pgbench running the store's own create SQL, 1/16/64 clients;
//	            pgbench with and without pg_notify
//	running     N labs POSTed at once until all are RUNNING (watched through
//	            the API) vs N direct create+start calls to the Docker API
//	            with the same image and limits
//	terraform   terraform apply of N labs, and destroy, vs the same direct
//	            starts and removals
//	list        list and get p50/p99 at 10,000 and 100,000 labs, per filter
//	controller  controller CPU and settle time with many PENDING labs whose
//	            image is missing
//	failover    new leader after SIGKILL, SIGTERM and SIGSTOP of the leader,
//	            with default and short leases
//
// It starts labd itself (the binary given by -labd) against a fresh
// PostgreSQL database per scenario, created with createdb from the
// PostgreSQL client tools, and the Docker engine at $DOCKER_HOST. -short
// runs every scenario with tiny sizes, to keep the harness from rotting
// (CI runs it); `make bench` runs the full sizes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "labbench: %v\n", err)
		os.Exit(1)
	}
}

// scenarios in the order they run by default.
var scenarios = []struct {
	name string
	run  func(ctx context.Context, b *bench) error
}{
	{"creates", runCreates},
	{"list", runList},
	{"running", runRunning},
	{"terraform", runTerraform},
	{"failover", runFailover},
	{"controller", runController},
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("labbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.labd, "labd", "bin/labd", "labd binary to measure")
	fs.StringVar(&o.provider, "provider", "bin/terraform-provider-lab", "provider binary for the terraform scenario")
	fs.StringVar(&o.terraform, "terraform", os.Getenv("TF_ACC_TERRAFORM_PATH"), "terraform binary (default $TF_ACC_TERRAFORM_PATH, then terraform on PATH)")
	fs.StringVar(&o.adminURL, "database-url", os.Getenv("LAB_TEST_DATABASE_URL"), "admin PostgreSQL URL (a role that may create databases); default $LAB_TEST_DATABASE_URL")
	fs.StringVar(&o.pgbin, "pg-bin", "/usr/lib/postgresql/15/bin", "directory of pgbench, createdb and dropdb")
	fs.StringVar(&o.image, "image", envOr("LAB_TEST_IMAGE", "labrm/busybox:test"), "image every lab and direct start runs")
	fs.StringVar(&o.dockerHost, "docker-host", envOr("DOCKER_HOST", "unix:///var/run/docker.sock"), "Docker engine")
	fs.BoolVar(&o.short, "short", false, "tiny sizes: checks that the harness works, measures nothing worth keeping")
	fs.StringVar(&o.out, "out", "", "also write the results table (markdown) to this file")
	fs.StringVar(&o.profileDir, "profile-dir", "", "save labd CPU profiles of the creates and controller scenarios here (labd --pprof-listen)")
	fs.IntVar(&o.controllerLabs, "controller-labs", 100000, "PENDING labs in the controller scenario (the goal is stated for 100,000)")
	fs.Func("labd-arg", "an extra labd flag for every scenario (repeatable), e.g. -labd-arg=--workers=16", func(s string) error {
		o.labdArgs = append(o.labdArgs, s)
		return nil
	})
	only := fs.String("run", "", "comma-separated scenarios to run (default all): "+scenarioNames())
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.adminURL == "" {
		return fmt.Errorf("no PostgreSQL: set -database-url or $LAB_TEST_DATABASE_URL (scripts/testenv.sh prints it)")
	}
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if !slices.ContainsFunc(scenarios, func(x struct {
				name string
				run  func(ctx context.Context, b *bench) error
			}) bool {
				return x.name == s
			}) {
				return fmt.Errorf("unknown scenario %q (have %s)", s, scenarioNames())
			}
			want[s] = true
		}
	}
	b := &bench{options: o, log: stderr, started: time.Now()}
	if err := b.check(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "labbench: %s\n", b.machine())
	var failed []string
	for _, s := range scenarios {
		if len(want) > 0 && !want[s.name] {
			continue
		}
		t0 := time.Now()
		b.logf("== %s", s.name)
		if err := s.run(ctx, b); err != nil {
			b.logf("%s failed: %v", s.name, err)
			failed = append(failed, s.name)
			b.add(row{Group: s.name, What: s.name + " scenario", Note: "FAILED: " + err.Error()})
		}
		b.logf("== %s took %s", s.name, time.Since(t0).Round(time.Second))
		if ctx.Err() != nil {
			break
		}
	}
	table := b.table()
	fmt.Fprint(stdout, table)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(table), 0o644); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("scenarios failed: %s", strings.Join(failed, ", "))
	}
	return ctx.Err()
}

func scenarioNames() string {
	var n []string
	for _, s := range scenarios {
		n = append(n, s.name)
	}
	return strings.Join(n, ", ")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
