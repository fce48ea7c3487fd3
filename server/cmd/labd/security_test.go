package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/labrm/terraform-provider-lab/internal/api"
	"github.com/labrm/terraform-provider-lab/server/servertest"
)

// TestSecurityEndToEnd: labd on PostgreSQL and Docker with
// --allowed-images refuses any other image at create (422 naming the
// field, nothing stored), runs an allowed one with the lab's
// security_context, and the container shows the hardening profile in
// docker inspect.
func TestSecurityEndToEnd(t *testing.T) {
	t.Parallel()
	image := servertest.Docker(t)
	dbURL := servertest.PostgresURL(t)
	removeInstallationContainers(t, dbURL, "")
	p := startLabd(t, "security", dbURL, "--allowed-images=registry.example.edu/labs/*,"+image)
	url := "http://" + p.addr + "/api/lab-instances/"

	r := rawDo("POST", url, "application/json", labBody("elsewhere", "docker.io/someone/miner:latest", nil))
	if pr := r.problem(t); r.status != http.StatusUnprocessableEntity || len(pr.Errors) != 1 || pr.Errors[0].Field != "lab_template" {
		t.Fatalf("a disallowed image: %d %s", r.status, r.body)
	}
	if r := rawDo("GET", url+"elsewhere", "", ""); r.status != http.StatusNotFound {
		t.Fatalf("the refused lab was stored: %d", r.status)
	}

	body := strings.Replace(labBody("hardened", image, nil), `"name"`, `"security_context":{"run_as_user":1000,"read_only_root_filesystem":true},"name"`, 1)
	if r := rawDo("POST", url, "application/json", body); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	ctx := context.Background()
	var l *api.LabInstanceRequest
	servertest.Eventually(t, "the hardened lab RUNNING", 60*time.Second, func() bool {
		var err error
		l, err = p.cl.Get(ctx, api.Key{Namespace: "default", Name: "hardened"})
		return err == nil && l.Status.Phase == api.PhaseRunning
	})
	out, err := exec.Command("docker", "inspect", "--format", "{{json .HostConfig}}|{{json .Config.User}}", l.Status.ContainerID).CombinedOutput()
	if err != nil {
		t.Fatalf("docker inspect: %v %s", err, out)
	}
	hcJSON, user, _ := strings.Cut(strings.TrimSpace(string(out)), "|")
	var hc struct {
		CapDrop, CapAdd, SecurityOpt []string
		ReadonlyRootfs               bool
		Tmpfs                        map[string]string
		PidsLimit                    *int64
		Privileged                   bool
	}
	if err := json.Unmarshal([]byte(hcJSON), &hc); err != nil {
		t.Fatal(err)
	}
	if user != `"1000"` || !hc.ReadonlyRootfs || hc.Tmpfs["/tmp"] == "" || strings.Join(hc.CapDrop, ",") != "ALL" ||
		strings.Contains(strings.Join(hc.CapAdd, ","), "NET_RAW") || strings.Join(hc.SecurityOpt, ",") != "no-new-privileges:true" ||
		hc.PidsLimit == nil || *hc.PidsLimit <= 0 || hc.Privileged {
		t.Fatalf("docker inspect: user %s, host config %s", user, hcJSON)
	}
}
