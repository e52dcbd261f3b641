// Package apperr is the service's one error model: every error a domain
// package returns on purpose carries a Kind and a message that is safe to
// show to a client. Anything else is an internal error, logged in full and
// shown to clients only as "internal error".
package apperr

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind classifies an error for the API layer.
type Kind uint8

// The kinds of error a domain package may return.
const (
	Internal Kind = iota
	NotFound
	Invalid
	Conflict
	Unauthenticated
	Forbidden
	RateLimited
	InsufficientStock
	PaymentFailed
	// Unavailable is a dependency the request cannot do without (the
	// database) being unreachable: the client should retry after
	// RetryAfter.
	Unavailable
)

var kindNames = [...]string{
	Internal:          "INTERNAL",
	NotFound:          "NOT_FOUND",
	Invalid:           "INVALID",
	Conflict:          "CONFLICT",
	Unauthenticated:   "UNAUTHENTICATED",
	Forbidden:         "FORBIDDEN",
	RateLimited:       "RATE_LIMITED",
	InsufficientStock: "INSUFFICIENT_STOCK",
	PaymentFailed:     "PAYMENT_FAILED",
	Unavailable:       "SERVICE_UNAVAILABLE",
}

// String returns the kind's machine-readable name, e.g. "NOT_FOUND".
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "INTERNAL"
}

// Error is an error whose message may be shown to the caller.
//
// Field, when set, is the path of the input field at fault, starting at the
// argument name (["input", "lines", "2", "quantity"]); such an error is a
// problem the caller can fix and the API reports it as a userError.
type Error struct {
	Kind    Kind
	Message string
	Field   []string
	// Code overrides the userError code derived from Kind (e.g. "TAKEN").
	Code string
	// RetryAfter is set on RateLimited and Unavailable errors.
	RetryAfter time.Duration
	// Err is the underlying cause; it is logged, never shown.
	Err error
}

// Error returns the safe message, prefixed with the field path when there is one.
func (e *Error) Error() string {
	msg := e.Message
	if len(e.Field) > 0 {
		msg = strings.Join(e.Field, ".") + ": " + msg
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// UserCode is the code shown in a userError: Code when set, else the kind's name.
func (e *Error) UserCode() string {
	if e.Code != "" {
		return e.Code
	}
	return e.Kind.String()
}

// Is makes errors.Is(err, apperr.ErrNotFound) and friends match by kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Field == nil && t.Kind == e.Kind
}

// Sentinels for errors.Is checks by kind.
var (
	ErrNotFound          = &Error{Kind: NotFound}
	ErrInvalid           = &Error{Kind: Invalid}
	ErrConflict          = &Error{Kind: Conflict}
	ErrUnauthenticated   = &Error{Kind: Unauthenticated}
	ErrForbidden         = &Error{Kind: Forbidden}
	ErrInsufficientStock = &Error{Kind: InsufficientStock}
)

// New returns an error of the given kind with a safe message.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Field returns a userError of the given kind at the field path.
func Field(kind Kind, path []string, format string, args ...any) *Error {
	return &Error{Kind: kind, Field: path, Message: fmt.Sprintf(format, args...)}
}

// InvalidField returns an Invalid userError at the field path.
func InvalidField(path []string, format string, args ...any) *Error {
	return Field(Invalid, path, format, args...)
}

// Taken returns a Conflict userError with code TAKEN at the field path.
func Taken(path []string, what string) *Error {
	return &Error{Kind: Conflict, Code: "TAKEN", Field: path, Message: what + " is already taken"}
}

// Coded returns an Invalid userError at the field path whose code names
// the rule it breaks (VARIANT_EXISTS, LAST_VARIANT, VARIANT_REQUIRED).
func Coded(code string, path []string, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Code: code, Field: path, Message: fmt.Sprintf(format, args...)}
}

// Path builds a field path, rendering ints as strings as the API requires.
func Path(parts ...any) []string {
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = fmt.Sprint(p)
	}
	return out
}

// KindOf returns the kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// List is several userErrors found at once (a form with three bad fields).
type List []*Error

// Error joins the messages.
func (l List) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Err returns nil when the list is empty, else the list itself, so that a
// validator can end with `return errs.Err()`.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// UserErrors extracts the caller-fixable errors from err: a List, a single
// *Error with a field path, or one of the kinds that are always the caller's
// to fix (Invalid, InsufficientStock, PaymentFailed). ok is false when err is
// something else, which the API reports as a GraphQL error instead.
func UserErrors(err error) (List, bool) {
	var l List
	if errors.As(err, &l) {
		return l, true
	}
	var e *Error
	if !errors.As(err, &e) {
		return nil, false
	}
	switch {
	case len(e.Field) > 0, e.Kind == Invalid, e.Kind == InsufficientStock, e.Kind == PaymentFailed:
		return List{e}, true
	}
	return nil, false
}

// Add appends the errors carried by err (an *Error or a List); nil adds
// nothing. Validators use it to collect every problem of an input at once.
func (l *List) Add(err error) {
	if err == nil {
		return
	}
	var list List
	if errors.As(err, &list) {
		*l = append(*l, list...)
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Kind: Internal, Message: "internal error", Err: err}
	}
	*l = append(*l, e)
}
