package deploy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/labrm/terraform-provider-lab/server/kubernetes"
)

// permission is one (API group, resource, verb) an RBAC rule grants.
type permission struct{ group, resource, verb string }

func (p permission) String() string {
	return fmt.Sprintf("%s %s/%s", p.verb, cmpOr(p.group, "core"), p.resource)
}

func cmpOr(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// granted expands rules into the permissions they grant; wildcards and
// rules limited to some names are reported, since they cannot be compared
// with what the engine uses.
func granted(t reporter, what string, rules []rule) map[permission]bool {
	t.Helper()
	out := map[permission]bool{}
	for _, r := range rules {
		if len(r.ResourceNames) > 0 {
			t.Errorf("%s: a rule limited to names %v", what, r.ResourceNames)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					if g == "*" || res == "*" || v == "*" {
						t.Errorf("%s: a wildcard rule %+v", what, r)
					}
					out[permission{g, res, v}] = true
				}
			}
		}
	}
	return out
}

// needed is what the engine uses, from its table: the namespaced
// permissions or the cluster-wide ones.
func needed(clusterWide bool) map[permission]bool {
	out := map[permission]bool{}
	for _, p := range kubernetes.Permissions {
		if p.ClusterWide != clusterWide {
			continue
		}
		for _, v := range p.Verbs {
			out[permission{p.APIGroup, p.Resource, v}] = true
		}
	}
	return out
}

// sameSet reports the differences between what is granted and what is
// needed, both ways: too little breaks the runtime, too much is more than
// labd should hold.
func sameSet(t reporter, what string, got, want map[permission]bool) {
	t.Helper()
	for _, p := range slices.SortedFunc(maps.Keys(want), cmpPermission) {
		if !got[p] {
			t.Errorf("%s does not grant %s, which the kubernetes runtime uses", what, p)
		}
	}
	for _, p := range slices.SortedFunc(maps.Keys(got), cmpPermission) {
		if !want[p] {
			t.Errorf("%s grants %s, which the kubernetes runtime does not use", what, p)
		}
	}
}

func cmpPermission(a, b permission) int { return strings.Compare(a.String(), b.String()) }

// checkRuntimeRBAC checks the kubernetes runtime's RBAC: labd's
// ServiceAccount, used by its pods, holds exactly the engine's permissions,
// in the labs namespace and cluster-wide.
func checkRuntimeRBAC(t reporter, c cluster) {
	t.Helper()
	c.get(t, "Namespace", labsNamespace)
	sa := c.get(t, "ServiceAccount", "labd")
	if w := spec[workload](t, c.get(t, "Deployment", "labd")); w.Template.Spec.ServiceAccountName != sa.Metadata.Name {
		t.Errorf("labd's pods run as ServiceAccount %q, want %q", w.Template.Spec.ServiceAccountName, sa.Metadata.Name)
	}
	labd := subject{Kind: "ServiceAccount", Name: sa.Metadata.Name, Namespace: sa.Metadata.Namespace}
	for _, tc := range []struct {
		binding, role string
		clusterWide   bool
	}{{"RoleBinding", "Role", false}, {"ClusterRoleBinding", "ClusterRole", true}} {
		var bindings []object
		for _, b := range c[tc.binding] {
			if slices.Contains(b.Subjects, labd) {
				bindings = append(bindings, b)
			}
		}
		if len(bindings) != 1 {
			t.Errorf("%d %ss bind labd's ServiceAccount, want 1", len(bindings), tc.binding)
			continue
		}
		b := bindings[0]
		if b.RoleRef == nil || b.RoleRef.APIGroup != "rbac.authorization.k8s.io" || b.RoleRef.Kind != tc.role || len(b.Subjects) != 1 {
			t.Errorf("%s %s: roleRef %+v, subjects %+v; want a %s, labd alone", tc.binding, b.Metadata.Name, b.RoleRef, b.Subjects, tc.role)
			continue
		}
		role := c.get(t, tc.role, b.RoleRef.Name)
		what := tc.role + " " + role.Metadata.Name
		sameSet(t, what, granted(t, what, role.Rules), needed(tc.clusterWide))
	}
}

// TestRuntimeRBAC: the manifests grant labd exactly what the kubernetes
// runtime's table says it uses (rbac_cluster_test.go shows the table is
// what the engine does).
func TestRuntimeRBAC(t *testing.T) {
	t.Parallel()
	checkRuntimeRBAC(t, index(t, loadManifests(t)))
}

// TestRuntimeRBACCatchesMistakes: a verb too many, a verb too few, a
// wildcard, or a binding to someone else fail the check.
func TestRuntimeRBACCatchesMistakes(t *testing.T) {
	t.Parallel()
	objs := loadManifests(t)
	for _, tc := range []struct {
		name   string
		mutate func(c cluster)
	}{
		{"extra verb", func(c cluster) {
			r := c["Role"]["labd-runtime"]
			r.Rules = slices.Clone(r.Rules)
			r.Rules[0].Verbs = append(slices.Clone(r.Rules[0].Verbs), "update")
			c["Role"]["labd-runtime"] = r
		}},
		{"missing verb", func(c cluster) {
			r := c["ClusterRole"]["labd-nodes"]
			r.Rules = []rule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"list"}}}
			c["ClusterRole"]["labd-nodes"] = r
		}},
		{"wildcard", func(c cluster) {
			r := c["Role"]["labd-runtime"]
			r.Rules = append(slices.Clone(r.Rules), rule{APIGroups: []string{""}, Resources: []string{"*"}, Verbs: []string{"get"}})
			c["Role"]["labd-runtime"] = r
		}},
		{"bound to another account", func(c cluster) {
			b := c["RoleBinding"]["labd-runtime"]
			b.Subjects = []subject{{Kind: "ServiceAccount", Name: "default", Namespace: namespace}}
			c["RoleBinding"]["labd-runtime"] = b
		}},
	} {
		c := index(t, objs)
		tc.mutate(c)
		if !fails(func(t reporter) { checkRuntimeRBAC(t, c) }) {
			t.Errorf("%s: passed", tc.name)
		}
	}
	c := index(t, objs)
	if fails(func(t reporter) { checkRuntimeRBAC(t, c) }) {
		t.Error("the unbroken manifests fail")
	}
}
