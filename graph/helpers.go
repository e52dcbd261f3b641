package graph

import (
	"errors"

	"commerce/internal/apperr"
)

// deref returns *p, or the zero value when p is nil.
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// asAppErr is errors.As for apperr errors.
func asAppErr(err error, target **apperr.Error) bool { return errors.As(err, target) }
