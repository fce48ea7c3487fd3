package provider

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	fwprovider "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// validLab is a lab the server accepts; each case below breaks one field.
func validLab() *api.LabInstanceRequest {
	l := &api.LabInstanceRequest{
		Metadata: api.ObjectMeta{Name: "lab-1", Namespace: "default"},
		Spec:     api.Spec{LabTemplate: "python:3.9-alpine", StudentEmail: "student@university.edu", DurationMinutes: 60},
	}
	l.Default()
	return l
}

// serverRejects reports whether the server's validation rejects field.
func serverRejects(l *api.LabInstanceRequest, field string) bool {
	err := api.ValidateCreate(l)
	if err == nil {
		return false
	}
	for _, f := range err.(*api.Error).Fields {
		if f.Field == field || strings.HasPrefix(f.Field, field+"[") {
			return true
		}
	}
	return false
}

func runString(v validator.String, s string) bool {
	var resp validator.StringResponse
	v.ValidateString(context.Background(), validator.StringRequest{Path: path.Root("x"), ConfigValue: types.StringValue(s)}, &resp)
	return resp.Diagnostics.HasError()
}

func runList(v validator.List, l []string) bool {
	elems := []attr.Value{}
	for _, x := range l {
		elems = append(elems, types.StringValue(x))
	}
	var resp validator.ListResponse
	v.ValidateList(context.Background(), validator.ListRequest{Path: path.Root("x"), ConfigValue: types.ListValueMust(types.StringType, elems)}, &resp)
	return resp.Diagnostics.HasError()
}

func runMap(v validator.Map, m map[string]string) bool {
	elems := map[string]attr.Value{}
	for k, x := range m {
		elems[k] = types.StringValue(x)
	}
	var resp validator.MapResponse
	v.ValidateMap(context.Background(), validator.MapRequest{Path: path.Root("x"), ConfigValue: types.MapValueMust(types.StringType, elems)}, &resp)
	return resp.Diagnostics.HasError()
}

// TestValidatorsAgreeWithServer: for every value, the plan-time validator
// rejects it exactly when the server's validation does.
func TestValidatorsAgreeWithServer(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 64)
	strCases := []struct {
		field  string
		v      validator.String
		set    func(*api.LabInstanceRequest, string)
		values []string
	}{
		{"metadata.name", validName, func(l *api.LabInstanceRequest, s string) { l.Metadata.Name = s },
			[]string{"lab-1", "a", "Lab", "-lab", "lab-", "lab_1", long, long[:63], "lab.1"}},
		{"metadata.namespace", validName, func(l *api.LabInstanceRequest, s string) { l.Metadata.Namespace = s },
			[]string{"default", "course-42", "Default", "a/b"}},
		{"spec.lab_template", validImage, func(l *api.LabInstanceRequest, s string) { l.Spec.LabTemplate = s },
			[]string{"python:3.9-alpine", "labrm/busybox:test", "registry.example.edu:5000/labs/java@sha256:" + strings.Repeat("ab", 32),
				"Python:3.9", "python:", "a b", "-x", "localhost/x:1"}},
		{"spec.student_email", validEmail, func(l *api.LabInstanceRequest, s string) { l.Spec.StudentEmail = s },
			[]string{"student@university.edu", "a.b+c@x.io", "Student <s@u.edu>", "nope", "@u.edu", "s@[127.0.0.1]"}},
		{"spec.scheduled_start_time", validStart, func(l *api.LabInstanceRequest, s string) { l.Spec.ScheduledStartTime = s },
			[]string{"2026-01-02T15:04:05Z", "2026-01-02T15:04:05+02:00", "2026-01-02", "tomorrow", "2026-01-02 15:04:05Z"}},
		{"spec.resource_limits.cpu", validCPU, func(l *api.LabInstanceRequest, s string) { l.Spec.ResourceLimits.CPU = s },
			[]string{"0.1", "1", "8", "500m", "0", "8.001", "9", "-1", "abc", "0.0001", ".5"}},
		{"spec.resource_limits.memory", validMemory, func(l *api.LabInstanceRequest, s string) { l.Spec.ResourceLimits.Memory = s },
			[]string{"32Mi", "6Mi", "5Mi", "64Gi", "65Gi", "2G", "1x", "512mi"}},
		// Requests against limits of 8 cores and 64Gi, so that only the
		// amounts' own rules apply (the comparison is ValidateConfig's).
		// "" is not among them: labd reads it as an amount left out, which
		// Terraform writes as null; the validators refuse "", which labd
		// would replace with the default, so that no plan can say "".
		{"spec.resource_requests.cpu", validRequestCPU, func(l *api.LabInstanceRequest, s string) {
			l.Spec.ResourceLimits = &api.ResourceLimits{CPU: "8", Memory: "64Gi"}
			l.Spec.ResourceRequests = &api.ResourceRequests{CPU: s, Memory: "0"}
		}, []string{"0", "50m", "0.25", "8", "8.001", "-1", "abc"}},
		{"spec.resource_requests.memory", validRequestMemory, func(l *api.LabInstanceRequest, s string) {
			l.Spec.ResourceLimits = &api.ResourceLimits{CPU: "8", Memory: "64Gi"}
			l.Spec.ResourceRequests = &api.ResourceRequests{CPU: "0", Memory: s}
		}, []string{"0", "1", "256Mi", "64Gi", "65Gi", "2GB"}},
		{"spec.workspace.mount_path", validMountPath, func(l *api.LabInstanceRequest, s string) { l.Spec.Workspace = &api.Workspace{MountPath: s} },
			[]string{"/home/student", "/w", "/", "", "home", "/a/", "/a//b", "/a/../b", "/proc", "/sys/x", "/dev", "/devx", "/a\nb"}},
		{"spec.readiness_path", validReadinessPath, func(l *api.LabInstanceRequest, s string) { l.Spec.ReadinessPath = s },
			[]string{"/", "/healthz", "/a?b=c", "healthz", "//h/x", "http://h/", "/a b", "/a#b", "/%zz"}},
	}
	for _, tc := range strCases {
		for _, s := range tc.values {
			l := validLab()
			tc.set(l, s)
			if got, want := runString(tc.v, s), serverRejects(l, tc.field); got != want {
				t.Errorf("%s %q: validator rejects=%v, server rejects=%v", tc.field, s, got, want)
			}
		}
	}

	for _, m := range []int64{-1, 0, 1, 60, 480, 481} {
		l := validLab()
		l.Spec.DurationMinutes = int(m)
		var resp validator.Int64Response
		validDuration.ValidateInt64(context.Background(), validator.Int64Request{Path: path.Root("duration_minutes"), ConfigValue: types.Int64Value(m)}, &resp)
		if got, want := resp.Diagnostics.HasError(), serverRejects(l, "spec.duration_minutes"); got != want {
			t.Errorf("duration %d: validator rejects=%v, server rejects=%v", m, got, want)
		}
	}

	intCases := []struct {
		field  string
		v      validator.Int64
		set    func(*api.LabInstanceRequest, int64)
		values []int64
	}{
		{"spec.port", validPort, func(l *api.LabInstanceRequest, n int64) { l.Spec.Port = int(n) }, []int64{0, 1, 8080, 65535, 65536, -1}},
		{"spec.idle_timeout_minutes", validIdleTimeout, func(l *api.LabInstanceRequest, n int64) { l.Spec.IdleTimeoutMinutes = int(n) }, []int64{0, 1, 480, 481, -1}},
		{"spec.security_context.run_as_user", validRunAsUser, func(l *api.LabInstanceRequest, n int64) {
			l.Spec.SecurityContext = &api.SecurityContext{RunAsUser: &n}
		}, []int64{0, 1000, 1<<31 - 1, 1 << 31, -1}},
	}
	for _, tc := range intCases {
		for _, n := range tc.values {
			l := validLab()
			tc.set(l, n)
			var resp validator.Int64Response
			tc.v.ValidateInt64(context.Background(), validator.Int64Request{Path: path.Root("x"), ConfigValue: types.Int64Value(n)}, &resp)
			if got, want := resp.Diagnostics.HasError(), serverRejects(l, tc.field); got != want {
				t.Errorf("%s %d: validator rejects=%v, server rejects=%v", tc.field, n, got, want)
			}
		}
	}
	for _, v := range []validator.String{validRequestCPU, validRequestMemory} {
		if !runString(v, "") {
			t.Errorf("%s accepts \"\"", v.Description(context.Background()))
		}
	}
	// A number an int cannot hold is refused, whatever the platform.
	var resp validator.Int64Response
	validPort.ValidateInt64(context.Background(), validator.Int64Request{Path: path.Root("port"), ConfigValue: types.Int64Value(1<<40 + 80)}, &resp)
	if !resp.Diagnostics.HasError() {
		t.Error("port 2^40+80 accepted")
	}

	tooMany := make([]string, api.MaxArgs+1)
	for i := range tooMany {
		tooMany[i] = "x"
	}
	for _, tc := range []struct {
		field string
		v     validator.List
		set   func(*api.LabInstanceRequest, []string)
	}{
		{"spec.command", validCommand, func(l *api.LabInstanceRequest, c []string) { l.Spec.Command = c }},
		{"spec.args", validArgs, func(l *api.LabInstanceRequest, c []string) { l.Spec.Args = c }},
	} {
		for _, list := range [][]string{{"httpd", "-f"}, {"sh", ""}, {""}, {"a\x00b"}, {strings.Repeat("x", api.MaxArgBytes+1)}, tooMany, {}} {
			l := validLab()
			tc.set(l, list)
			if got, want := runList(tc.v, list), serverRejects(l, tc.field); got != want {
				t.Errorf("%s %.40q: validator rejects=%v, server rejects=%v", tc.field, list, got, want)
			}
		}
	}

	many := map[string]string{}
	for i := range api.MaxEnvironment + 1 {
		many["V"+strings.Repeat("X", i)] = "1"
	}
	for _, env := range []map[string]string{
		{"LAB_TYPE": "python-basics", "_x": "", "A1": "v"},
		{"1A": "x"}, {"a-b": "x"}, {"NUL": "a\x00b"}, {"BIG": strings.Repeat("x", api.MaxEnvValueBytes+1)}, many,
	} {
		l := validLab()
		l.Spec.Environment = env
		if got, want := runMap(validEnv, env), serverRejects(l, "spec.environment"); got != want {
			t.Errorf("environment %.60v: validator rejects=%v, server rejects=%v", env, got, want)
		}
	}

	for _, labels := range []map[string]string{
		{"team": "a", "course.labrm.io/term": "2026-spring", "empty": ""},
		{"bad key!": "x"}, {"k": "v v"}, {"k": long}, {"/x": "y"}, {"Prefix.IO/x": "y"},
	} {
		l := validLab()
		l.Metadata.Labels = labels
		if got, want := runMap(validLabels, labels), serverRejects(l, "metadata.labels"); got != want {
			t.Errorf("labels %v: validator rejects=%v, server rejects=%v", labels, got, want)
		}
	}
}

func TestOtherValidators(t *testing.T) {
	t.Parallel()
	for s, bad := range map[string]bool{"RUNNING": false, "PENDING": false, "running": true, "COMPLETED": true, "": true} {
		if got := runString(validWaitFor, s); got != bad {
			t.Errorf("wait_for %q: rejects=%v, want %v", s, got, bad)
		}
	}
	for s, bad := range map[string]bool{"RUNNING": false, "TIMEOUT": false, "running": true, "DONE": true} {
		if got := runString(validPhase, s); got != bad {
			t.Errorf("phase %q: rejects=%v, want %v", s, got, bad)
		}
	}
	for _, tc := range []struct {
		m   map[string]string
		bad bool
	}{{map[string]string{"team": "a"}, false}, {map[string]string{"team": "a,b"}, true}, {map[string]string{"x y": "a"}, true}} {
		if got := runMap(validSelector, tc.m); got != tc.bad {
			t.Errorf("selector %v: rejects=%v, want %v", tc.m, got, tc.bad)
		}
	}
}

// TestValidatorPointsAtListIndex: an error on one entry of command is
// reported on that entry.
func TestValidatorPointsAtListIndex(t *testing.T) {
	t.Parallel()
	var resp validator.ListResponse
	validCommand.ValidateList(context.Background(), validator.ListRequest{
		Path:        path.Root("command"),
		ConfigValue: types.ListValueMust(types.StringType, []attr.Value{types.StringValue("sh"), types.StringUnknown(), types.StringValue("")}),
	}, &resp)
	if resp.Diagnostics.ErrorsCount() != 1 {
		t.Fatalf("diagnostics %v; want one error", resp.Diagnostics)
	}
	d := resp.Diagnostics.Errors()[0]
	wp, ok := d.(interface{ Path() path.Path })
	if !ok || !wp.Path().Equal(path.Root("command").AtListIndex(2)) || !strings.Contains(d.Detail(), "must not be empty") {
		t.Errorf("diagnostic %v %q; want on command[2] saying it must not be empty", d.Summary(), d.Detail())
	}
}

// TestValidatorPointsAtMapKey: an error on one environment variable is
// reported on that key, naming the rule.
func TestValidatorPointsAtMapKey(t *testing.T) {
	t.Parallel()
	var resp validator.MapResponse
	validEnv.ValidateMap(context.Background(), validator.MapRequest{
		Path:        path.Root("environment"),
		ConfigValue: types.MapValueMust(types.StringType, map[string]attr.Value{"OK": types.StringValue("1"), "1BAD": types.StringValue("2")}),
	}, &resp)
	if resp.Diagnostics.ErrorsCount() != 1 {
		t.Fatalf("diagnostics %v; want one error", resp.Diagnostics)
	}
	d := resp.Diagnostics.Errors()[0]
	wp, ok := d.(interface{ Path() path.Path })
	if !ok || !wp.Path().Equal(path.Root("environment").AtMapKey("1BAD")) || !strings.Contains(d.Detail(), "[A-Za-z_][A-Za-z0-9_]*") {
		t.Errorf("diagnostic %v %q; want on environment[\"1BAD\"] naming the pattern", d.Summary(), d.Detail())
	}
}

// TestSchemas: every schema passes the framework's own checks, and the
// resource's status attributes are computed only.
func TestSchemas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := New("test")()
	var presp fwprovider.SchemaResponse
	p.Schema(ctx, fwprovider.SchemaRequest{}, &presp)
	if presp.Diagnostics.HasError() {
		t.Fatal(presp.Diagnostics)
	}
	if !presp.Schema.Attributes["token"].IsSensitive() {
		t.Error("token must be sensitive")
	}

	var rresp resource.SchemaResponse
	newLabInstanceRequestResource().Schema(ctx, resource.SchemaRequest{}, &rresp)
	if d := rresp.Schema.ValidateImplementation(ctx); d.HasError() {
		t.Fatal(d)
	}
	for _, name := range []string{"uid", "phase", "container_id", "access_url", "started_at", "completed_at", "error_message", "resource_allocation", "resource_version",
		"endpoint", "last_activity", "access_token"} {
		a := rresp.Schema.Attributes[name]
		if a == nil || !a.IsComputed() || a.IsOptional() || a.IsRequired() {
			t.Errorf("%s: want computed only", name)
		}
	}
	if !rresp.Schema.Attributes["access_token"].IsSensitive() {
		t.Error("access_token must be sensitive")
	}
	for _, ds := range []datasource.DataSource{newLabInstanceRequestDataSource(), newLabInstanceRequestsDataSource()} {
		var dresp datasource.SchemaResponse
		ds.Schema(ctx, datasource.SchemaRequest{}, &dresp)
		if d := dresp.Schema.ValidateImplementation(ctx); d.HasError() {
			t.Fatal(d)
		}
	}

	// The resource and both data sources show every attribute of the lab
	// (labAttributes); status is computed only everywhere, and the data
	// sources compute all but the name and namespace that say which lab.
	var one, list datasource.SchemaResponse
	newLabInstanceRequestDataSource().Schema(ctx, datasource.SchemaRequest{}, &one)
	newLabInstanceRequestsDataSource().Schema(ctx, datasource.SchemaRequest{}, &list)
	items := list.Schema.Attributes["items"].(dschema.ListNestedAttribute).NestedObject.Attributes
	if got, want := len(rresp.Schema.Attributes), len(labAttributes)+1; got != want {
		t.Errorf("resource has %d attributes; want the lab's %d and wait_for", got, want)
	}
	if len(one.Schema.Attributes) != len(labAttributes) || len(items) != len(labAttributes) {
		t.Errorf("data sources have %d and %d attributes; want the lab's %d", len(one.Schema.Attributes), len(items), len(labAttributes))
	}
	for name, a := range labAttributes {
		r, d, item := rresp.Schema.Attributes[name], one.Schema.Attributes[name], items[name]
		if r == nil || d == nil || item == nil {
			t.Errorf("%s: in resource %v, data source %v, list items %v; want in all", name, r != nil, d != nil, item != nil)
			continue
		}
		if a.role == roleStatus && (!r.IsComputed() || r.IsOptional() || r.IsRequired()) {
			t.Errorf("resource %s: want computed only", name)
		}
		if (a.role == roleStatus) != (r.IsComputed() && !r.IsOptional()) {
			t.Errorf("resource %s: computed=%v optional=%v; want computed only exactly for status", name, r.IsComputed(), r.IsOptional())
		}
		if !item.IsComputed() || item.IsOptional() || item.IsRequired() || (name != "name" && name != "namespace" && (!d.IsComputed() || d.IsOptional() || d.IsRequired())) {
			t.Errorf("data source %s: want computed only", name)
		}
		if !r.GetType().Equal(a.attrType()) || !d.GetType().Equal(a.attrType()) || !item.GetType().Equal(a.attrType()) {
			t.Errorf("%s: types %s, %s, %s; want %s", name, r.GetType(), d.GetType(), item.GetType(), a.attrType())
		}
		if d.GetMarkdownDescription() == "" || r.GetMarkdownDescription() == "" {
			t.Errorf("%s: undocumented", name)
		}
	}
}

func TestParseImportID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]string{"default/my-lab": "default/my-lab", "my-lab": "default/my-lab", "course-1/lab": "course-1/lab",
		"a/b/c": "", "My-Lab": "", "/x": "", "x/": "", "": ""} {
		k, err := parseImportID(id)
		if want == "" {
			if err == nil {
				t.Errorf("%q: want error, got %v", id, k)
			}
			continue
		}
		if err != nil || k.String() != want {
			t.Errorf("%q = %v, %v; want %s", id, k, err, want)
		}
	}
}

func TestConversionsKeepUserForms(t *testing.T) {
	t.Parallel()
	empty := types.MapValueMust(types.StringType, map[string]attr.Value{})
	if got := mapValue(nil, empty); got.IsNull() || len(got.Elements()) != 0 {
		t.Errorf("empty map became %v", got)
	}
	if got := mapValue(api.StringMap{}, types.MapNull(types.StringType)); !got.IsNull() {
		t.Errorf("null map became %v", got)
	}
	prior := types.ObjectValueMust(limitsAttrTypes, map[string]attr.Value{"cpu": types.StringValue("0.5"), "memory": types.StringValue("1024Mi")})
	got := limitsValue(&api.ResourceLimits{CPU: "500m", Memory: "1Gi"}, prior)
	if !got.Equal(prior) {
		t.Errorf("equal limits in another form: %v, want the user's %v", got, prior)
	}
	got = limitsValue(&api.ResourceLimits{CPU: "2", Memory: "1Gi"}, prior)
	if got.Attributes()["cpu"].(types.String).ValueString() != "2" {
		t.Errorf("changed cpu not recorded: %v", got)
	}
	if v := startValue("2026-01-02T15:04:05Z", types.StringValue("2026-01-02T17:04:05+02:00")); v.ValueString() != "2026-01-02T17:04:05+02:00" {
		t.Errorf("same instant: %v", v)
	}
	// Requests keep the user's spelling as limits do; none stay null.
	preq := types.ObjectValueMust(requestsAttrTypes, map[string]attr.Value{"cpu": types.StringValue("0.05"), "memory": types.StringValue("262144Ki")})
	if got := requestsValue(&api.ResourceRequests{CPU: "50m", Memory: "256Mi"}, preq); !got.Equal(preq) {
		t.Errorf("equal requests in another form: %v, want the user's %v", got, preq)
	}
	if got := requestsValue(nil, preq); !got.IsNull() {
		t.Errorf("no requests: %v", got)
	}
	// Lists, numbers and strings the API omits when empty keep the user's
	// empty form, and are null otherwise.
	emptyList := types.ListValueMust(types.StringType, []attr.Value{})
	if got := listValue(nil, emptyList); got.IsNull() || len(got.Elements()) != 0 {
		t.Errorf("empty list became %v", got)
	}
	if got := listValue(nil, types.ListNull(types.StringType)); !got.IsNull() {
		t.Errorf("null list became %v", got)
	}
	if got := optInt(0, types.Int64Value(0)); got.IsNull() || got.ValueInt64() != 0 {
		t.Errorf("port 0 became %v", got)
	}
	if got := optInt(0, types.Int64Value(8080)); !got.IsNull() {
		t.Errorf("port gone: %v, want null", got)
	}
	if got := optStringAs("", types.StringValue("")); got.IsNull() {
		t.Errorf("empty readiness_path became null")
	}
	if got := optStringAs("", types.StringNull()); !got.IsNull() {
		t.Errorf("null readiness_path became %v", got)
	}
	psec := types.ObjectValueMust(securityAttrTypes, map[string]attr.Value{"run_as_user": types.Int64Null(), "read_only_root_filesystem": types.BoolValue(false)})
	if got := securityValue(&api.SecurityContext{}, psec); !got.Equal(psec) {
		t.Errorf("read_only_root_filesystem = false became %v", got)
	}
	if got := securityValue(&api.SecurityContext{}, types.ObjectNull(securityAttrTypes)); !got.Attributes()["read_only_root_filesystem"].IsNull() {
		t.Errorf("unset read_only_root_filesystem became %v", got)
	}
	for field, want := range map[string]string{
		"spec.duration_minutes":             "duration_minutes",
		"metadata.labels[team]":             `labels["team"]`,
		"spec.resource_limits.cpu":          "resource_limits.cpu",
		"spec.resource_limits.memory":       "resource_limits.memory",
		"spec.environment[1A]":              `environment["1A"]`,
		"metadata.name":                     "name",
		"spec.scheduled_start_time":         "scheduled_start_time",
		"metadata.finalizers[0]":            "",
		"spec.command[2]":                   "command[2]",
		"spec.args":                         "args",
		"spec.command[x]":                   "",
		"spec.port[1]":                      "",
		"spec.resource_requests.cpu":        "resource_requests.cpu",
		"spec.workspace.mount_path":         "workspace.mount_path",
		"spec.security_context.run_as_user": "security_context.run_as_user",
		"spec.idle_timeout_minutes":         "idle_timeout_minutes",
		"status.endpoint":                   "",
	} {
		p, ok := attrPath(field)
		if ok != (want != "") || (ok && p.String() != want) {
			t.Errorf("attrPath(%s) = %v, %v; want %q", field, p, ok, want)
		}
	}
}

func TestFmtDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{20 * time.Minute: "20m", 10 * time.Minute: "10m", time.Hour: "1h", 90 * time.Second: "1m30s"} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
