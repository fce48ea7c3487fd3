package provider

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/labrm/terraform-provider-lab/internal/api"
)

// The validators below wrap internal/api's rules, the ones labd applies,
// so that plan-time validation and the server agree by construction.

// stringCheck validates a string attribute with one of api's functions.
type stringCheck struct {
	desc  string
	check func(string) error
}

func (v stringCheck) Description(context.Context) string         { return v.desc }
func (v stringCheck) MarkdownDescription(context.Context) string { return v.desc }

func (v stringCheck) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	s := req.ConfigValue.ValueString()
	if err := v.check(s); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+attrName(req.Path.String()),
			fmt.Sprintf("%s %s; got %q.", attrName(req.Path.String()), err, s))
	}
}

func attrName(p string) string {
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Validators of the lab's arguments.
var (
	validName     = stringCheck{"must be a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit", api.ValidateName}
	validImage    = stringCheck{"must be a container image reference like `python:3.9-alpine`", api.ValidateImage}
	validEmail    = stringCheck{"must be an e-mail address like `student@university.edu`", api.ValidateEmail}
	validCPU      = stringCheck{"must be a number of cores in (0, 8], like `0.5` or `500m`", api.ValidateCPU}
	validMemory   = stringCheck{"must be an amount of memory between 6Mi and 64Gi, like `512Mi` or `2Gi`", api.ValidateMemory}
	validStart    = stringCheck{"must be an RFC 3339 time like `2026-01-02T15:04:05Z`", func(s string) error { _, err := api.ParseStartTime(s); return err }}
	validWaitFor  = stringCheck{"must be `RUNNING` or `PENDING`", checkWaitFor}
	validPhase    = stringCheck{"must be one of PENDING, PROVISIONING, RUNNING, COMPLETED, FAILED, TIMEOUT", checkPhase}
	validDuration = durationCheck{}
	validEnv      = mapCheck{desc: fmt.Sprintf("at most %d variables whose names match `[A-Za-z_][A-Za-z0-9_]*`", api.MaxEnvironment), check: checkEnvironment}
	validLabels   = mapCheck{desc: fmt.Sprintf("at most %d labels with Kubernetes-style keys and values", api.MaxLabels), check: checkLabels}

	validRequestCPU    = stringCheck{"must be a number of cores in [0, 8], like `0.25` or `250m`", api.ValidateRequestCPU}
	validRequestMemory = stringCheck{"must be an amount of memory up to 64Gi, like `256Mi`", api.ValidateRequestMemory}
	validMountPath     = stringCheck{"must be an absolute, clean path like `/home/student`, not `/` and not under `/proc`, `/sys` or `/dev`", api.ValidateMountPath}
	validReadinessPath = stringCheck{"must be a URL path like `/healthz`", api.ValidateReadinessPath}
	validPort          = int64Check{fmt.Sprintf("must be between 1 and %d", api.MaxPort), intRule(api.ValidatePort)}
	validIdleTimeout   = int64Check{fmt.Sprintf("must be between 0 and %d minutes", api.MaxDurationMinutes), intRule(api.ValidateIdleTimeout)}
	validRunAsUser     = int64Check{fmt.Sprintf("must be between 0 and %d", api.MaxRunAsUser), api.ValidateRunAsUser}
	validCommand       = listCheck{fmt.Sprintf("at most %d non-empty entries of at most %d bytes", api.MaxArgs, api.MaxArgBytes), api.ValidateCommand}
	validArgs          = listCheck{fmt.Sprintf("at most %d entries of at most %d bytes", api.MaxArgs, api.MaxArgBytes), api.ValidateArgs}
)

func checkWaitFor(s string) error {
	if s != string(api.PhaseRunning) && s != string(api.PhasePending) {
		return fmt.Errorf("must be %q (return when the lab runs) or %q (return once the backend accepted it)", api.PhaseRunning, api.PhasePending)
	}
	return nil
}

// checkPhase accepts what the server's phase filter accepts, but only in
// upper case, so that the data source's state echoes the canonical form.
func checkPhase(s string) error {
	p, err := api.ParsePhase(s)
	if err != nil {
		return fmt.Errorf("must be one of PENDING, PROVISIONING, RUNNING, COMPLETED, FAILED, TIMEOUT")
	}
	if string(p) != s {
		return fmt.Errorf("must be written in upper case (%s)", p)
	}
	return nil
}

// durationCheck validates duration_minutes.
type durationCheck struct{}

func (durationCheck) Description(context.Context) string {
	return fmt.Sprintf("must be between %d and %d", api.MinDurationMinutes, api.MaxDurationMinutes)
}
func (v durationCheck) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (durationCheck) ValidateInt64(_ context.Context, req validator.Int64Request, resp *validator.Int64Response) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	m := req.ConfigValue.ValueInt64()
	if m < api.MinDurationMinutes || m > api.MaxDurationMinutes {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid duration_minutes",
			fmt.Sprintf("duration_minutes must be between %d and %d minutes; got %d.", api.MinDurationMinutes, api.MaxDurationMinutes, m))
		return
	}
	if err := api.ValidateDuration(int(m)); err != nil { // the server's own rule, should it ever be narrower
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid duration_minutes", fmt.Sprintf("duration_minutes %s; got %d.", err, m))
	}
}

// mapCheck validates a map of strings whose elements are all known.
type mapCheck struct {
	desc  string
	check func(map[string]string) api.FieldErrors
}

func (v mapCheck) Description(context.Context) string         { return v.desc }
func (v mapCheck) MarkdownDescription(context.Context) string { return v.desc }

func (v mapCheck) ValidateMap(ctx context.Context, req validator.MapRequest, resp *validator.MapResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	m := map[string]string{}
	for k, e := range req.ConfigValue.Elements() {
		if e.IsUnknown() {
			continue // checked at apply time, when known
		}
		s, ok := e.(interface{ ValueString() string })
		if !ok {
			continue
		}
		m[k] = s.ValueString()
	}
	for _, fe := range v.check(m) {
		p := req.Path
		if k, ok := mapKey(fe.Field); ok {
			p = req.Path.AtMapKey(k)
		}
		resp.Diagnostics.AddAttributeError(p, "Invalid "+attrName(req.Path.String()), fe.Message+".")
	}
}

// mapKey extracts k from a server field path like "spec.environment[k]".
func mapKey(field string) (string, bool) {
	i := strings.Index(field, "[")
	if i < 0 || !strings.HasSuffix(field, "]") {
		return "", false
	}
	return field[i+1 : len(field)-1], true
}

// checkEnvironment applies the server's environment rules (api.ValidateSpec
// on a spec holding only the environment), keeping only those errors.
func checkEnvironment(env map[string]string) api.FieldErrors {
	spec := api.Spec{Environment: env}
	var out api.FieldErrors
	for _, fe := range api.ValidateSpec(&spec) {
		if strings.HasPrefix(fe.Field, "spec.environment") {
			if k, ok := mapKey(fe.Field); ok {
				fe.Message = fmt.Sprintf("variable %q: %s", k, fe.Message)
			}
			out = append(out, fe)
		}
	}
	return out
}

// checkLabels applies the server's label rules (api.ValidateMeta).
func checkLabels(labels map[string]string) api.FieldErrors {
	meta := api.ObjectMeta{Name: "x", Namespace: "x", Labels: labels}
	var out api.FieldErrors
	for _, fe := range api.ValidateMeta(&meta) {
		if strings.HasPrefix(fe.Field, "metadata.labels") {
			if k, ok := mapKey(fe.Field); ok {
				fe.Message = fmt.Sprintf("label %q: %s", k, fe.Message)
			}
			fe.Field = strings.TrimPrefix(fe.Field, "metadata.")
			out = append(out, fe)
		}
	}
	slices.SortFunc(out, func(a, b api.FieldError) int { return strings.Compare(a.Field, b.Field) })
	return out
}

// labelSelectorCheck validates the data source's labels filter: the same
// rules as labels, since the server parses the selector with them.
var validSelector = mapCheck{desc: "labels to match, each with a valid key and value", check: func(m map[string]string) api.FieldErrors {
	var out api.FieldErrors
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if _, err := api.ParseLabelSelector(k + "=" + m[k]); err != nil {
			out.Add("labels["+k+"]", "%s", err)
		}
	}
	return out
}}

// int64Check validates a number attribute with one of api's functions.
type int64Check struct {
	desc  string
	check func(int64) error
}

func (v int64Check) Description(context.Context) string         { return v.desc }
func (v int64Check) MarkdownDescription(context.Context) string { return v.desc }

func (v int64Check) ValidateInt64(_ context.Context, req validator.Int64Request, resp *validator.Int64Response) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	n := req.ConfigValue.ValueInt64()
	if err := v.check(n); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+attrName(req.Path.String()),
			fmt.Sprintf("%s %s; got %d.", attrName(req.Path.String()), err, n))
	}
}

// intRule adapts a rule on an int (the API's type) to Terraform's int64,
// refusing with the rule's own message a value an int cannot hold.
func intRule(f func(int) error) func(int64) error {
	return func(n int64) error {
		if int64(int(n)) != n {
			return f(-1)
		}
		return f(int(n))
	}
}

// listCheck validates a list of strings with one of api's functions, which
// names an entry as "spec.<attribute>[i]"; unknown entries count, and are
// checked at apply time.
type listCheck struct {
	desc  string
	check func([]string) api.FieldErrors
}

func (v listCheck) Description(context.Context) string         { return v.desc }
func (v listCheck) MarkdownDescription(context.Context) string { return v.desc }

func (v listCheck) ValidateList(_ context.Context, req validator.ListRequest, resp *validator.ListResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	var list []string
	for _, e := range req.ConfigValue.Elements() {
		s, ok := e.(interface{ ValueString() string })
		if !ok || e.IsUnknown() || e.IsNull() {
			list = append(list, "x") // a valid stand-in
			continue
		}
		list = append(list, s.ValueString())
	}
	for _, fe := range v.check(list) {
		p := req.Path
		if k, ok := mapKey(fe.Field); ok {
			if i, err := strconv.Atoi(k); err == nil {
				p = req.Path.AtListIndex(i)
			}
		}
		resp.Diagnostics.AddAttributeError(p, "Invalid "+attrName(req.Path.String()), fe.Message+".")
	}
}
