// Package deploy holds no code: its tests check the Kubernetes manifests
// of this directory, the container image they run (scripts/image.sh) and
// the release configuration (.goreleaser.yaml), so that the three agree
// with each other and with labd.
package deploy

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/labrm/terraform-provider-lab/server/httpapi"
	"github.com/labrm/terraform-provider-lab/server/kubernetes"
)

// The few Kubernetes fields the checks read. sigs.k8s.io/yaml goes through
// encoding/json, which matches field names case-insensitively.
type object struct {
	APIVersion string
	Kind       string
	Metadata   meta
	Spec       json.RawMessage
	Data       map[string]string // base64
	StringData map[string]string
	Rules      []rule    // Role, ClusterRole
	RoleRef    *roleRef  // RoleBinding, ClusterRoleBinding
	Subjects   []subject // RoleBinding, ClusterRoleBinding

	file string
}

type rule struct {
	APIGroups     []string
	Resources     []string
	ResourceNames []string
	Verbs         []string
}

type roleRef struct{ APIGroup, Kind, Name string }

type subject struct{ Kind, Name, Namespace string }

type meta struct {
	Name      string
	Namespace string
	Labels    map[string]string
}

type workload struct {
	Replicas    *int
	ServiceName string
	Selector    struct{ MatchLabels map[string]string }
	Template    struct {
		Metadata meta
		Spec     podSpec
	}
	VolumeClaimTemplates []struct{ Metadata meta }
}

type podSpec struct {
	ServiceAccountName string
	NodeSelector       map[string]string
	SecurityContext    struct {
		RunAsNonRoot *bool
		RunAsUser    *int64
		RunAsGroup   *int64
		FSGroup      *int64
	}
	Containers []container
	Volumes    []volume
}

type container struct {
	Name            string
	Image           string
	ImagePullPolicy string
	Env             []envVar
	Ports           []struct {
		Name          string
		ContainerPort int
	}
	ReadinessProbe  *probe
	LivenessProbe   *probe
	Resources       struct{ Requests, Limits map[string]intOrString }
	SecurityContext struct {
		RunAsNonRoot             *bool
		AllowPrivilegeEscalation *bool
		ReadOnlyRootFilesystem   *bool
		Capabilities             struct{ Drop []string }
	}
	VolumeMounts []struct {
		Name      string
		MountPath string
		ReadOnly  bool
	}
}

type envVar struct {
	Name      string
	Value     string
	ValueFrom *struct {
		FieldRef     *struct{ FieldPath string }
		SecretKeyRef *struct{ Name, Key string }
	}
}

type probe struct {
	HTTPGet *struct {
		Path string
		Port intOrString
	}
	Exec *struct{ Command []string }
}

type volume struct {
	Name   string
	Secret *struct {
		SecretName string
		Items      []struct{ Key, Path string }
	}
	HostPath *struct{ Path, Type string }
	EmptyDir *struct{}
}

type serviceSpec struct {
	ClusterIP string
	Selector  map[string]string
	Ports     []struct {
		Name       string
		Port       int
		TargetPort intOrString
	}
}

// intOrString is Kubernetes' IntOrString: 8000 or "http".
type intOrString string

func (v *intOrString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*v = intOrString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*v = intOrString(n.String())
	return nil
}

// namespace is labd's; labsNamespace the kubernetes runtime's, for labs.
const (
	namespace     = "labrm"
	labsNamespace = kubernetes.DefaultNamespace
)

// namespaceOf is where objects of a kind belong: cluster-scoped kinds
// nowhere, the runtime's Role and RoleBinding with the labs, the rest
// with labd.
func namespaceOf(kind string) string {
	switch kind {
	case "Namespace", "ClusterRole", "ClusterRoleBinding":
		return ""
	case "Role", "RoleBinding":
		return labsNamespace
	}
	return namespace
}

// reporter is the part of *testing.T the checks use, so that a test can
// run them on broken manifests and see them fail.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// fakeT records failures; Fatalf panics with errFatal, as FailNow ends
// a test.
type fakeT struct{ failed bool }

type fatal struct{}

func (f *fakeT) Helper()               {}
func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Fatalf(string, ...any) {
	f.failed = true
	panic(fatal{})
}

// fails reports whether check fails.
func fails(check func(t reporter)) (failed bool) {
	f := &fakeT{}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fatal); !ok {
				panic(r)
			}
		}
		failed = f.failed
	}()
	check(f)
	return f.failed
}

// repoFile reads a file of the repository, relative to its root.
func repoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// loadManifests parses every document of every *.yaml file here.
func loadManifests(t *testing.T) []object {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	sep := regexp.MustCompile(`(?m)^---[ \t]*$`)
	var objs []object
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range sep.Split(string(b), -1) {
			var o object
			if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
				t.Fatalf("%s document %d: %v", f, i+1, err)
			}
			if o.Kind == "" && o.APIVersion == "" {
				if strings.TrimSpace(stripComments(doc)) != "" {
					t.Fatalf("%s document %d has no kind", f, i+1)
				}
				continue
			}
			o.file = f
			objs = append(objs, o)
		}
	}
	return objs
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// cluster indexes the manifests by kind and name.
type cluster map[string]map[string]object

func index(t *testing.T, objs []object) cluster {
	t.Helper()
	c := cluster{}
	for _, o := range objs {
		if o.APIVersion == "" || o.Metadata.Name == "" {
			t.Errorf("%s: %s without apiVersion or name", o.file, o.Kind)
		}
		if want := namespaceOf(o.Kind); o.Metadata.Namespace != want {
			t.Errorf("%s: %s %s is in namespace %q, want %q", o.file, o.Kind, o.Metadata.Name, o.Metadata.Namespace, want)
		}
		if c[o.Kind] == nil {
			c[o.Kind] = map[string]object{}
		}
		if _, dup := c[o.Kind][o.Metadata.Name]; dup {
			t.Errorf("%s: %s %s defined twice", o.file, o.Kind, o.Metadata.Name)
		}
		c[o.Kind][o.Metadata.Name] = o
	}
	return c
}

func (c cluster) get(t reporter, kind, name string) object {
	t.Helper()
	o, ok := c[kind][name]
	if !ok {
		t.Fatalf("no %s %s in the manifests", kind, name)
	}
	return o
}

func spec[T any](t reporter, o object) T {
	t.Helper()
	var s T
	if err := json.Unmarshal(o.Spec, &s); err != nil {
		t.Fatalf("%s: %s %s spec: %v", o.file, o.Kind, o.Metadata.Name, err)
	}
	return s
}

// secretValue returns a key of a Secret, from stringData or data.
func (c cluster) secretValue(t reporter, name, key string) string {
	t.Helper()
	s := c.get(t, "Secret", name)
	if v, ok := s.StringData[key]; ok {
		return v
	}
	if v, ok := s.Data[key]; ok {
		var b []byte
		if err := json.Unmarshal([]byte(strconv.Quote(v)), &b); err != nil {
			t.Fatalf("Secret %s key %s: not base64: %v", name, key, err)
		}
		return string(b)
	}
	t.Fatalf("Secret %s has no key %q", name, key)
	return ""
}

// subset reports whether every label of sel is in labels.
func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func env(c container, name string) *envVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// port resolves a probe's or Service's target port (a number or a
// container port's name) to a number, or 0.
func port(c container, p intOrString) int {
	if n, err := strconv.Atoi(string(p)); err == nil {
		for _, cp := range c.Ports {
			if cp.ContainerPort == n {
				return n
			}
		}
		return 0
	}
	for _, cp := range c.Ports {
		if cp.Name == string(p) {
			return cp.ContainerPort
		}
	}
	return 0
}

func mountPath(c container, volume string) string {
	for _, m := range c.VolumeMounts {
		if m.Name == volume {
			return m.MountPath
		}
	}
	return ""
}

// checkWorkload checks what every Deployment and StatefulSet needs: a
// selector matching its pods, Secret references that resolve, volumes that
// exist, resources.
func checkWorkload(t reporter, c cluster, o object, w workload) {
	t.Helper()
	name := o.Kind + " " + o.Metadata.Name
	if len(w.Selector.MatchLabels) == 0 || !subset(w.Selector.MatchLabels, w.Template.Metadata.Labels) {
		t.Errorf("%s: selector %v does not match its pod labels %v", name, w.Selector.MatchLabels, w.Template.Metadata.Labels)
	}
	vols := map[string]volume{}
	for _, v := range w.VolumeClaimTemplates {
		vols[v.Metadata.Name] = volume{Name: v.Metadata.Name}
	}
	for _, v := range w.Template.Spec.Volumes {
		vols[v.Name] = v
		if v.Secret != nil {
			for _, it := range v.Secret.Items {
				c.secretValue(t, v.Secret.SecretName, it.Key)
			}
			if len(v.Secret.Items) == 0 {
				c.get(t, "Secret", v.Secret.SecretName)
			}
		}
	}
	for _, ct := range w.Template.Spec.Containers {
		for _, e := range ct.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				c.secretValue(t, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
			}
		}
		for _, m := range ct.VolumeMounts {
			if _, ok := vols[m.Name]; !ok {
				t.Errorf("%s: container %s mounts unknown volume %s", name, ct.Name, m.Name)
			}
		}
		if ct.Resources.Requests["cpu"] == "" || ct.Resources.Requests["memory"] == "" || ct.Resources.Limits["memory"] == "" {
			t.Errorf("%s: container %s lacks cpu/memory requests or a memory limit: %+v", name, ct.Name, ct.Resources)
		}
		if ct.SecurityContext.AllowPrivilegeEscalation == nil || *ct.SecurityContext.AllowPrivilegeEscalation {
			t.Errorf("%s: container %s may escalate privileges", name, ct.Name)
		}
		if !slices.Contains(ct.SecurityContext.Capabilities.Drop, "ALL") {
			t.Errorf("%s: container %s keeps its capabilities", name, ct.Name)
		}
	}
	if sc := w.Template.Spec.SecurityContext; sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("%s: pods may run as root", name)
	}
}

// checkService checks that a Service selects pods of workload and that
// its target ports are ports of their container.
func checkService(t reporter, svc object, w workload, wantPort int) {
	t.Helper()
	s := spec[serviceSpec](t, svc)
	if len(s.Selector) == 0 || !subset(s.Selector, w.Template.Metadata.Labels) {
		t.Errorf("Service %s: selector %v does not match pod labels %v", svc.Metadata.Name, s.Selector, w.Template.Metadata.Labels)
	}
	if len(s.Ports) != 1 || s.Ports[0].Port != wantPort || port(w.Template.Spec.Containers[0], s.Ports[0].TargetPort) != wantPort {
		t.Errorf("Service %s: ports %+v, want %d to the container's %d", svc.Metadata.Name, s.Ports, wantPort, wantPort)
	}
}

// makeVersion is VERSION in the GNUmakefile: the tag `make image` builds.
func makeVersion(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^VERSION \?= (\S+)$`).FindStringSubmatch(repoFile(t, "GNUmakefile"))
	if m == nil {
		t.Fatal("GNUmakefile sets no VERSION")
	}
	return m[1]
}

// labdEnv is every LAB_* variable labd's source names.
func labdEnv(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "server", "cmd", "labd", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	re := regexp.MustCompile(`"(LAB_[A-Z0-9_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
	}
	if !names["LAB_DATABASE_URL"] || !names["LAB_API_TOKEN_FILE"] {
		t.Fatalf("labd's settings not found in its source: %v", names)
	}
	return names
}

// TestManifests checks the production set-up: three labd replicas named
// after their pods, their Secrets, probes, Service and image, and the
// PostgreSQL they use.
func TestManifests(t *testing.T) {
	t.Parallel()
	c := index(t, loadManifests(t))
	c.get(t, "Namespace", namespace)

	// labd.
	dep := c.get(t, "Deployment", "labd")
	w := spec[workload](t, dep)
	checkWorkload(t, c, dep, w)
	if w.Replicas == nil || *w.Replicas != 3 {
		t.Errorf("labd replicas %s, want 3", string(mustJSON(w.Replicas)))
	}
	if len(w.Template.Spec.Containers) != 1 {
		t.Fatalf("labd pods have %d containers, want 1", len(w.Template.Spec.Containers))
	}
	ct := w.Template.Spec.Containers[0]
	if want := "labrm/labd:" + makeVersion(t); ct.Image != want && !strings.HasSuffix(ct.Image, "/"+want) {
		t.Errorf("labd image %q, want %q (what make image builds)", ct.Image, want)
	}
	if ct.ImagePullPolicy != "IfNotPresent" {
		t.Errorf("labd imagePullPolicy %q: a local image needs IfNotPresent", ct.ImagePullPolicy)
	}
	known := labdEnv(t)
	for _, e := range ct.Env {
		if strings.HasPrefix(e.Name, "LAB_") && !known[e.Name] {
			t.Errorf("labd env %s is no setting of labd", e.Name)
		}
	}
	if e := env(ct, "LAB_INSTANCE_ID"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("LAB_INSTANCE_ID is not the pod name: %+v", e)
	}
	for _, name := range []string{"LAB_DATABASE_URL"} {
		if e := env(ct, name); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("%s does not come from a Secret: %+v", name, e)
		}
	}
	// The listen port is the container port.
	if e := env(ct, "LAB_LISTEN"); e == nil || !strings.HasSuffix(e.Value, ":8000") {
		t.Errorf("LAB_LISTEN %+v, want port 8000", e)
	}
	if len(ct.Ports) != 1 || ct.Ports[0].ContainerPort != 8000 {
		t.Errorf("labd container ports %+v, want 8000", ct.Ports)
	}

	// The token file is the Secret's api-tokens key, mounted read-only,
	// and the placeholders in it cannot be used as they are.
	var tokenVol *volume
	for i, v := range w.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == "labd" {
			tokenVol = &w.Template.Spec.Volumes[i]
		}
	}
	if tokenVol == nil || len(tokenVol.Secret.Items) != 1 || tokenVol.Secret.Items[0].Key != "api-tokens" {
		t.Fatalf("no volume with the labd Secret's api-tokens: %+v", tokenVol)
	}
	tokenPath := mountPath(ct, tokenVol.Name) + "/" + tokenVol.Secret.Items[0].Path
	if e := env(ct, "LAB_API_TOKEN_FILE"); e == nil || e.Value != tokenPath {
		t.Errorf("LAB_API_TOKEN_FILE %+v, want %s (the mounted Secret)", e, tokenPath)
	}
	for _, m := range ct.VolumeMounts {
		if m.Name == tokenVol.Name && !m.ReadOnly {
			t.Errorf("the token volume is mounted read-write")
		}
	}
	entries := 0
	for _, line := range strings.Split(c.secretValue(t, "labd", "api-tokens"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entries++
		role, secret, ok := strings.Cut(line, ":")
		if !ok || (role != "rw" && role != "ro") {
			t.Errorf("api-tokens line %q: want rw:TOKEN or ro:TOKEN", line)
		}
		if httpapi.CheckTokenSecret(secret) == nil {
			t.Errorf("api-tokens placeholder %q is a valid token: labd would start with a published secret", line)
		}
	}
	if entries < 2 {
		t.Errorf("api-tokens shows %d tokens, want a read-write and a read-only example", entries)
	}

	// The Docker socket: mounted from the host where DOCKER_HOST says.
	var sock *volume
	for i, v := range w.Template.Spec.Volumes {
		if v.HostPath != nil && v.HostPath.Path == "/var/run/docker.sock" {
			sock = &w.Template.Spec.Volumes[i]
		}
	}
	if sock == nil || sock.HostPath.Type != "Socket" {
		t.Fatalf("no hostPath volume of type Socket for /var/run/docker.sock: %+v", sock)
	}
	if e := env(ct, "DOCKER_HOST"); e == nil || e.Value != "unix://"+mountPath(ct, sock.Name) {
		t.Errorf("DOCKER_HOST %+v, want unix://%s", e, mountPath(ct, sock.Name))
	}

	// Probes.
	for _, p := range []struct {
		name  string
		probe *probe
		path  string
	}{{"readiness", ct.ReadinessProbe, "/api/status/ready"}, {"liveness", ct.LivenessProbe, "/api/status/health"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || port(ct, p.probe.HTTPGet.Port) != 8000 {
			t.Errorf("%s probe %+v, want GET %s on port 8000", p.name, p.probe, p.path)
		}
	}

	// Hardening, and the image's user.
	uid := regexp.MustCompile(`(?m)^UID_GID=(\d+)$`).FindStringSubmatch(repoFile(t, "scripts/image.sh"))
	if uid == nil {
		t.Fatal("scripts/image.sh sets no UID_GID")
	}
	if sc := w.Template.Spec.SecurityContext; sc.RunAsUser == nil || strconv.FormatInt(*sc.RunAsUser, 10) != uid[1] {
		t.Errorf("labd runAsUser %v, want the image's user %s", sc.RunAsUser, uid[1])
	}
	if ro := ct.SecurityContext.ReadOnlyRootFilesystem; ro == nil || !*ro {
		t.Error("labd's root file system is writable")
	}
	checkService(t, c.get(t, "Service", "labd"), w, 8000)

	// PostgreSQL, and the database URL pointing at it.
	sts := c.get(t, "StatefulSet", "postgres")
	pw := spec[workload](t, sts)
	checkWorkload(t, c, sts, pw)
	if pw.ServiceName != "postgres" {
		t.Errorf("StatefulSet postgres serviceName %q", pw.ServiceName)
	}
	pgSvc := c.get(t, "Service", "postgres")
	checkService(t, pgSvc, pw, 5432)
	if s := spec[serviceSpec](t, pgSvc); s.ClusterIP != "None" {
		t.Errorf("Service postgres is not headless (clusterIP %q)", s.ClusterIP)
	}
	pg := pw.Template.Spec.Containers[0]
	if pg.ReadinessProbe == nil || pg.LivenessProbe == nil {
		t.Error("postgres has no probes")
	}
	dbSecret, dbKey := dep.secretRef(t, ct, "LAB_DATABASE_URL")
	dbURL := c.secretValue(t, dbSecret, dbKey)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("database-url: %v", err)
	}
	password, _ := u.User.Password()
	if u.Scheme != "postgres" || u.Hostname() != "postgres."+namespace+".svc" || u.Port() != "5432" ||
		u.User.Username() != env(pg, "POSTGRES_USER").Value || u.Path != "/"+env(pg, "POSTGRES_DB").Value {
		t.Errorf("database-url %s does not match the postgres Service and StatefulSet", u.Redacted())
	}
	pgPass := env(pg, "POSTGRES_PASSWORD")
	if pgPass == nil || pgPass.ValueFrom == nil || pgPass.ValueFrom.SecretKeyRef == nil {
		t.Fatal("POSTGRES_PASSWORD does not come from a Secret")
	}
	if password != c.secretValue(t, pgPass.ValueFrom.SecretKeyRef.Name, pgPass.ValueFrom.SecretKeyRef.Key) {
		t.Error("the password in database-url is not the postgres Secret's")
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// secretRef returns the Secret name and key an env var of ct reads.
func (o object) secretRef(t reporter, ct container, name string) (string, string) {
	t.Helper()
	e := env(ct, name)
	if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Fatalf("%s: %s does not come from a Secret", o.Metadata.Name, name)
	}
	return e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key
}

// TestManifestsCatchMistakes feeds the checks broken manifests, so that
// they are known to fail when they should.
func TestManifestsCatchMistakes(t *testing.T) {
	t.Parallel()
	objs := loadManifests(t)
	// A secretKeyRef to a key the Secret lacks.
	c := index(t, objs)
	dep := c.get(t, "Deployment", "labd")
	broken := bytes.Replace(dep.Spec, []byte(`"key":"database-url"`), []byte(`"key":"database-uri"`), 1)
	if bytes.Equal(broken, dep.Spec) {
		t.Fatal("could not break the database-url reference")
	}
	dep.Spec = broken
	if !fails(func(t reporter) { checkWorkload(t, c, dep, spec[workload](t, dep)) }) {
		t.Error("a reference to a missing Secret key passed")
	}
	// A Service selecting other pods.
	svc := c.get(t, "Service", "labd")
	svc.Spec = bytes.Replace(svc.Spec, []byte(`"app.kubernetes.io/name":"labd"`), []byte(`"app.kubernetes.io/name":"lab"`), 1)
	w := spec[workload](t, c.get(t, "Deployment", "labd"))
	if !fails(func(t reporter) { checkService(t, svc, w, 8000) }) {
		t.Error("a Service selecting no labd pod passed")
	}
	// The unbroken ones pass the same checks.
	if fails(func(t reporter) { checkService(t, c.get(t, "Service", "labd"), w, 8000) }) {
		t.Error("the labd Service fails")
	}
}
