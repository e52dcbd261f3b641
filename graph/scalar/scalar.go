// Package scalar holds the Go side of the schema's scalars. Every
// unmarshaller fails with an apperr Invalid error, so a malformed value is
// a BAD_USER_INPUT error with a safe message, never an internal error.
package scalar

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"commerce/internal/apperr"
)

// Decimal is a decimal number sent as a string ("19.99"). Unmarshalling
// accepts any string or number literal; its sign and precision are judged
// by the service against the currency, so that a bad amount becomes a
// userError with a field path rather than a parse failure.
type Decimal string

// MarshalGQL writes the decimal as a JSON string.
func (d Decimal) MarshalGQL(w io.Writer) {
	_, _ = io.WriteString(w, strconv.Quote(string(d)))
}

// UnmarshalGQL accepts a string, or a number literal kept as written.
func (d *Decimal) UnmarshalGQL(v any) error {
	switch x := v.(type) {
	case string:
		*d = Decimal(x)
	case json.Number:
		*d = Decimal(x.String())
	case int, int32, int64:
		*d = Decimal(fmt.Sprint(x))
	case float64:
		*d = Decimal(strconv.FormatFloat(x, 'f', -1, 64))
	default:
		return apperr.New(apperr.Invalid, "a Decimal must be a string such as \"19.99\"")
	}
	return nil
}

// MarshalInt writes an Int.
func MarshalInt(i int) graphql.Marshaler { return graphql.MarshalInt(i) }

// UnmarshalInt reads a GraphQL Int, which is 32-bit signed.
func UnmarshalInt(v any) (int, error) {
	i, err := graphql.UnmarshalInt64(v)
	if err != nil || i < math.MinInt32 || i > math.MaxInt32 {
		return 0, apperr.New(apperr.Invalid, "an Int must be a whole number between %d and %d", math.MinInt32, math.MaxInt32)
	}
	return int(i), nil
}

// MarshalTime writes RFC 3339 with nanoseconds in UTC.
func MarshalTime(t time.Time) graphql.Marshaler {
	return graphql.MarshalTime(t.UTC())
}

// UnmarshalTime reads an RFC 3339 time.
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, apperr.New(apperr.Invalid, "a Time must be an RFC 3339 string")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, apperr.New(apperr.Invalid, "a Time must be an RFC 3339 string such as 2026-01-02T15:04:05Z")
	}
	return t, nil
}

// Counter counts the rows behind a connection; it runs only when a client
// asks for totalCount.
type Counter func(ctx context.Context) (int, error)
