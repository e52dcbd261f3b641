package graph

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// requestErrors is gqlgen's POST or GET transport answering a request that
// GraphQL refuses before running it (the document does not parse or
// validate, or the variables do not coerce) as the GraphQL over HTTP
// specification asks for the media type the client accepts:
//
//   - Accept: application/json gets 200 with the errors: clients such as
//     Apollo treat any other status as a network failure and never show
//     the errors. (gqlgen answers 422.)
//   - Accept: application/graphql-response+json keeps gqlgen's 400.
//   - Either way the body has no data entry: the operation never ran, so
//     there is no data, not even null. (gqlgen writes "data": null.)
//
// A request with no Accept header keeps gqlgen's 422, which version 1
// answered and its clients and tests expect. Our own refusals before
// GraphQL (413, 415, 405, 429, 400 for a body that is not a GraphQL
// request) are written before the transport and keep their status.
type requestErrors struct {
	graphql.Transport
}

func (t requestErrors) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	rw := &requestErrorWriter{ResponseWriter: w, accepts: r.Header.Get("Accept") != ""}
	t.Transport.Do(rw, r, requestErrorExecutor{GraphExecutor: exec, w: rw})
}

// requestErrorExecutor tells the writer when the operation was refused
// before running, and with which response.
type requestErrorExecutor struct {
	graphql.GraphExecutor
	w *requestErrorWriter
}

func (e requestErrorExecutor) CreateOperationContext(ctx context.Context, params *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	oc, errs := e.GraphExecutor.CreateOperationContext(ctx, params)
	e.w.refused = errs != nil
	return oc, errs
}

// DispatchError is how the transports answer every request they refuse
// before running it.
func (e requestErrorExecutor) DispatchError(ctx context.Context, list gqlerror.List) *graphql.Response {
	resp := e.GraphExecutor.DispatchError(ctx, list)
	e.w.refusal = resp
	return resp
}

// requestErrorWriter rewrites the status and body of a refused request.
// The transports write the Content-Type they negotiated first, then the
// status, then the whole body in one Write.
type requestErrorWriter struct {
	http.ResponseWriter
	accepts bool              // the request has an Accept header
	refused bool              // CreateOperationContext failed
	refusal *graphql.Response // what DispatchError answered
}

func (w *requestErrorWriter) WriteHeader(status int) {
	if w.refused && w.accepts && status == http.StatusUnprocessableEntity &&
		w.Header().Get("Content-Type") == "application/json" {
		status = http.StatusOK
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *requestErrorWriter) Write(b []byte) (int, error) {
	if w.refusal == nil {
		return w.ResponseWriter.Write(b)
	}
	body, err := json.Marshal(struct {
		Errors     gqlerror.List  `json:"errors"`
		Extensions map[string]any `json:"extensions,omitempty"`
	}{w.refusal.Errors, w.refusal.Extensions})
	if err != nil {
		return 0, err
	}
	if _, err := w.ResponseWriter.Write(body); err != nil {
		return 0, err
	}
	return len(b), nil
}
