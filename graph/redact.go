package graph

import (
	"cmp"
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
)

// No error may echo the request, yet gqlgen's validation messages quote the
// values a client sent ("SECRET is not a valid ProductSortKey"). The
// transports keep, in the request's context, a way to list those values;
// the error presenter replaces them in every message.

// redactRequestValues removes from one of gqlgen's messages the values the
// client sent as variables or operation name: its validation messages quote
// them ("SECRET is not a valid ProductSortKey"), and no error may echo the
// request. The values come from the request as the transport kept it
// (gqlgen's operation context has no variables when they failed
// validation); see withRedactor.
func redactRequestValues(ctx context.Context, msg string) string {
	if r := redactorOf(ctx); r != nil {
		return r.Replace(msg)
	}
	return msg
}

type redactorKey struct{}

// withRedactor keeps, for the error presenter, the redactor of the
// request's variables and operation name (values lists them). It is built
// once per request, on the first error that needs it, so that a request
// with many errors and many variables costs one pass over its body.
func withRedactor(ctx context.Context, values func() []string) context.Context {
	return context.WithValue(ctx, redactorKey{}, sync.OnceValue(func() *strings.Replacer { return newRedactor(values()) }))
}

// redactorOf is the request's redactor: the one its transport kept, else
// (a websocket message, whose payload is small) one built from the
// operation context's variables.
func redactorOf(ctx context.Context) *strings.Replacer {
	if f, ok := ctx.Value(redactorKey{}).(func() *strings.Replacer); ok {
		return f()
	}
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		return newRedactor(appendStrings([]string{oc.OperationName}, oc.Variables))
	}
	return nil
}

// newRedactor replaces each value, quoted or bare, with "the given value".
// Values shorter than minRedacted are left, as replacing them would garble
// messages while echoing next to nothing. Longer values come first, so that
// a value containing another is replaced whole.
func newRedactor(values []string) *strings.Replacer {
	values = slices.DeleteFunc(values, func(v string) bool { return len(v) < minRedacted })
	slices.SortFunc(values, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	values = slices.Compact(values)
	pairs := make([]string, 0, 4*len(values))
	for _, v := range values {
		pairs = append(pairs, strconv.Quote(v), "the given value", v, "the given value")
	}
	return strings.NewReplacer(pairs...)
}

const minRedacted = 3

// jsonRequestValues lists the string values of a JSON request body but its
// query: the variables, operation name and extensions.
func jsonRequestValues(body []byte) []string {
	var req map[string]any
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	delete(req, "query")
	return appendStrings(nil, req)
}

// getRequestValues is jsonRequestValues for a GET request's parameters.
func getRequestValues(q url.Values) []string {
	var vars any
	_ = json.Unmarshal([]byte(q.Get("variables")), &vars)
	return appendStrings([]string{q.Get("operationName")}, vars)
}

// appendStrings appends every string value held in v.
func appendStrings(out []string, v any) []string {
	switch x := v.(type) {
	case string:
		out = append(out, x)
	case map[string]any:
		for _, e := range x {
			out = appendStrings(out, e)
		}
	case []any:
		for _, e := range x {
			out = appendStrings(out, e)
		}
	}
	return out
}
