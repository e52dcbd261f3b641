package graph

import (
	"context"
	"errors"
	"strings"
	"time"

	"commerce/internal/apperr"
	"commerce/internal/auth"
	"commerce/internal/config"
	"commerce/internal/platform/web"
	"commerce/internal/quota"
)

// Failure budgets limit attempts that fail (wrong passwords, order lookups
// that find nothing) while leaving successes free, so an attacker's
// failures cannot lock out the person who knows the answer. An attempt
// takes its unit up front, atomically, so concurrent attempts (aliases, a
// burst of requests) cannot overrun the budget; one that succeeds gives it
// back.

// maxLoginDelay bounds how long a sign-in from an address with no failures
// against the account waits once the account is past its failure budget:
// the owner always gets in after at most this long, an attacker's guess
// costs at least as much.
const maxLoginDelay = 2 * time.Second

// attempt is the units one attempt took.
type attempt struct {
	lim   *quota.Limiter
	taken []keyedQuota
}

// take counts one attempt against each key. When a key refuses, the units
// already taken are given back and the error is RATE_LIMITED with the
// RateLimit-* headers of that key; otherwise it returns the result of the
// last key.
func (q Quotas) take(ctx context.Context, checks ...keyedQuota) (*attempt, quota.Result, error) {
	a := &attempt{lim: q.Limiter}
	var res quota.Result
	for _, c := range checks {
		if res = q.Limiter.Allow(ctx, c.key, c.quota); !res.Allowed {
			a.giveBack(ctx)
			setRateLimitHeaders(ctx, res)
			return nil, res, res.Err()
		}
		a.taken = append(a.taken, c)
	}
	return a, res, nil
}

// giveBack refunds every unit the attempt took: it did not fail.
func (a *attempt) giveBack(ctx context.Context) {
	for _, c := range a.taken {
		a.lim.Refund(ctx, c.key, c.quota)
	}
	a.taken = nil
}

// signIn runs login (customerLogin or staffLogin, named by kind) within the
// failure budgets; a failure is login returning auth.ErrInvalidCredentials.
//
//   - QUOTA_LOGIN: failures per (email, IP). Spent: that address is refused
//     for that email.
//   - QUOTA_LOGIN_IP: failures per IP over all emails. Spent: the address is
//     refused.
//   - QUOTA_LOGIN_ACCOUNT: failures per email from every address. Spent: the
//     account slows down rather than locks. An address that has failed
//     against the email within QUOTA_LOGIN's period is refused until the
//     budget earns a unit back; any other address may try once, answered
//     after min(that wait, maxLoginDelay), so the owner signing in from
//     their own address gets in while guesses from many addresses stay
//     slow (each address gets one such try per period).
//
// Unknown emails are throttled exactly like accounts, so the answers do not
// tell which emails have one. The response carries the RateLimit-* headers
// of QUOTA_LOGIN, or of the key that refused.
func (q Quotas) signIn(ctx context.Context, kind, email string, login func() error) error {
	if q.Limiter == nil {
		return login()
	}
	e, ip := emailKey(email), web.ClientNetwork(ctx)
	// Every attempt spends a bcrypt comparison, a right password too: the
	// failure budgets below give successes back, this one never does.
	if err := q.limit(ctx, keyedQuota{"api:login-attempts:ip:" + ip, q.LoginAttemptsIP}); err != nil {
		return err
	}
	account := keyedQuota{"api:login-failed:" + kind + ":account:" + e, q.LoginAccount}
	failedHere := keyedQuota{"api:login-failed:" + kind + ":marked:ip:" + ip + ":email:" + e,
		config.Quota{Limit: 1, Period: q.Login.Period}}
	a, res, err := q.take(ctx,
		keyedQuota{"api:login-failed:ip:" + ip, q.LoginIP},
		keyedQuota{"api:login-failed:" + kind + ":ip:" + ip + ":email:" + e, q.Login})
	if err != nil {
		return err
	}
	setRateLimitHeaders(ctx, res)
	marked := false
	if acct := q.Limiter.Allow(ctx, account.key, account.quota); acct.Allowed {
		a.taken = append(a.taken, account)
	} else {
		// Past the account's budget: only an address with no recent
		// failure against it may try, taking its one try atomically.
		if !q.Limiter.Allow(ctx, failedHere.key, failedHere.quota).Allowed {
			a.giveBack(ctx)
			setRateLimitHeaders(ctx, acct)
			return acct.Err()
		}
		a.taken, marked = append(a.taken, failedHere), true
		if err := wait(ctx, min(acct.RetryAfter, maxLoginDelay)); err != nil {
			a.giveBack(ctx)
			return err
		}
	}
	err = login()
	if !errors.Is(err, auth.ErrInvalidCredentials) {
		a.giveBack(ctx)
		return err
	}
	if !marked {
		q.Limiter.Allow(ctx, failedHere.key, failedHere.quota)
	}
	return err
}

// wait sleeps for d, or until the client goes away.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxOrderNumberKey bounds the order number in a quota key; real numbers
// are much shorter, so a longer one only needs a bucket of its own.
const maxOrderNumberKey = 32

// lookupOrder runs lookup within the failed-lookup budgets of everyone but
// staff: per IP (QUOTA_ORDER_LOOKUP), and, for a lookup by email, per order
// number (QUOTA_ORDER_LOOKUP_NUMBER), so guessing an order's email is slow
// from one address and from many. A failure is lookup returning NotFound,
// which the caller passes on unchanged: a failed lookup still looks exactly
// like a missing order. Once a budget is spent, lookups are RATE_LIMITED.
func (q Quotas) lookupOrder(ctx context.Context, number string, byEmail bool, lookup func() error) error {
	if q.Limiter == nil || auth.FromContext(ctx).IsStaff() {
		return lookup()
	}
	checks := []keyedQuota{{"api:order-lookup-failed:ip:" + web.ClientNetwork(ctx), q.OrderLookup}}
	if byEmail {
		n := strings.ToUpper(strings.TrimSpace(number))
		n = n[:min(len(n), maxOrderNumberKey)]
		checks = append(checks, keyedQuota{"api:order-lookup-failed:number:" + n, q.OrderLookupNumber})
	}
	a, _, err := q.take(ctx, checks...)
	if err != nil {
		return err
	}
	err = lookup()
	if !errors.Is(err, apperr.ErrNotFound) {
		a.giveBack(ctx)
	}
	return err
}
