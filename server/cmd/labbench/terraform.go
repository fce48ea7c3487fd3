package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// runTerraform times `terraform apply` of N labs (waiting for RUNNING, as
// the provider does by default) and `terraform destroy` (until labd has
// removed them and their containers) against N direct starts and
// removals through the Docker API. Terraform runs with -parallelism=N so
// that it does not queue the resources itself; the provider comes from
// -provider through a dev_overrides CLI configuration (nothing is
// downloaded).
func runTerraform(ctx context.Context, b *bench) error {
	n := 50
	if b.short {
		n = 2
	}
	tf := b.terraform
	if tf == "" {
		p, err := exec.LookPath("terraform")
		if err != nil {
			return fmt.Errorf("no terraform (set -terraform or $TF_ACC_TERRAFORM_PATH)")
		}
		tf = p
	}
	provider, err := filepath.Abs(b.provider)
	if err != nil {
		return err
	}
	if _, err := os.Stat(provider); err != nil {
		return fmt.Errorf("provider binary: %w (make build)", err)
	}
	d, err := newDockerAPI(b.dockerHost)
	if err != nil {
		return err
	}
	direct, directRemove, err := d.directStarts(ctx, n, b.image)
	if err != nil {
		return fmt.Errorf("direct starts: %w", err)
	}
	dbURL, drop, err := b.database(ctx, "terraform")
	if err != nil {
		return err
	}
	defer drop()
	l, err := b.startLabd(ctx, dbURL, "--capacity-cpu", "64", "--capacity-memory", "256Gi")
	if err != nil {
		return err
	}
	defer l.stop()
	dir, err := os.MkdirTemp("", "labbench-tf-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The provider binary must be named as Terraform expects in the
	// override directory.
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	if err := os.Symlink(provider, filepath.Join(bin, "terraform-provider-lab")); err != nil {
		return err
	}
	cli := fmt.Sprintf("provider_installation {\n  dev_overrides {\n    \"labrm/lab\" = %q\n  }\n  direct {}\n}\n", bin)
	main := fmt.Sprintf(`terraform {
  required_providers {
    lab = { source = "labrm/lab" }
  }
}
provider "lab" {
  endpoint = %q
}
resource "lab_instance_request" "lab" {
  count            = %d
  name             = "tf-${count.index}"
  lab_template     = %q
  student_email    = "tf-${count.index}@university.edu"
  duration_minutes = 60
  labels           = { course = "bench" }
}
`, l.base, n, b.image)
	if err := os.WriteFile(filepath.Join(dir, "cli.tfrc"), []byte(cli), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(main), 0o644); err != nil {
		return err
	}
	run := func(args ...string) (time.Duration, error) {
		cmd := exec.CommandContext(ctx, tf, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+filepath.Join(dir, "cli.tfrc"), "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
		t0 := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("terraform %s: %v: %s", strings.Join(args, " "), err, tail(string(out), 2000))
		}
		return time.Since(t0), nil
	}
	par := "-parallelism=" + strconv.Itoa(n)
	apply, err := run("apply", "-auto-approve", "-input=false", "-no-color", par)
	if err != nil {
		return err
	}
	destroy, err := run("destroy", "-auto-approve", "-input=false", "-no-color", par)
	if err != nil {
		return err
	}
	ra, rd := apply.Seconds()/direct.Seconds(), destroy.Seconds()/directRemove.Seconds()
	b.add(row{Group: "terraform", What: fmt.Sprintf("`terraform apply` of %d labs (%s)", n, par), Project: secs(apply),
		Baseline: fmt.Sprintf("%d direct starts: %s", n, secs(direct)), Ratio: fmt.Sprintf("%.2f", ra), Goal: "≤ 1.1", Met: met(ra <= 1.1)})
	b.add(row{Group: "terraform", What: fmt.Sprintf("`terraform destroy` of %d labs (%s)", n, par), Project: secs(destroy),
		Baseline: fmt.Sprintf("%d direct removals: %s", n, secs(directRemove)), Ratio: fmt.Sprintf("%.2f", rd), Goal: "≤ 1.1", Met: met(rd <= 1.1)})
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
