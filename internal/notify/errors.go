package notify

import (
	"errors"
	"fmt"
)

// ErrPermanent marks a send error that no retry can fix: the server
// rejected the recipient, the address is malformed, a provider answered
// 4xx. Senders wrap such errors with Permanent; errors.Is(err, ErrPermanent)
// tells them apart from temporary ones.
var ErrPermanent = errors.New("permanent delivery failure")

// Permanent marks err as permanent. It returns nil for a nil err.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// FinalError is returned by Deliver when a notification has failed for good:
// it is now FAILED, and running the job again would change nothing.
type FinalError struct {
	ID  string
	Err error
}

// Error names the notification and the cause.
func (e *FinalError) Error() string {
	return fmt.Sprintf("notification %s failed for good: %v", e.ID, e.Err)
}

// Unwrap returns the cause.
func (e *FinalError) Unwrap() error { return e.Err }
