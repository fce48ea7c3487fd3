package deploy

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/labrm/terraform-provider-lab/server/kubernetes"
	"github.com/labrm/terraform-provider-lab/server/servertest"
	"github.com/labrm/terraform-provider-lab/server/servertest/kubetest"
	labworkload "github.com/labrm/terraform-provider-lab/server/workload"
)

// TestRuntimeRBACOnTheCluster runs the kubernetes engine through a lab's
// whole life as labd's ServiceAccount, bound to the manifests' Role and
// ClusterRole and nothing else, against the test cluster's API server
// (RBAC authorization), and records every request it makes: each is
// allowed, and together they use every permission the manifests grant.
// So the rules are enough, and none is unused.
func TestRuntimeRBACOnTheCluster(t *testing.T) {
	c := kubetest.Connect(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	objs := index(t, loadManifests(t))
	labs, home := c.Namespace(t), c.Namespace(t) // the labs' and labd's namespaces
	class, _ := c.Volume(t, "16Mi")
	suffix := strings.TrimPrefix(home, "t-")
	admin := c.Client

	// labd's ServiceAccount and the manifests' rules, in the test's namespaces.
	sa := objs.get(t, "ServiceAccount", "labd").Metadata.Name
	if _, err := admin.CoreV1().ServiceAccounts(home).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: home}}
	role := objs.get(t, "Role", "labd-runtime")
	if _, err := admin.RbacV1().Roles(labs).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: role.Metadata.Name}, Rules: policyRules(role.Rules)}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings(labs).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Metadata.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Metadata.Name},
		Subjects:   subjects,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	clusterRole := objs.get(t, "ClusterRole", "labd-nodes")
	crName := clusterRole.Metadata.Name + "-" + suffix // cluster-wide: one per test
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: crName}, Rules: policyRules(clusterRole.Rules)}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: crName},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: crName},
		Subjects:   subjects,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if err := admin.RbacV1().ClusterRoleBindings().Delete(ctx, crName, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete cluster role binding: %v", err)
		}
		if err := admin.RbacV1().ClusterRoles().Delete(ctx, crName, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete cluster role: %v", err)
		}
	})

	// Its token, as a pod of labd would have it.
	tok, err := admin.CoreV1().ServiceAccounts(home).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", home, sa, err)
	}
	asLabd := rest.AnonymousClientConfig(c.Config)
	asLabd.BearerToken = tok.Status.Token
	// The authorizer learns of new bindings from its own watch: wait until
	// it has (with a client of its own, not the one recorded).
	probe, err := k8s.NewForConfig(asLabd)
	if err != nil {
		t.Fatal(err)
	}
	servertest.Eventually(t, "the ServiceAccount's bindings to take effect", 30*time.Second, func() bool {
		_, errPods := probe.CoreV1().Pods(labs).List(ctx, metav1.ListOptions{Limit: 1})
		_, errNodes := probe.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1})
		return errPods == nil && errNodes == nil
	})

	rec := &requests{}
	recorded := rest.CopyConfig(asLabd)
	recorded.WrapTransport = rec.wrap
	e, err := kubernetes.New(ctx, kubernetes.Config{
		RESTConfig:      recorded,
		Namespace:       labs,
		Installation:    "inst-" + suffix,
		ImagePullPolicy: corev1.PullNever,
		StorageClass:    class,
		WorkspaceSize:   "16Mi",
		LabdNamespace:   home,
		Logger:          slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s as labd's ServiceAccount: %v", what, err)
		}
	}
	step("Ping", e.Ping(ctx))
	capacity, err := e.Capacity(ctx)
	step("Capacity", err)
	if capacity.MilliCPU <= 0 {
		t.Fatalf("Capacity %+v", capacity)
	}
	_, err = e.Largest(ctx)
	step("Largest", err)
	step("EnsureNetworkPolicy", e.EnsureNetworkPolicy(ctx))
	step("EnsureNetworkPolicy again", e.EnsureNetworkPolicy(ctx))
	ws := map[string]string{labworkload.LabelManagedBy: labworkload.ManagedBy, labworkload.LabelInstallation: "inst-" + suffix,
		"kind": "workspace", labworkload.LabelNamespace: "default", "student": "ada@uni.edu"}
	step("EnsureWorkspace", e.EnsureWorkspace(ctx, "ws-"+suffix, ws))
	step("EnsureWorkspace again", e.EnsureWorkspace(ctx, "ws-"+suffix, ws))

	uid := uuid.NewString()
	spec := labworkload.Spec{
		Name: labworkload.Name(uid), Image: c.Image, Limits: labworkload.Resources{MilliCPU: 20, MemoryBytes: 32 << 20}, StopTimeout: time.Second,
		Labels:    map[string]string{labworkload.LabelResourceUID: uid, labworkload.LabelSpecHash: "h1", labworkload.LabelInstallation: "inst-" + suffix},
		Workspace: &labworkload.Mount{Workspace: "ws-" + suffix, Path: "/home/student", Labels: ws},
	}
	_, err = e.Ensure(ctx, spec)
	step("Ensure", err)
	servertest.Eventually(t, "the lab to run", time.Minute, func() bool {
		st, err := e.Inspect(ctx, spec.Name)
		return err == nil && st.State == labworkload.Running
	})
	list, err := e.List(ctx)
	step("List", err)
	if len(list) != 1 || list[0].Name != spec.Name {
		t.Fatalf("List = %+v", list)
	}
	_, err = e.Logs(ctx, spec.Name, 10)
	step("Logs", err)
	workspaces, err := e.ListWorkspaces(ctx)
	step("ListWorkspaces", err)
	if len(workspaces) != 1 || workspaces[0].Name != "ws-"+suffix {
		t.Fatalf("ListWorkspaces = %+v", workspaces)
	}
	if err := e.RemoveWorkspace(ctx, "ws-"+suffix); !errors.Is(err, labworkload.ErrInUse) {
		t.Fatalf("RemoveWorkspace of a mounted workspace = %v, want ErrInUse", err)
	}
	step("Stop", e.Stop(ctx, spec.Name, time.Second))
	step("Remove", e.Remove(ctx, spec.Name))
	step("RemoveWorkspace", e.RemoveWorkspace(ctx, "ws-"+suffix))

	used, denied := rec.permissions(t)
	for _, d := range denied {
		t.Errorf("denied: %s", d)
	}
	grantedAll := needed(false)
	maps.Copy(grantedAll, needed(true))
	for _, p := range slices.SortedFunc(maps.Keys(grantedAll), cmpPermission) {
		if !used[p] {
			t.Errorf("the engine never used %s: the manifests grant more than it needs (or the test misses a step)", p)
		}
	}
	for _, p := range slices.SortedFunc(maps.Keys(used), cmpPermission) {
		if !grantedAll[p] {
			t.Errorf("the engine used %s, which kubernetes.Permissions does not list", p)
		}
	}
	t.Logf("%d requests, using %v", rec.count(), slices.SortedFunc(maps.Keys(used), cmpPermission))
}

func policyRules(rules []rule) []rbacv1.PolicyRule {
	out := make([]rbacv1.PolicyRule, 0, len(rules))
	for _, r := range rules {
		out = append(out, rbacv1.PolicyRule{APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames, Verbs: r.Verbs})
	}
	return out
}

// requests records the requests a client makes and their answers.
type requests struct {
	mu  sync.Mutex
	all []request
}

type request struct {
	method, path string
	watch        bool
	status       int
}

func (r *requests) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		w := req.URL.Query().Get("watch")
		r.mu.Lock()
		r.all = append(r.all, request{req.Method, req.URL.Path, w == "true" || w == "1", status})
		r.mu.Unlock()
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (r *requests) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.all)
}

// permissions turns the recorded resource requests into the RBAC
// permissions they need, as the API server's request info does; requests
// to non-resource paths (/readyz) are left out. denied lists the requests
// answered 403.
func (r *requests) permissions(t *testing.T) (used map[permission]bool, denied []string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	used = map[permission]bool{}
	for _, req := range r.all {
		if req.status == http.StatusForbidden {
			denied = append(denied, req.method+" "+req.path)
		}
		p, ok := requestPermission(req)
		if !ok {
			continue
		}
		used[p] = true
		if p.verb == "patch" && req.status == http.StatusCreated {
			// An apply patch that creates the object is authorized as a
			// create too.
			p.verb = "create"
			used[p] = true
		}
	}
	return used, denied
}

// requestPermission reads /api/v1/[namespaces/NS/]RESOURCE[/NAME[/SUB]]
// and /apis/GROUP/VERSION/..., as RBAC sees them.
func requestPermission(req request) (permission, bool) {
	segs := strings.Split(strings.Trim(req.path, "/"), "/")
	var p permission
	switch {
	case len(segs) >= 3 && segs[0] == "api":
		segs = segs[2:]
	case len(segs) >= 4 && segs[0] == "apis":
		p.group, segs = segs[1], segs[3:]
	default:
		return p, false // /readyz, /version, discovery
	}
	if len(segs) >= 3 && segs[0] == "namespaces" {
		segs = segs[2:]
	}
	p.resource = segs[0]
	named := len(segs) >= 2
	if len(segs) >= 3 {
		p.resource += "/" + segs[2]
	}
	switch {
	case req.method == http.MethodGet && req.watch:
		p.verb = "watch"
	case req.method == http.MethodGet && named:
		p.verb = "get"
	case req.method == http.MethodGet:
		p.verb = "list"
	case req.method == http.MethodPost:
		p.verb = "create"
	case req.method == http.MethodPut:
		p.verb = "update"
	case req.method == http.MethodPatch:
		p.verb = "patch"
	case req.method == http.MethodDelete && named:
		p.verb = "delete"
	case req.method == http.MethodDelete:
		p.verb = "deletecollection"
	default:
		return p, false
	}
	return p, true
}

// TestRequestPermission: the recorder reads requests as RBAC does.
func TestRequestPermission(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		req  request
		want string
	}{
		{request{method: "GET", path: "/api/v1/namespaces/labs/pods"}, "list core/pods"},
		{request{method: "GET", path: "/api/v1/namespaces/labs/pods", watch: true}, "watch core/pods"},
		{request{method: "GET", path: "/api/v1/namespaces/labs/pods/lab-1"}, "get core/pods"},
		{request{method: "GET", path: "/api/v1/namespaces/labs/pods/lab-1/log"}, "get core/pods/log"},
		{request{method: "PATCH", path: "/api/v1/namespaces/labs/pods/lab-1"}, "patch core/pods"},
		{request{method: "DELETE", path: "/api/v1/namespaces/labs/pods/lab-1"}, "delete core/pods"},
		{request{method: "POST", path: "/api/v1/namespaces/labs/persistentvolumeclaims"}, "create core/persistentvolumeclaims"},
		{request{method: "PATCH", path: "/apis/networking.k8s.io/v1/namespaces/labs/networkpolicies/p"}, "patch networking.k8s.io/networkpolicies"},
		{request{method: "GET", path: "/api/v1/nodes"}, "list core/nodes"},
		{request{method: "GET", path: "/api/v1/nodes/n1"}, "get core/nodes"},
		{request{method: "GET", path: "/readyz"}, ""},
	} {
		p, ok := requestPermission(tc.req)
		if got := map[bool]string{true: p.String()}[ok]; got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.req.method, tc.req.path, got, tc.want)
		}
	}
}
