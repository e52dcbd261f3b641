package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/config"
	"commerce/internal/platform/web"
	"commerce/internal/quota"
)

// Quotas are the rate limits the API enforces (the QUOTA_* variables).
// "Per IP" means per web.ClientNetwork: an IPv4 address, or an IPv6 /64,
// so that a client cannot multiply its budgets by rotating through the
// addresses of its /64.
type Quotas struct {
	Limiter       *quota.Limiter // nil: no limits
	GraphQL       config.Quota   // per IP, every request
	CreateOrder   config.Quota   // per customer, or per email for guests
	CreateOrderIP config.Quota   // per IP, so guests cannot rotate emails
	Search        config.Quota   // per IP
	Register      config.Quota   // per IP, counted before any password is hashed
	CartCreate    config.Quota   // per IP

	// The failure budgets (failures.go) count only attempts that fail.
	Login             config.Quota // failed sign-ins per (email, IP)
	LoginIP           config.Quota // failed sign-ins per IP
	LoginAttemptsIP   config.Quota // every sign-in per IP, never given back (bcrypt)
	LoginAccount      config.Quota // failed sign-ins per email, from every IP
	OrderLookup       config.Quota // failed order lookups per IP
	OrderLookupNumber config.Quota // failed order lookups by email per order number
}

// limit counts one event against each key's quota and refuses with
// RATE_LIMITED when any is exhausted; the response carries RateLimit-*
// headers of the tightest key.
func (q Quotas) limit(ctx context.Context, checks ...keyedQuota) error {
	if q.Limiter == nil {
		return nil
	}
	for _, c := range checks {
		res, err := q.Limiter.Check(ctx, c.key, c.quota)
		setRateLimitHeaders(ctx, res)
		if err != nil {
			return err
		}
	}
	return nil
}

type keyedQuota struct {
	key   string
	quota config.Quota
}

func setRateLimitHeaders(ctx context.Context, res quota.Result) {
	web.SetHeader(ctx, "RateLimit-Limit", strconv.Itoa(res.Limit))
	web.SetHeader(ctx, "RateLimit-Remaining", strconv.Itoa(res.Remaining))
	web.SetHeader(ctx, "RateLimit-Reset", strconv.Itoa(int(math.Ceil(res.ResetAfter.Seconds()))))
	if !res.Allowed {
		web.SetHeader(ctx, "Retry-After", strconv.Itoa(int(math.Ceil(res.RetryAfter.Seconds()))))
	}
}

// checkoutLimits count an order per customer (per email for guests) and
// per IP.
func (q Quotas) checkoutLimits(ctx context.Context, email string) error {
	who := "email:" + emailKey(email)
	if p := auth.FromContext(ctx); p.IsCustomer() {
		who = "customer:" + p.ID
	}
	return q.limit(ctx,
		keyedQuota{"api:create-order:" + who, q.CreateOrder},
		keyedQuota{"api:create-order:ip:" + web.ClientNetwork(ctx), q.CreateOrderIP})
}

// maxEmailKey bounds an email inside a quota key: no address is longer
// (RFC 5321), and a longer string, which the limiter sees before the email
// is validated, is keyed by its hash, so that megabyte "emails" cannot fill
// the limiter's memory (or Redis's) under keys of their own size.
const maxEmailKey = 254

// emailKey is an email as quota keys hold it: trimmed and lowercased, as
// the service compares emails, and hashed when longer than any address.
func emailKey(email string) string {
	e := strings.ToLower(strings.TrimSpace(email))
	if len(e) <= maxEmailKey {
		return e
	}
	sum := sha256.Sum256([]byte(e))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// resetLimits count a password-reset request against QUOTA_LOGIN, per
// (email, IP), and QUOTA_LOGIN_IP, per IP, whether or not the email has an
// account, so the limits tell nothing either.
func (q Quotas) resetLimits(ctx context.Context, email string) error {
	ip := web.ClientNetwork(ctx)
	return q.limit(ctx,
		keyedQuota{"api:password-reset:ip:" + ip, q.LoginIP},
		keyedQuota{"api:password-reset:ip:" + ip + ":email:" + emailKey(email), q.Login})
}

// verificationLimits count an email-verification request against
// QUOTA_LOGIN per account, so that no one floods their own mailbox.
func (q Quotas) verificationLimits(ctx context.Context, customerID string) error {
	return q.limit(ctx, keyedQuota{"api:email-verification:customer:" + customerID, q.Login})
}

// registerLimits count a sign-up per IP.
func (q Quotas) registerLimits(ctx context.Context) error {
	return q.limit(ctx, keyedQuota{"api:register:ip:" + web.ClientNetwork(ctx), q.Register})
}

// cartCreateLimits count a new cart per IP.
func (q Quotas) cartCreateLimits(ctx context.Context) error {
	return q.limit(ctx, keyedQuota{"api:cart-create:ip:" + web.ClientNetwork(ctx), q.CartCreate})
}

// searchLimits count a product search per IP.
func (q Quotas) searchLimits(ctx context.Context) error {
	return q.limit(ctx, keyedQuota{"api:search-products:" + web.ClientNetwork(ctx), q.Search})
}

// requestLimits count one GraphQL request, or one operation of a
// websocket, per client network (QUOTA_GRAPHQL).
func (q Quotas) requestLimits(ctx context.Context) error {
	return q.limit(ctx, keyedQuota{"api:graphql:" + web.ClientNetwork(ctx), q.GraphQL})
}

// limitRequests is the per-IP ceiling on every GraphQL request (a
// websocket counts once, when it connects). A refused request gets 429
// with a GraphQL error body and RateLimit-* headers.
func limitRequests(q Quotas, next http.Handler) http.Handler {
	if q.Limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		err := q.requestLimits(r.Context())
		var ae *apperr.Error
		if err == nil || !asAppErr(err, &ae) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{
			"message":    ae.Message,
			"extensions": map[string]any{"code": apperr.RateLimited.String(), "retryAfterSeconds": int(math.Ceil(ae.RetryAfter.Seconds()))},
		}}})
	})
}
