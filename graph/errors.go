package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"commerce/graph/model"
	"commerce/internal/apperr"
	"commerce/internal/platform/db"
	"commerce/internal/platform/web"
)

// Error codes in extensions.code, from API.graphqls.
const (
	codeBadUserInput = "BAD_USER_INPUT"
	codeInternal     = "INTERNAL"
	codeTooComplex   = "QUERY_TOO_COMPLEX"
)

// errorPresenter decides what a client may see of an error: an apperr
// error shows its safe message and code; a lost or refused database
// connection is SERVICE_UNAVAILABLE (logged at debug level: an outage
// would log one line per request, and /readyz logs it once); gqlgen's own
// parse, validation and limit errors pass as they are; anything else is
// logged in full with the request id and shown as "internal error" (logged
// at debug level when it is only the client's cancellation, see
// clientGone).
func errorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		if end := streamEnded(ctx); end != nil {
			return presentAppError(ctx, end)
		}
		err = db.Unavailable(err)
		var ae *apperr.Error
		if errors.As(err, &ae) && ae.Kind != apperr.Internal {
			countError(ctx, ae)
			if ae.Kind == apperr.Unavailable {
				web.Logger(ctx, log).Debug("graphql: database unavailable", "error", err, "path", graphql.GetPath(ctx).String())
			}
			return presentAppError(ctx, ae)
		}
		countError(ctx, nil)
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			if code, _ := gqlErr.Extensions["code"].(string); code == "COMPLEXITY_LIMIT_EXCEEDED" {
				gqlErr.Extensions["code"] = codeTooComplex
			}
			if _, hasCode := gqlErr.Extensions["code"]; !hasCode && len(gqlErr.Path) == 0 {
				// A request gqlgen refused before running it: a body it
				// could not decode (its message quotes the body and names
				// Go types), an APQ hash that does not match its query.
				if strings.HasPrefix(gqlErr.Message, "json request body could not be decoded") {
					gqlErr.Message = `request body is not a GraphQL request: send a JSON object with "query" (a string) ` +
						`and optionally "variables" (an object) and "operationName" (a string)`
				}
				gqlErr.Extensions = map[string]any{"code": codeBadUserInput}
			}
			gqlErr.Message = redactRequestValues(ctx, gqlErr.Message)
			if len(gqlErr.Path) > 2 && gqlErr.Path[0] == ast.PathName("variable") {
				// Below the variable's name the path names the client's
				// own input keys (an unknown field): not echoed.
				gqlErr.Path = gqlErr.Path[:2]
			}
			return gqlErr
		}
		if clientGone(ctx, err) {
			// Nothing failed here: the client closed the connection or
			// stopped the subscription, and the work stopped with it.
			web.Logger(ctx, log).Debug("graphql: canceled by the client", "error", err, "path", graphql.GetPath(ctx).String())
			return internalError(ctx)
		}
		web.Logger(ctx, log).Error("graphql: internal error", "error", err, "path", graphql.GetPath(ctx).String())
		return internalError(ctx)
	}
}

// clientGone reports whether err is the request's own cancellation: the
// client went away (a load run's clients at its end, a closed tab), which
// is not a server error. A deadline is not: the server was too slow.
func clientGone(ctx context.Context, err error) bool {
	return errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled)
}

func presentAppError(ctx context.Context, ae *apperr.Error) *gqlerror.Error {
	e := &gqlerror.Error{
		Message:    ae.Message,
		Path:       graphql.GetPath(ctx),
		Extensions: map[string]any{"code": extensionCode(ae.Kind)},
	}
	if ae.Kind == apperr.RateLimited || ae.Kind == apperr.Unavailable {
		e.Extensions["retryAfterSeconds"] = int(math.Ceil(ae.RetryAfter.Seconds()))
	}
	if len(ae.Field) > 0 {
		e.Extensions["field"] = ae.Field
	}
	return e
}

func internalError(ctx context.Context) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    "internal error",
		Path:       graphql.GetPath(ctx),
		Extensions: map[string]any{"code": codeInternal, "requestId": web.RequestID(ctx)},
	}
}

// extensionCode maps an error kind to the API's extensions.code.
func extensionCode(k apperr.Kind) string {
	switch k {
	case apperr.NotFound, apperr.Conflict, apperr.Unauthenticated, apperr.Forbidden, apperr.RateLimited, apperr.Unavailable:
		return k.String()
	case apperr.Invalid, apperr.InsufficientStock, apperr.PaymentFailed:
		return codeBadUserInput
	}
	return codeInternal
}

// recoverFunc turns a panic in a resolver into an internal error, logging
// the stack; the process keeps serving.
func recoverFunc(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		web.Logger(ctx, log).Error("graphql: panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return &apperr.Error{Kind: apperr.Internal, Message: "internal error"}
	}
}

// userErrors converts a domain error into a payload's userErrors. It
// returns ok=false for errors that are not the caller's to fix; the
// resolver then returns them as GraphQL errors.
func userErrors(err error) ([]*model.UserError, bool) {
	list, ok := apperr.UserErrors(err)
	if !ok {
		return nil, false
	}
	out := make([]*model.UserError, len(list))
	for i, e := range list {
		out[i] = &model.UserError{Field: e.Field, Message: e.Message, Code: e.UserCode()}
	}
	return out, true
}
