package api

import (
	"math"
	"math/big"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The parsers as they were, with a regular expression and big.Rat: the
// hand-written ones must agree with them on every input.
var (
	refCPURe = regexp.MustCompile(`^([0-9]+(\.[0-9]{1,3})?|\.[0-9]{1,3}|[0-9]+m)$`)
	refMemRe = regexp.MustCompile(`^([0-9]+)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$`)
)

func refParseCPU(s string) (int64, bool) {
	if !refCPURe.MatchString(s) {
		return 0, false
	}
	if m, ok := strings.CutSuffix(s, "m"); ok {
		v, err := strconv.ParseInt(m, 10, 64)
		return v, err == nil
	}
	r, _ := new(big.Rat).SetString(s)
	r.Mul(r, big.NewRat(1000, 1))
	if !r.IsInt() || r.Num().BitLen() > 62 {
		return 0, false
	}
	return r.Num().Int64(), true
}

func refParseMemory(s string) (int64, bool) {
	m := refMemRe.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	unit := memUnits[m[2]]
	if err != nil || n > math.MaxInt64/unit {
		return 0, false
	}
	return n * unit, true
}

func TestQuantityParsersAgreeWithGrammar(t *testing.T) {
	t.Parallel()
	inputs := []string{"", "0", "1", "0.5", ".5", "5.", "1.234", "1.2345", "500m", "m", "1.5m", "0m", "-1", "+1", "1e3", " 1", "1 ",
		"4611686018427387", "4611686018427387.903", "4611686018427387.904", "4611686018427388", "99999999999999999999", "9223372036854775807m",
		"9223372036854775808m", "512Mi", "2Gi", "1Ti", "1k", "1K", "1M", "1G", "1T", "Ki", "1Kii", "1i", "8796093022207Mi", "8796093022208Ti", "9223372036854775807", "1.5Gi"}
	alphabet := "0123456789.mKMGTik -"
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		for range r.IntN(8) {
			b.WriteByte(alphabet[r.IntN(len(alphabet))])
		}
		inputs = append(inputs, b.String())
	}
	for _, s := range inputs {
		want, wok := refParseCPU(s)
		got, err := ParseCPU(s)
		if wok != (err == nil) || (wok && want != got) {
			t.Errorf("ParseCPU(%q) = %d, %v; want %d, ok %v", s, got, err, want, wok)
		}
		wantM, wokM := refParseMemory(s)
		gotM, errM := ParseMemory(s)
		if wokM != (errM == nil) || (wokM && wantM != gotM) {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d, ok %v", s, gotM, errM, wantM, wokM)
		}
	}
}

func BenchmarkParseQuantities(b *testing.B) {
	for range b.N {
		ParseCPU("1.5")
		ParseCPU("500m")
		ParseMemory("512Mi")
	}
}
