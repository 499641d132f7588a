package lb

import "errors"

// Sentinel errors of the package. Callers compare with errors.Is: the
// configuration errors are wrapped with the offending field or target.
var (
	// ErrNoTarget is returned by Picker.Pick when the upstream has no
	// targets, or when every target that may be used this request is already
	// in the Tried set (a retry has nowhere new to go). The engine answers 502.
	ErrNoTarget = errors.New("lb: no target left to try")

	// ErrAllDown is returned by Picker.Pick when every target is down (by
	// passive, outlier or active health) and Config.PanicWhenAllDown is
	// false, and when every target is admin-down (TargetSpec.Down), panic or
	// not. The engine answers 503 at once instead of waiting on a dead
	// target.
	ErrAllDown = errors.New("lb: all targets are down")

	// ErrConfig is wrapped by NewUpstream for a Config field out of range,
	// and by Upstream.Update for a backup target under the Hash balancer.
	ErrConfig = errors.New("lb: invalid upstream config")

	// ErrTarget is wrapped by Upstream.Update for a TargetSpec with a bad
	// address, weight, MaxFails or FailTimeout.
	ErrTarget = errors.New("lb: invalid target")

	// ErrDuplicateTarget is wrapped by Upstream.Update when two specs share
	// an address.
	ErrDuplicateTarget = errors.New("lb: duplicate target address")

	// ErrUnknownBalancer is wrapped by NewUpstream for a BalancerKind it
	// does not know.
	ErrUnknownBalancer = errors.New("lb: unknown balancer")

	// ErrHashOn is wrapped by ParseHashOn for a key spec it cannot read.
	ErrHashOn = errors.New("lb: invalid hash key spec")
)
