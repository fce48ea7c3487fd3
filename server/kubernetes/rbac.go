package kubernetes

// Permission is one RBAC rule the engine needs.
type Permission struct {
	APIGroup string // "" is the core group
	Resource string // "pods/log" for a subresource
	Verbs    []string
	// ClusterWide rules belong in a ClusterRole; the others in a Role in
	// the labs namespace.
	ClusterWide bool
}

// Permissions is every API request the engine makes, as RBAC rules: what
// labd's Role in the labs namespace and its ClusterRole must grant, and
// no more. examples/deploy's tests check the manifests against this table
// and run the engine under exactly those rules, recording the requests it
// makes. Besides these, Ping reads /readyz, which Kubernetes lets every
// authenticated client read (system:public-info-viewer).
//
//	pods                    get: Ensure, and Inspect or Stop when the cache lacks the pod
//	                        list, watch: the informer (List before it has synced)
//	                        create: Ensure; delete: Remove, and Ensure replacing a pod
//	                        patch: Stop (the active deadline)
//	pods/log                get: Logs
//	persistentvolumeclaims  get, create: EnsureWorkspace (Ensure of a lab with a workspace)
//	                        list: ListWorkspaces; delete: RemoveWorkspace
//	networkpolicies         create, patch: EnsureNetworkPolicy (a server-side apply
//	                        patch; one that creates the policy needs create too)
//	nodes (cluster-wide)    list, watch: the node informer (Capacity, Largest, node loss)
var Permissions = []Permission{
	{Resource: "pods", Verbs: []string{"get", "list", "watch", "create", "delete", "patch"}},
	{Resource: "pods/log", Verbs: []string{"get"}},
	{Resource: "persistentvolumeclaims", Verbs: []string{"get", "list", "create", "delete"}},
	{APIGroup: "networking.k8s.io", Resource: "networkpolicies", Verbs: []string{"create", "patch"}},
	{Resource: "nodes", Verbs: []string{"list", "watch"}, ClusterWide: true},
}
