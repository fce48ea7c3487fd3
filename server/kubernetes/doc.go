// Package kubernetes runs labs' workloads as pods on a Kubernetes cluster:
// it implements the controller's reconcile.Engine with client-go, and
// feeds the controller's work queue with every pod change (Events). It is the only importer of client-go outside test
// helpers. Placement is Kubernetes': labd still admits labs first come
// first served against Capacity, so that its queue stays visible, and the
// scheduler picks a node for each.
//
// # Pods
//
// A lab is one pod in the labs namespace (Config.Namespace, "labs"),
// named workload.Name(uid), with one container, ContainerName, and restart
// policy Never: an exit is for the controller to judge. The name is the
// idempotency key: Ensure adopts a pod of that name whose labels carry
// the same resource uid and spec hash, and replaces one that does not.
// The workload's labels are put on the pod under LabelPrefix
// ("resource-uid" becomes "lab.labrm.io/resource-uid"); a value that is no
// valid label value goes into an annotation of the same key instead; List
// and Inspect give the workload's own keys back. The container gets the
// spec's limits as its limits and its requests (what labd reserved for
// the lab) as its requests, its command and arguments, and its app port
// with a readiness probe (an HTTP GET of the readiness path, else a TCP
// connection), so that the kubelet decides when the app answers
// (Status.Readiness); Status.Endpoint is the pod's IP and that port. The
// pod is hardened as every lab is (harden.go): no service account token,
// no service links, no privilege escalation, every capability dropped
// but workload.Capabilities, the RuntimeDefault seccomp profile, the
// lab's (or the installation's) user and read-only root file system; its
// termination grace period is Spec.StopTimeout. Spec.PidsLimit has no
// per-pod equivalent: the kubelet's podPidsLimit bounds processes.
//
// # Workspaces
//
// A lab with a workspace mounts the student's PersistentVolumeClaim
// (EnsureWorkspace makes it on first use, ReadWriteOnce, of
// Config.StorageClass). ReadWriteOnce lets the pods of one node share a
// claim and no others, so every pod of one workspace carries its name in
// a label and a required pod affinity to the pods with that label on the
// same node (kubernetes.io/hostname): a student's second lab while the
// first runs goes to the first's node, or waits, Pending with the
// scheduler's reason, until there is room there or the first has ended.
// ListWorkspaces and RemoveWorkspace list and delete the claims (the
// volume's reclaim policy decides what happens to the files).
//
// # State model
//
// Status is read from the pod (and its node):
//
//	Pending, not scheduled       Pending, Unplaced; Reason and Message are
//	                             the scheduler's once it has tried
//	                             (Unschedulable, "0/3 nodes are available:
//	                             3 Insufficient cpu"): the controller keeps
//	                             the lab PENDING, waiting for capacity
//	Pending on a node            Pending; Reason is the kubelet's word for
//	                             the wait (ContainerCreating, ErrImagePull)
//	Running                      Running; Readiness is the pod's Ready
//	                             condition, which the kubelet's readiness
//	                             probe decides
//	Succeeded, Failed            Exited with the container's exit code and
//	                             reason (OOMKilled sets OOMKilled) and its
//	                             termination message when it failed; Reason
//	                             Stopped after Stop, Evicted after an
//	                             eviction (with the kubelet's message), or the
//	                             kubelet's reason when it rejected the pod
//	being deleted                Exited, Reason Removed (workload.ReasonRemoved)
//	node lost                    Exited, Reason NodeLost, ExitCode -1
//
// A node is lost when its Ready condition has not been True for
// Config.NodeLostTimeout (default one minute; the node lifecycle controller
// marks a silent node Unknown after its 40-50 s grace period, so a lab is
// reported lost within about two minutes of its node going silent), or when
// the node no longer exists.
//
// An image the kubelet cannot have (ErrImagePull, ImagePullBackOff,
// ErrImageNeverPull, InvalidImageName) is permanent: Ensure returns the
// status with an error wrapping workload.ErrImage; Inspect reports the pod
// Pending with the kubelet's reason. Every other error is transient.
//
// # Stop and Remove
//
// Stop keeps the pod: it sets the pod's active deadline to one second,
// which makes the kubelet end it (SIGTERM, SIGKILL after the grace period)
// and mark it Failed; the exit and the logs stay readable until Remove. It
// waits until the pod has ended. Remove deletes the pod with its grace
// period and waits until it is gone; a pod that never reached a node, or
// whose node is lost, is deleted at once (no kubelet would confirm).
//
// # Cache and notifications
//
// New starts two informers (watches, not polling): the pods labelled
// managed-by=labd in the labs namespace and the cluster's nodes. Inspect,
// List, Capacity and node loss read their caches; a pod the cache lacks is
// read from the API server before it is reported not found, so a lagging
// cache never makes a lab vanish. Ensure always reads the API server.
// Every pod change, every change of a node's readiness, and a node's
// reaching the lost bound, queue the pod's name for Events (a
// workload.EventChanged with the pod's workload labels, which name the
// lab: the controller's EngineEvents); the queue coalesces a name until
// it is delivered.
// A watch that fails is restarted by client-go with backoff and logged.
//
// # Capacity
//
// Capacity is the sum of the allocatable CPU and memory of the usable
// nodes: Ready, not cordoned, matching Config.NodeSelector, every
// NoSchedule or NoExecute taint tolerated by Config.Tolerations.
// Largest is the most one usable node allocates, per resource: a lab
// asking for more can never run.
//
// # Network policy, workspaces, permissions
//
// EnsureNetworkPolicy applies a NetworkPolicy that admits ingress to this
// installation's labs only from labd's pods; it is enforced only by a CNI
// plugin that implements NetworkPolicy. EnsureWorkspace creates a
// student's PersistentVolumeClaim of Config.StorageClass. Permissions lists
// the RBAC rules all of this needs.
package kubernetes
