package workload

// MaxLogBytes bounds what an engine's Logs returns (its end is kept): a
// tail counts lines, and one line can be arbitrarily long.
const MaxLogBytes = 4 << 20

// Tail keeps the last bytes written to it, up to a bound, in at most
// twice the bound of memory: what is asked of logs is their end, and an
// engine streams them from the start.
type Tail struct {
	b   []byte
	max int
}

// NewTail keeps the last max bytes.
func NewTail(max int) *Tail { return &Tail{max: max} }

func (t *Tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2*t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// String is the last max bytes written.
func (t *Tail) String() string {
	if len(t.b) > t.max {
		return string(t.b[len(t.b)-t.max:])
	}
	return string(t.b)
}
