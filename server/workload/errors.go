package workload

import "errors"

// ErrNotFound: the engine has no workload of that name. An answer, not a
// failure.
var ErrNotFound = errors.New("workload not found")

// Failure is a kind of engine error that retrying cannot cure. An engine
// wraps one of the Err* failures below (fmt.Errorf("%w: ...", ErrImage));
// the controller fails the lab with Reason and the error's text. An engine
// error that wraps no Failure is transient and retried.
type Failure struct {
	Reason string // recorded as the lab's transition reason
	text   string
}

func (f *Failure) Error() string { return f.text }

// Permanent failures.
var (
	// ErrImage: the image is not present and cannot be pulled.
	ErrImage = &Failure{Reason: "ImageUnavailable", text: "image unavailable"}
	// ErrRejected: the engine refused the workload as invalid for it (a
	// CPU limit above the host's CPUs, an option it does not support);
	// the same request would be refused again.
	ErrRejected = &Failure{Reason: "RejectedByEngine", text: "rejected by the engine"}
)

// Permanent returns the Failure err wraps, or nil when err is transient
// (or nil).
func Permanent(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	return nil
}
