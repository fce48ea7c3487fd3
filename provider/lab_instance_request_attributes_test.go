package provider

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// fullLab sets every field of the spec, so that a field added to api.Spec
// and forgotten in fromAPI or toAPI fails TestLabValuesRoundTrip.
func fullLab() *api.LabInstanceRequest {
	started, completed := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), time.Date(2026, 1, 2, 16, 4, 5, 0, time.UTC)
	active := time.Date(2026, 1, 2, 15, 30, 0, 0, time.FixedZone("BRT", -3*3600))
	uid := int64(1000)
	return &api.LabInstanceRequest{
		APIVersion: api.APIVersion, Kind: api.Kind,
		Metadata: api.ObjectMeta{Name: "lab-1", Namespace: "course-1", UID: "u-1", ResourceVersion: 7, Labels: api.StringMap{"team": "a"}},
		Spec: api.Spec{
			LabTemplate: "python:3.9-alpine", StudentEmail: "s@university.edu", DurationMinutes: 45,
			ScheduledStartTime: "2026-01-02T15:00:00Z", Environment: api.StringMap{"LAB_TYPE": "x"},
			ResourceLimits:   &api.ResourceLimits{CPU: "0.5", Memory: "512Mi"},
			ResourceRequests: &api.ResourceRequests{CPU: "50m", Memory: "256Mi"},
			Workspace:        &api.Workspace{MountPath: "/home/student"},
			Command:          []string{"httpd", "-f"}, Args: []string{"-p", "8080", ""},
			Port: 8080, ReadinessPath: "/healthz", IdleTimeoutMinutes: 30,
			SecurityContext: &api.SecurityContext{RunAsUser: &uid, ReadOnlyRootFilesystem: true},
		},
		Status: api.Status{
			Phase: api.PhaseFailed, ContainerID: "c-1", AccessURL: "http://localhost:8000/labs/course-1/lab-1/", StartedAt: &started, CompletedAt: &completed,
			ErrorMessage: "boom", ResourceAllocation: api.StringMap{"cpu": "0.5"},
			Endpoint: "172.18.0.5:8080", LastActivity: &active,
		},
	}
}

// unsetFields names the fields of a struct (and of the structs it points
// to) left at their zero value.
func unsetFields(prefix string, v reflect.Value) []string {
	var out []string
	for i := range v.NumField() {
		f, name := v.Field(i), prefix+v.Type().Field(i).Name
		switch {
		case f.IsZero():
			out = append(out, name)
		case f.Kind() == reflect.Pointer && f.Elem().Kind() == reflect.Struct:
			out = append(out, unsetFields(name+".", f.Elem())...)
		}
	}
	return out
}

// TestLabValuesRoundTrip: the one converter carries every argument from the
// API and back, every status value from the API, and its model fits the
// resource's and both data sources' schemas.
func TestLabValuesRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := fullLab()
	if unset := unsetFields("Spec.", reflect.ValueOf(l.Spec)); len(unset) > 0 {
		t.Fatalf("fullLab leaves %v unset: set every spec field, and convert it in labValues", unset)
	}

	v := labData(l, types.StringValue("4JFW5XU2QKTN7ZHM3LPYBVC6AE"))
	back, diags := v.toAPI(ctx)
	if diags.HasError() {
		t.Fatal(diags)
	}
	if !reflect.DeepEqual(back.Spec, l.Spec) || !reflect.DeepEqual(back.Metadata.Labels, l.Metadata.Labels) || back.Key() != l.Key() {
		t.Errorf("toAPI(fromAPI(lab)) = %+v %v %v; want %+v %v %v", back.Spec, back.Metadata.Labels, back.Key(), l.Spec, l.Metadata.Labels, l.Key())
	}
	for _, c := range []struct {
		name      string
		got, want attr.Value
	}{
		{"id", v.ID, types.StringValue("course-1/lab-1")},
		{"uid", v.UID, types.StringValue("u-1")},
		{"phase", v.Phase, types.StringValue("FAILED")},
		{"container_id", v.ContainerID, types.StringValue("c-1")},
		{"access_url", v.AccessURL, types.StringValue("http://localhost:8000/labs/course-1/lab-1/")},
		{"access_token", v.AccessToken, types.StringValue("4JFW5XU2QKTN7ZHM3LPYBVC6AE")},
		{"started_at", v.StartedAt, types.StringValue("2026-01-02T15:04:05Z")},
		{"completed_at", v.CompletedAt, types.StringValue("2026-01-02T16:04:05Z")},
		{"error_message", v.ErrorMessage, types.StringValue("boom")},
		{"resource_version", v.ResourceVersion, types.Int64Value(7)},
		{"endpoint", v.Endpoint, types.StringValue("172.18.0.5:8080")},
		{"last_activity", v.LastActivity, types.StringValue("2026-01-02T18:30:00Z")},
		{"port", v.Port, types.Int64Value(8080)},
		{"idle_timeout_minutes", v.IdleTimeoutMinutes, types.Int64Value(30)},
		{"args", v.Args, types.ListValueMust(types.StringType, []attr.Value{types.StringValue("-p"), types.StringValue("8080"), types.StringValue("")})},
		{"security_context", v.SecurityContext, types.ObjectValueMust(securityAttrTypes, map[string]attr.Value{
			"run_as_user": types.Int64Value(1000), "read_only_root_filesystem": types.BoolValue(true)})},
	} {
		if !c.got.Equal(c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if got := v.ResourceAllocation.Elements()["cpu"]; !types.StringValue("0.5").Equal(got) {
		t.Errorf("resource_allocation = %v, want cpu 0.5", v.ResourceAllocation)
	}

	// A new lab has no status: its status values are null, not "".
	empty := labData(&api.LabInstanceRequest{Metadata: l.Metadata, Spec: l.Spec}, types.StringNull())
	for name, got := range map[string]attr.Value{"container_id": empty.ContainerID, "started_at": empty.StartedAt, "resource_allocation": empty.ResourceAllocation,
		"endpoint": empty.Endpoint, "last_activity": empty.LastActivity, "access_token": empty.AccessToken} {
		if !got.IsNull() {
			t.Errorf("%s of a lab without status = %v, want null", name, got)
		}
	}

	// The model fits every schema built from labAttributes.
	var rresp resource.SchemaResponse
	newLabInstanceRequestResource().Schema(ctx, resource.SchemaRequest{}, &rresp)
	state := tfsdk.State{Schema: rresp.Schema}
	m := labModel{labValues: v, WaitFor: types.StringValue("RUNNING"), Timeouts: timeouts.Value{Object: types.ObjectNull(
		map[string]attr.Type{"create": types.StringType, "update": types.StringType, "delete": types.StringType})}}
	if d := state.Set(ctx, &m); d.HasError() {
		t.Errorf("resource state: %v", d)
	}
	var dresp datasource.SchemaResponse
	newLabInstanceRequestDataSource().Schema(ctx, datasource.SchemaRequest{}, &dresp)
	if d := (&tfsdk.State{Schema: dresp.Schema}).Set(ctx, &v); d.HasError() {
		t.Errorf("data source state: %v", d)
	}
	newLabInstanceRequestsDataSource().Schema(ctx, datasource.SchemaRequest{}, &dresp)
	list := labListModel{Labels: types.MapNull(types.StringType), Items: []labValues{v, empty}}
	if d := (&tfsdk.State{Schema: dresp.Schema}).Set(ctx, &list); d.HasError() {
		t.Errorf("list data source state: %v", d)
	}
}

// TestResourceTuningMistakes: a tuning of an attribute the lab does not
// have, or of another kind of attribute, stops the schema from being built.
func TestResourceTuningMistakes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ path, want string }{
		{"nmae", `tuning of "nmae": the lab has no such attribute`},
		{"resource_limits.gpu", `tuning of "resource_limits.gpu": the lab has no such attribute`},
		{"duration_minutes", `tuning of "duration_minutes": it is a schema.Int64Attribute, the tuning is for a schema.StringAttribute`},
		{"command", `tuning of "command": it is a schema.ListAttribute, the tuning is for a schema.StringAttribute`},
		{"security_context.read_only_root_filesystem", `tuning of "security_context.read_only_root_filesystem": it is a schema.BoolAttribute, the tuning is for a schema.StringAttribute`},
	} {
		func() {
			defer func() {
				if r := recover(); r != tc.want {
					t.Errorf("tuning %s: recovered %v; want %q", tc.path, r, tc.want)
				}
			}()
			labResourceAttributes(map[string]resourceTuning{tc.path: tune(func(*schema.StringAttribute) {})})
		}()
	}
}
