package docker

import (
	"strconv"

	"github.com/docker/docker/api/types/container"

	"github.com/labrm/terraform-provider-lab/server/workload"
)

// The hardening profile every lab container gets, in the spirit of
// Kubernetes' Pod Security Standards ("restricted" where lab images allow
// it, "baseline" where they need more):
//
//   - every capability dropped, and only capAdd given back;
//   - no-new-privileges: setuid binaries (sudo, su, ping) gain nothing;
//   - the engine's default seccomp profile (never "unconfined") and
//     AppArmor profile, as Docker applies them when not told otherwise;
//   - a pids limit (hostConfig), no privileged mode, no host mounts, no
//     devices;
//   - optionally a numeric user and a read-only root file system, per lab
//     (spec.security_context) or for the whole installation (Config).
//
// capAdd is the small set common lab images need, each for a reason:
//
//	CHOWN             entrypoints and package managers give files to the
//	                  lab's user (jupyter's start.sh, apt, pip as root)
//	DAC_OVERRIDE      root in the lab writes into directories owned by a
//	                  service user (nginx's cache, a database's data dir)
//	FOWNER            chmod and utime on files root does not own (tar and
//	                  pip preserving modes)
//	SETUID, SETGID    entrypoints switch to an unprivileged user (gosu,
//	                  su-exec, sshd's privilege separation, apt's _apt)
//	KILL              a supervisor running as root signals children that
//	                  switched users (tini, supervisord)
//	NET_BIND_SERVICE  servers listen below port 1024 (nginx on 80, sshd on 22)
//
// Docker's default set adds FSETID, SETPCAP, SETFCAP, MKNOD, NET_RAW,
// SYS_CHROOT and AUDIT_WRITE; labs do without them (NET_RAW would let a
// lab spoof packets, MKNOD make device nodes). A lab process running as
// a non-root user has no effective capabilities at all.
var capAdd = []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE"}

// tmpfsOptions mount /tmp on a read-only root file system: writable by
// everyone (sticky), no setuid or device files, exec allowed (students
// compile there). What it holds counts against the lab's memory limit.
const tmpfsOptions = "rw,nosuid,nodev,mode=1777"

// harden applies the profile to a container about to be created.
func (r *Engine) harden(cfg *container.Config, hc *container.HostConfig, spec workload.Spec) {
	hc.CapDrop = []string{"ALL"}
	hc.CapAdd = capAdd
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
