package workload

import (
	"strings"
	"testing"
)

func TestTail(t *testing.T) {
	tail := NewTail(10)
	for i := range 100 {
		tail.Write([]byte(strings.Repeat(string(rune('a'+i%26)), 3)))
		if len(tail.b) > 20 {
			t.Fatalf("after %d writes the tail holds %d bytes, more than twice its bound", i+1, len(tail.b))
		}
	}
	var full strings.Builder
	for i := range 100 {
		full.WriteString(strings.Repeat(string(rune('a'+i%26)), 3))
	}
	if got, want := tail.String(), full.String()[full.Len()-10:]; got != want {
		t.Fatalf("tail %q, want %q", got, want)
	}
	short := NewTail(10)
	short.Write([]byte("abc"))
	if got := short.String(); got != "abc" {
		t.Fatalf("tail of a short output %q, want all of it", got)
	}
}
