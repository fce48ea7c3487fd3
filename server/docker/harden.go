package docker

import (
	"slices"
	"strconv"

	"github.com/docker/docker/api/types/container"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// The hardening profile every lab container gets, in the spirit of
// Kubernetes' Pod Security Standards ("restricted" where lab images allow
// it, "baseline" where they need more):
//
//   - every capability dropped, and only workload.Capabilities given back;
//   - no-new-privileges: setuid binaries (sudo, su, ping) gain nothing;
//   - the engine's default seccomp profile (never "unconfined") and
//     AppArmor profile, as Docker applies them when not told otherwise;
//   - a pids limit (hostConfig), no privileged mode, no host mounts, no
//     devices;
//   - optionally a numeric user and a read-only root file system, per lab
//     (spec.security_context) or for the whole installation (Config).
//
// The capabilities given back are workload.Capabilities, the same for every
// engine (see there why each). A lab process running as a non-root user
// has no effective capabilities at all.

// tmpfsOptions mount /tmp on a read-only root file system: writable by
// everyone (sticky), no setuid or device files, exec allowed (students
// compile there). What it holds counts against the lab's memory limit.
const tmpfsOptions = "rw,nosuid,nodev,mode=1777"

// harden applies the profile to a container about to be created.
func (r *Engine) harden(cfg *container.Config, hc *container.HostConfig, spec workload.Spec) {
	hc.CapDrop = []string{"ALL"}
	hc.CapAdd = slices.Clone(workload.Capabilities)
	hc.SecurityOpt = []string{"no-new-privileges:true"}
	hc.Privileged = false

	uid := spec.RunAsUser
	if uid == nil {
		uid = r.runAsUser
	}
	if uid != nil {
		// A numeric user only, as Kubernetes' runAsUser: the primary
		// group is the image's for that user (0 when the image does not
		// know it, which grants nothing by itself).
		cfg.User = strconv.FormatInt(*uid, 10)
	}
	if spec.ReadOnlyRootFilesystem || r.readOnlyRootfs {
		hc.ReadonlyRootfs = true
		// /tmp stays writable. Mounts (the student's workspace volume,
		// added to hc.Mounts by whoever mounts it) are writable unless
		// their Mount.ReadOnly says otherwise: ReadonlyRootfs concerns
		// the image's file system only.
		if hc.Tmpfs == nil {
			hc.Tmpfs = map[string]string{}
		}
		hc.Tmpfs["/tmp"] = tmpfsOptions
	}
}
