package api

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits on resource_limits (and on resource_requests, which may also be 0).
const (
	MaxCPUMilli    = 8000
	MinMemoryBytes = 6 << 20 // Docker refuses less than 6 MiB.
	MaxMemoryBytes = 64 << 30
)

// Defaults applied when a lab names no resource_limits.
const (
	DefaultCPU    = "1"
	DefaultMemory = "2Gi"
)

// Defaults applied when a lab names no resource_requests, or leaves one of
// their amounts out, each clamped down to the lab's limit when that is
// smaller (see DefaultRequests).
//
// Requests are what admission reserves against the host's capacity, what a
// lab is guaranteed; limits are what its container may use. Kubernetes
// separates the two the same way, and JupyterHub guarantees nothing by
// default. Reserving the limits (1 CPU, 2 GiB) let a 2-core host admit two
// labs of a class. These defaults are small enough that 30 labs of the small
// test image fit on a 2-core, 24 GiB machine with no flags (30 × 50m = 1.5
// CPU, 30 × 256Mi = 7.5 GiB), and a lab that needs a guarantee asks for it.
const (
	DefaultRequestCPU    = "50m"
	DefaultRequestMemory = "256Mi"

	defaultRequestMilliCPU = 50        // DefaultRequestCPU
	defaultRequestBytes    = 256 << 20 // DefaultRequestMemory
)

// Quantities are parsed by hand: a create parses its CPU and memory
// amounts several times (limits, requests, defaults), and a regular
// expression plus big.Rat per parse was a tenth of labd's CPU per create.
// The grammar is that of the messages below.

const cpuSyntax = "must be a number of cores like \"0.5\" or \"2\", or millicores like \"500m\""

// ParseCPU parses a CPU amount ("0.5", "2", "500m") into millicores:
// digits with up to three decimals (".5" too), or whole millicores.
func ParseCPU(s string) (int64, error) {
	if m, ok := strings.CutSuffix(s, "m"); ok {
		if !allDigits(m) {
			return 0, errors.New(cpuSyntax)
		}
		v, err := strconv.ParseInt(m, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("too large")
		}
		return v, nil
	}
	whole, frac, dot := strings.Cut(s, ".")
	if (whole == "" && !dot) || (whole != "" && !allDigits(whole)) || (dot && (len(frac) < 1 || len(frac) > 3 || !allDigits(frac))) {
		return 0, errors.New(cpuSyntax)
	}
	const limit = 1 << 62 // millicores must fit in 62 bits
	var v int64
	for _, c := range whole {
		if v > (limit-1)/10 {
			return 0, fmt.Errorf("too large")
		}
		v = v*10 + int64(c-'0')
	}
	if v > (limit-1)/1000 {
		return 0, fmt.Errorf("too large")
	}
	v *= 1000
	scale := int64(100)
	for _, c := range frac {
		v += int64(c-'0') * scale
		scale /= 10
	}
	if v >= limit {
		return 0, fmt.Errorf("too large")
	}
	return v, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// memSuffixes are tried longest first.
var memSuffixes = []string{"Ki", "Mi", "Gi", "Ti", "k", "K", "M", "G", "T"}

var memUnits = map[string]int64{
	"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
	"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
}

// ParseMemory parses a memory amount ("512Mi", "2Gi", "1000000") into bytes.
func ParseMemory(s string) (int64, error) {
	digits, unit := s, ""
	for _, u := range memSuffixes {
		if d, ok := strings.CutSuffix(s, u); ok {
			digits, unit = d, u
			break
		}
	}
	if !allDigits(digits) {
		return 0, fmt.Errorf("must be a whole number of bytes with an optional suffix Ki, Mi, Gi, Ti (or k, M, G, T), like \"512Mi\"")
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64/memUnits[unit] {
		return 0, fmt.Errorf("too large")
	}
	return n * memUnits[unit], nil
}

// FormatCPU renders millicores the way users write them ("500m", "2").
func FormatCPU(milli int64) string {
	if milli%1000 == 0 {
		return strconv.FormatInt(milli/1000, 10)
	}
	return strconv.FormatInt(milli, 10) + "m"
}

// FormatMemory renders bytes with the largest binary suffix that divides them.
func FormatMemory(b int64) string {
	for _, u := range []string{"Ti", "Gi", "Mi", "Ki"} {
		if b != 0 && b%memUnits[u] == 0 {
			return strconv.FormatInt(b/memUnits[u], 10) + u
		}
	}
	return strconv.FormatInt(b, 10)
}
