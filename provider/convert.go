package provider

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// Conversions of single values between the API and Terraform, which
// labValues.fromAPI and toAPI are made of, and the mapping of labd's errors
// onto the attributes at fault.

// mapValue turns an API map into a Terraform map. The API does not tell an
// empty map from an absent one, so an empty answer keeps the form the
// prior value (plan or state) had: null stays null and {} stays {}, and
// plans settle.
func mapValue(m api.StringMap, prior types.Map) types.Map {
	if len(m) == 0 {
		if !prior.IsNull() && !prior.IsUnknown() && len(prior.Elements()) == 0 {
			return types.MapValueMust(types.StringType, map[string]attr.Value{})
		}
		return types.MapNull(types.StringType)
	}
	elems := make(map[string]attr.Value, len(m))
	for k, v := range m {
		elems[k] = types.StringValue(v)
	}
	return types.MapValueMust(types.StringType, elems)
}

// apiMap turns a known Terraform map into an API map (nil for null).
func apiMap(ctx context.Context, m types.Map) (api.StringMap, diag.Diagnostics) {
	if m.IsNull() || m.IsUnknown() {
		return nil, nil
	}
	out := map[string]string{}
	diags := m.ElementsAs(ctx, &out, false)
	return out, diags
}

// optString is null for "", since the API omits empty status fields.
func optString(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

// timeString renders a time as RFC 3339 in UTC; null for none.
func timeString(t *time.Time) types.String {
	if t == nil || t.IsZero() {
		return types.StringNull()
	}
	return types.StringValue(t.UTC().Format(time.RFC3339))
}

// limitsValue renders resource_limits, keeping the prior spelling of an
// amount the server reports in another but equal form ("0.5" vs "500m").
func limitsValue(l *api.ResourceLimits, prior types.Object) types.Object {
	return resourcesValue(l, prior, limitsAttrTypes)
}

// requestsValue renders resource_requests as limitsValue renders limits.
// labd defaults absent requests, so a lab has them unless it was stored
// before requests existed; then they are null, as in the state of such a
// lab (see requestsDefault).
func requestsValue(r *api.ResourceRequests, prior types.Object) types.Object {
	return resourcesValue(r, prior, requestsAttrTypes)
}

func resourcesValue(r *api.Resources, prior types.Object, t map[string]attr.Type) types.Object {
	if r == nil {
		return types.ObjectNull(t)
	}
	cpu, mem := r.CPU, r.Memory
	if !prior.IsNull() && !prior.IsUnknown() {
		attrs := prior.Attributes()
		if p, ok := attrs["cpu"].(types.String); ok && !p.IsNull() && !p.IsUnknown() && sameCPU(p.ValueString(), cpu) {
			cpu = p.ValueString()
		}
		if p, ok := attrs["memory"].(types.String); ok && !p.IsNull() && !p.IsUnknown() && sameMemory(p.ValueString(), mem) {
			mem = p.ValueString()
		}
	}
	return resourcesObject(api.Resources{CPU: cpu, Memory: mem}, t)
}

func resourcesObject(r api.Resources, t map[string]attr.Type) types.Object {
	return types.ObjectValueMust(t, map[string]attr.Value{"cpu": types.StringValue(r.CPU), "memory": types.StringValue(r.Memory)})
}

func sameCPU(a, b string) bool {
	x, err1 := api.ParseCPU(a)
	y, err2 := api.ParseCPU(b)
	return err1 == nil && err2 == nil && x == y
}

func sameMemory(a, b string) bool {
	x, err1 := api.ParseMemory(a)
	y, err2 := api.ParseMemory(b)
	return err1 == nil && err2 == nil && x == y
}

// apiResources reads a known resource_limits or resource_requests object
// (nil for null or unknown; an unknown amount reads as "").
func apiResources(o types.Object) *api.Resources {
	if o.IsNull() || o.IsUnknown() {
		return nil
	}
	attrs := o.Attributes()
	return &api.Resources{CPU: attrString(attrs, "cpu"), Memory: attrString(attrs, "memory")}
}

func attrString(attrs map[string]attr.Value, k string) string {
	if s, ok := attrs[k].(types.String); ok {
		return s.ValueString()
	}
	return ""
}

// workspaceValue renders workspace; null for none.
func workspaceValue(w *api.Workspace) types.Object {
	if w == nil {
		return types.ObjectNull(workspaceAttrTypes)
	}
	return types.ObjectValueMust(workspaceAttrTypes, map[string]attr.Value{"mount_path": types.StringValue(w.MountPath)})
}

// apiWorkspace reads a known workspace object.
func apiWorkspace(o types.Object) *api.Workspace {
	if o.IsNull() || o.IsUnknown() {
		return nil
	}
	return &api.Workspace{MountPath: attrString(o.Attributes(), "mount_path")}
}

// listValue turns an API list into a Terraform list of strings. As with
// maps, the API does not tell an empty list from an absent one, so an empty
// answer keeps the prior form: null stays null and [] stays [].
func listValue(l []string, prior types.List) types.List {
	if len(l) == 0 {
		if !prior.IsNull() && !prior.IsUnknown() && len(prior.Elements()) == 0 {
			return types.ListValueMust(types.StringType, []attr.Value{})
		}
		return types.ListNull(types.StringType)
	}
	elems := make([]attr.Value, len(l))
	for i, s := range l {
		elems[i] = types.StringValue(s)
	}
	return types.ListValueMust(types.StringType, elems)
}

// apiList turns a known Terraform list into an API list (nil for null).
func apiList(ctx context.Context, l types.List) ([]string, diag.Diagnostics) {
	if l.IsNull() || l.IsUnknown() {
		return nil, nil
	}
	out := []string{}
	diags := l.ElementsAs(ctx, &out, false)
	return out, diags
}

// optInt renders an optional number the API omits when 0: 0 stays 0 where
// the prior value was 0, and is null otherwise.
func optInt(n int, prior types.Int64) types.Int64 {
	if n == 0 && (prior.IsNull() || prior.IsUnknown() || prior.ValueInt64() != 0) {
		return types.Int64Null()
	}
	return types.Int64Value(int64(n))
}

// optStringAs renders an optional string the API omits when "": "" stays
// "" where the prior value was "", and is null otherwise.
func optStringAs(s string, prior types.String) types.String {
	if s == "" && !prior.IsNull() && !prior.IsUnknown() && prior.ValueString() == "" {
		return prior
	}
	return optString(s)
}

// securityValue renders security_context, keeping the prior form of what
// the API omits: a false read_only_root_filesystem written as false.
func securityValue(sc *api.SecurityContext, prior types.Object) types.Object {
	if sc == nil {
		return types.ObjectNull(securityAttrTypes)
	}
	user := types.Int64Null()
	if sc.RunAsUser != nil {
		user = types.Int64Value(*sc.RunAsUser)
	}
	ro := types.BoolValue(sc.ReadOnlyRootFilesystem)
	if !sc.ReadOnlyRootFilesystem {
		ro = types.BoolNull()
		if !prior.IsNull() && !prior.IsUnknown() {
			if p, ok := prior.Attributes()["read_only_root_filesystem"].(types.Bool); ok && !p.IsNull() && !p.IsUnknown() && !p.ValueBool() {
				ro = p
			}
		}
	}
	return types.ObjectValueMust(securityAttrTypes, map[string]attr.Value{"run_as_user": user, "read_only_root_filesystem": ro})
}

// apiSecurity reads a known security_context object.
func apiSecurity(o types.Object) *api.SecurityContext {
	if o.IsNull() || o.IsUnknown() {
		return nil
	}
	sc := &api.SecurityContext{}
	attrs := o.Attributes()
	if u, ok := attrs["run_as_user"].(types.Int64); ok && !u.IsNull() && !u.IsUnknown() {
		sc.RunAsUser = u.ValueInt64Pointer()
	}
	if ro, ok := attrs["read_only_root_filesystem"].(types.Bool); ok {
		sc.ReadOnlyRootFilesystem = ro.ValueBool()
	}
	return sc
}

// startValue keeps the prior spelling of scheduled_start_time when the
// server's denotes the same instant, and "" as the user wrote it.
func startValue(s string, prior types.String) types.String {
	if !prior.IsNull() && !prior.IsUnknown() {
		p := prior.ValueString()
		if p == s {
			return prior
		}
		pt, err1 := api.ParseStartTime(p)
		st, err2 := api.ParseStartTime(s)
		if err1 == nil && err2 == nil && s != "" && p != "" && pt.Equal(st) {
			return prior
		}
	}
	return optString(s)
}

// attrPath maps a server field path ("spec.resource_limits.cpu",
// "metadata.labels[team]", "spec.command[0]") to the argument it comes
// from, by the names in labAttributes, which are the API's.
func attrPath(field string) (path.Path, bool) {
	base, key, hasKey := field, "", false
	if i := strings.Index(field, "["); i >= 0 && strings.HasSuffix(field, "]") {
		base, key, hasKey = field[:i], field[i+1:len(field)-1], true
	}
	base = strings.TrimPrefix(strings.TrimPrefix(base, "spec."), "metadata.")
	var p path.Path
	var a labAttr
	defs := labAttributes
	for i, name := range strings.Split(base, ".") {
		var ok bool
		if a, ok = defs[name]; !ok || a.role == roleStatus {
			return path.Empty(), false
		}
		if i == 0 {
			p = path.Root(name)
		} else {
			p = p.AtName(name)
		}
		defs = a.attrs
	}
	if hasKey {
		switch a.typ.(type) {
		case basetypes.MapType:
			p = p.AtMapKey(key)
		case basetypes.ListType:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 {
				return path.Empty(), false
			}
			p = p.AtListIndex(i)
		default:
			return path.Empty(), false
		}
	}
	return p, true
}

// addAPIError reports err; validation errors go on the attributes at fault.
func addAPIError(diags *diag.Diagnostics, summary string, err error) {
	var e *api.Error
	if errors.As(err, &e) && e.Code == api.EINVALID && len(e.Fields) > 0 {
		for _, f := range e.Fields {
			if p, ok := attrPath(f.Field); ok {
				diags.AddAttributeError(p, summary, fmt.Sprintf("The backend rejected %s: %s.", f.Field, f.Message))
			} else {
				diags.AddError(summary, fmt.Sprintf("The backend rejected %s: %s.", f.Field, f.Message))
			}
		}
		return
	}
	diags.AddError(summary, err.Error())
}

// parseImportID accepts "namespace/name" and "name" (namespace default).
func parseImportID(id string) (api.Key, error) {
	ns, name, found := strings.Cut(id, "/")
	if !found {
		ns, name = api.DefaultNamespace, id
	}
	if err := api.ValidateName(ns); err != nil {
		return api.Key{}, fmt.Errorf("namespace %q %v", ns, err)
	}
	if err := api.ValidateName(name); err != nil {
		return api.Key{}, fmt.Errorf("name %q %v", name, err)
	}
	return api.Key{Namespace: ns, Name: name}, nil
}
