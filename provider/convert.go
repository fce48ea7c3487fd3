package provider

import (
	"context"
	"errors"
	"fmt"
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
	if l == nil {
		return types.ObjectNull(limitsAttrTypes)
	}
	cpu, mem := l.CPU, l.Memory
	if !prior.IsNull() && !prior.IsUnknown() {
		attrs := prior.Attributes()
		if p, ok := attrs["cpu"].(types.String); ok && !p.IsNull() && !p.IsUnknown() && sameCPU(p.ValueString(), cpu) {
			cpu = p.ValueString()
		}
		if p, ok := attrs["memory"].(types.String); ok && !p.IsNull() && !p.IsUnknown() && sameMemory(p.ValueString(), mem) {
			mem = p.ValueString()
		}
	}
	return types.ObjectValueMust(limitsAttrTypes, map[string]attr.Value{"cpu": types.StringValue(cpu), "memory": types.StringValue(mem)})
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

// apiLimits reads a known resource_limits object.
func apiLimits(o types.Object) *api.ResourceLimits {
	if o.IsNull() || o.IsUnknown() {
		return nil
	}
	attrs := o.Attributes()
	str := func(k string) string {
		if s, ok := attrs[k].(types.String); ok {
			return s.ValueString()
		}
		return ""
	}
	return &api.ResourceLimits{CPU: str("cpu"), Memory: str("memory")}
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
// "metadata.labels[team]") to the argument it comes from, by the names in
// labAttributes, which are the API's.
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
		if _, ok := a.typ.(basetypes.MapType); !ok {
			return path.Empty(), false
		}
		p = p.AtMapKey(key)
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
