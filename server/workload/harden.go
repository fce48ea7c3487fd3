package workload

// Capabilities are the Linux capabilities every engine gives back to a
// lab's processes after dropping them all: the small set common lab
// images need, each for a reason, and nothing more. One list for every
// engine, so that a lab is confined the same on Docker and on Kubernetes.
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
// SYS_CHROOT and AUDIT_WRITE (so do containerd's and CRI-O's); labs do
// without them (NET_RAW would let a lab spoof packets, MKNOD make device
// nodes). A lab process running as a non-root user has no effective
// capabilities at all.
var Capabilities = []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE"}
