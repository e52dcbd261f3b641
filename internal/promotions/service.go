package promotions

import (
	"context"

	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/money"
	"commerce/internal/platform/db"
	"commerce/internal/platform/page"
)

// automaticRecheck is how long the knowledge that no automatic promotion
// exists is trusted. Pricing loads promotions only when codes are given or
// automatic promotions may exist, so that a checkout without either costs
// no statement; a promotion written through this service is seen at once,
// one written through another instance within this time.
const automaticRecheck = 2 * time.Second

// Input bounds.
const (
	maxNameLen    = 200
	maxTargets    = 50
	maxProductIDs = 100
	maxTargetLen  = 100
)

var codePattern = regexp.MustCompile(`^[A-Z0-9_-]{3,64}$`)

// Service manages promotions and their uses.
type Service struct {
	db       *db.DB
	currency string
	now      func() time.Time

	mu         sync.Mutex
	checkedAt  time.Time // when automaticExists was last asked; zero: ask now
	automatic  bool
	refreshing bool
}

// NewService returns the promotions of a store selling in currency.
func NewService(d *db.DB, currency string) *Service {
	return &Service{db: d, currency: currency, now: time.Now}
}

// PromotionInput is a promotion's settings as the API gives them.
type PromotionInput struct {
	Name             string
	Code             *string
	ValueType        ValueType
	Value            string
	Categories       []string
	Tags             []string
	ProductIDs       []string
	MinimumSubtotal  *string
	StartsAt, EndsAt *time.Time
	UsageLimit       *int
	PerCustomerLimit *int
	Combines         bool
	IsActive         bool
}

// Create validates and stores a promotion. userErrors (an apperr.List, all
// at once, nothing written) are at ["input", field]; a code in use by a
// promotion that is not archived is TAKEN at ["input", "code"].
func (s *Service) Create(ctx context.Context, in PromotionInput) (*Promotion, error) {
	p, err := s.validate(ctx, in)
	if err != nil {
		return nil, err
	}
	r, err := insertPromotion(ctx, s.db.Bun, p)
	return s.written(r, err)
}

// Update replaces a promotion's settings, keeping timesUsed. It returns a
// NotFound userError at ["id"] for an unknown or archived promotion and the
// errors of Create.
func (s *Service) Update(ctx context.Context, id string, in PromotionInput) (*Promotion, error) {
	key, ok := canonicalID(id)
	if !ok {
		return nil, errNotFound()
	}
	p, err := s.validate(ctx, in)
	if err != nil {
		return nil, err
	}
	r, err := updatePromotion(ctx, s.db.Bun, key, p)
	if db.IsNoRows(err) {
		return nil, errNotFound()
	}
	return s.written(r, err)
}

// Archive archives a promotion: it never applies again and its code is
// free. It returns a NotFound userError at ["id"] for an unknown one.
func (s *Service) Archive(ctx context.Context, id string) (*Promotion, error) {
	key, ok := canonicalID(id)
	if !ok {
		return nil, errNotFound()
	}
	r, err := archivePromotion(ctx, s.db.Bun, key)
	if db.IsNoRows(err) {
		return nil, errNotFound()
	}
	return s.written(r, err)
}

// written returns the stored promotion and forgets that no automatic
// promotion exists.
func (s *Service) written(r row, err error) (*Promotion, error) {
	if db.IsUniqueViolation(err, "promotions_code_key") {
		return nil, apperr.Taken(apperr.Path("input", "code"), "this code")
	}
	if err != nil {
		return nil, fmt.Errorf("write promotion: %w", err)
	}
	s.mu.Lock()
	s.checkedAt = time.Time{}
	s.mu.Unlock()
	p := r.promotion()
	return &p, nil
}

// ByID returns a promotion, nil when there is none.
func (s *Service) ByID(ctx context.Context, id string) (*Promotion, error) {
	key, ok := canonicalID(id)
	if !ok {
		return nil, nil
	}
	r, err := selectPromotion(ctx, s.db.Bun, key)
	if db.IsNoRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load promotion: %w", err)
	}
	p := r.promotion()
	return &p, nil
}

// Page is a page of promotions, newest first.
type Page struct {
	Promotions  []Promotion
	Cursors     []string
	HasNextPage bool
	TotalCount  int
}

// List returns up to first promotions (page.DefaultFirst when nil), newest
// first, after the cursor, matching search (name or code) and isActive. A
// bad first or cursor is an Invalid error.
func (s *Service) List(ctx context.Context, first *int, after *string, search *string, isActive *bool) (*Page, error) {
	limit, err := page.First(first)
	if err != nil {
		return nil, err
	}
	var before int64
	if after != nil {
		if err := page.Decode(*after, &before); err != nil || before <= 0 {
			return nil, apperr.New(apperr.Invalid, "after is not a valid cursor")
		}
	}
	q := ""
	if search != nil {
		q = strings.TrimSpace(*search)
	}
	rows, total, err := listPromotions(ctx, s.db.Bun, before, limit+1, q, isActive)
	if err != nil {
		return nil, fmt.Errorf("list promotions: %w", err)
	}
	out := &Page{HasNextPage: len(rows) > limit, TotalCount: total}
	for _, r := range rows[:min(len(rows), limit)] {
		out.Promotions = append(out.Promotions, r.promotion())
		out.Cursors = append(out.Cursors, page.Encode(r.Seq))
	}
	return out, nil
}

// ForPricing loads, inside idb, the promotions that may apply to a cart
// with the codes: the live automatic ones and those of the codes. With no
// codes and no automatic promotion known to exist it asks nothing.
func (s *Service) ForPricing(ctx context.Context, idb bun.IDB, codes []string) ([]Promotion, error) {
	if len(codes) == 0 {
		exists, err := s.automaticExists(ctx, idb)
		if err != nil || !exists {
			return nil, err
		}
	}
	norm := make([]string, len(codes))
	for i, c := range codes {
		norm[i] = NormalizeCode(c)
	}
	rows, err := selectForPricing(ctx, idb, norm)
	if err != nil {
		return nil, fmt.Errorf("load promotions: %w", err)
	}
	out := make([]Promotion, len(rows))
	for i := range rows {
		out[i] = rows[i].promotion()
	}
	return out, nil
}

// automaticExists reports whether automatic promotions may exist. It asks
// the database, inside idb, the first time and after a write through this
// service; after that, once the answer is older than automaticRecheck, it
// keeps answering with it while one background query refreshes it, so that
// requests never wait for the check.
func (s *Service) automaticExists(ctx context.Context, idb bun.IDB) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	switch {
	case s.checkedAt.IsZero():
		exists, err := automaticExists(ctx, idb)
		if err != nil {
			return false, fmt.Errorf("look for automatic promotions: %w", err)
		}
		s.automatic, s.checkedAt = exists, now
	case now.Sub(s.checkedAt) >= automaticRecheck && !s.refreshing:
		s.refreshing = true
		go s.refreshAutomatic()
	}
	return s.automatic, nil
}

// refreshAutomatic looks again for automatic promotions. It runs detached
// from any request, whose statements it is not part of.
func (s *Service) refreshAutomatic() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	exists, err := automaticExists(ctx, s.db.Bun)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshing = false
	if err == nil && !s.checkedAt.IsZero() {
		s.automatic, s.checkedAt = exists, s.now()
	}
}

// CustomerUses returns how many uses email holds of each of the
// promotions, for checking a cart's codes against their per-customer limit.
func (s *Service) CustomerUses(ctx context.Context, email string, promos []Promotion) (map[string]int, error) {
	var ids []string
	for _, p := range promos {
		if p.PerCustomerLimit != nil {
			ids = append(ids, p.ID)
		}
	}
	if email == "" || len(ids) == 0 {
		return nil, nil
	}
	uses, err := customerUses(ctx, s.db.Bun, strings.ToLower(email), ids)
	if err != nil {
		return nil, fmt.Errorf("load customer uses: %w", err)
	}
	return uses, nil
}

// Take takes, inside the checkout transaction tx, a use of every promotion
// of allocs for an order by email, marking them UseTaken. A promotion used
// up (or archived or deactivated) meanwhile is DISCOUNT_USAGE_LIMIT_REACHED
// (DISCOUNT_CODE_INVALID) at path; one email has used up is
// DISCOUNT_CUSTOMER_LIMIT_REACHED. The caller rolls back on an error.
func (s *Service) Take(ctx context.Context, tx bun.Tx, email string, allocs []Allocation, promos []Promotion,
	path func(a Allocation) []string) error {
	if len(allocs) == 0 {
		return nil
	}
	ids := make([]string, len(allocs))
	for i, a := range allocs {
		ids[i] = a.PromotionID
	}
	taken, err := takeUses(ctx, tx, ids, strings.ToLower(email))
	if err != nil {
		return fmt.Errorf("take promotion uses: %w", err)
	}
	var errs apperr.List
	for i, a := range allocs {
		customerOK, ok := taken[a.PromotionID]
		switch {
		case !ok && limited(promos, a.PromotionID):
			errs = append(errs, apperr.Coded(CodeUsageLimit, path(a), "%s has been used up", a.PromotionName))
		case !ok:
			errs = append(errs, apperr.Coded(CodeInvalid, path(a), "%s no longer applies", a.PromotionName))
		case !customerOK:
			errs = append(errs, apperr.Coded(CodeCustomerLimit, path(a), "%s has already been used with this email", a.PromotionName))
		}
		allocs[i].UseTaken = true
	}
	return errs.Err()
}

func limited(promos []Promotion, id string) bool {
	for _, p := range promos {
		if p.ID == id {
			return p.UsageLimit != nil
		}
	}
	return false
}

// GiveBack returns, inside tx, the uses an order by email took of the
// promotions of allocs (those with UseTaken). The caller calls it once per
// order, when it is cancelled.
func GiveBack(ctx context.Context, tx bun.Tx, email string, allocs []Allocation) error {
	var ids []string
	for _, a := range allocs {
		if a.UseTaken {
			ids = append(ids, a.PromotionID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if err := giveUsesBack(ctx, tx, ids, strings.ToLower(email)); err != nil {
		return fmt.Errorf("give promotion uses back: %w", err)
	}
	return nil
}

// validate checks the input and returns the promotion to store; every
// problem at once.
func (s *Service) validate(ctx context.Context, in PromotionInput) (*Promotion, error) {
	var errs apperr.List
	path := func(f ...any) []string { return apperr.Path(append([]any{"input"}, f...)...) }
	p := &Promotion{Name: strings.TrimSpace(in.Name), ValueType: in.ValueType, Currency: s.currency,
		StartsAt: in.StartsAt, EndsAt: in.EndsAt, UsageLimit: in.UsageLimit, PerCustomerLimit: in.PerCustomerLimit,
		Combines: in.Combines, IsActive: in.IsActive}
	if p.Name == "" || len([]rune(p.Name)) > maxNameLen {
		errs = append(errs, apperr.InvalidField(path("name"), "must be 1 to %d characters", maxNameLen))
	}
	if in.Code != nil {
		c := NormalizeCode(*in.Code)
		if !codePattern.MatchString(c) {
			errs = append(errs, apperr.InvalidField(path("code"), "must be 3 to 64 of A-Z, 0-9, - and _"))
		}
		p.Code = &c
	}
	switch in.ValueType {
	case Percentage:
		// A percentage has at most 2 decimals: read like an amount of a
		// 2-digit currency, it is in hundredths of a percent.
		v, err := money.Parse(in.Value, "USD")
		if err != nil || v.Amount <= 0 || v.Amount > 100*100 {
			errs = append(errs, apperr.InvalidField(path("value"), "must be a percentage above 0 and at most 100, with at most 2 decimals"))
		}
		p.Value = v.Amount
	case FixedAmount:
		v, err := money.Parse(in.Value, s.currency)
		if err != nil || v.Amount <= 0 {
			errs = append(errs, apperr.InvalidField(path("value"), "must be a positive amount with at most %d decimals", money.Digits(s.currency)))
		}
		p.Value = v.Amount
	case FreeShipping:
		if v, err := money.Parse(in.Value, s.currency); err != nil || v.Amount != 0 {
			errs = append(errs, apperr.InvalidField(path("value"), "must be 0 for free shipping"))
		}
	default:
		errs = append(errs, apperr.InvalidField(path("valueType"), "is not a value type"))
	}
	if in.MinimumSubtotal != nil {
		v, err := money.Parse(*in.MinimumSubtotal, s.currency)
		if err != nil || v.Amount < 0 {
			errs = append(errs, apperr.InvalidField(path("minimumSubtotal"), "must be an amount of at least 0 with at most %d decimals", money.Digits(s.currency)))
		}
		p.MinimumSubtotal = &v.Amount
	}
	if in.StartsAt != nil && in.EndsAt != nil && !in.EndsAt.After(*in.StartsAt) {
		errs = append(errs, apperr.InvalidField(path("endsAt"), "must be after startsAt"))
	}
	if in.UsageLimit != nil && *in.UsageLimit < 0 {
		errs = append(errs, apperr.InvalidField(path("usageLimit"), "must be at least 0"))
	}
	if in.PerCustomerLimit != nil && *in.PerCustomerLimit < 1 {
		errs = append(errs, apperr.InvalidField(path("perCustomerLimit"), "must be at least 1"))
	}
	p.Target.Categories = cleanTargets(in.Categories, path("appliesTo", "categories"), &errs)
	p.Target.Tags = cleanTargets(in.Tags, path("appliesTo", "tags"), &errs)
	if len(in.ProductIDs) > maxProductIDs {
		errs = append(errs, apperr.InvalidField(path("appliesTo", "productIds"), "at most %d products", maxProductIDs))
	} else {
		ids, err := s.checkProducts(ctx, in.ProductIDs, path("appliesTo", "productIds"))
		if err != nil && !isUserError(err) {
			return nil, err
		}
		errs.Add(err)
		p.Target.ProductIDs = ids
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return p, nil
}

// checkProducts returns the canonical ids, or NotFound userErrors for those
// that are no product.
func (s *Service) checkProducts(ctx context.Context, ids []string, path []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var errs apperr.List
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i], _ = canonicalID(id)
	}
	found, err := existingProducts(ctx, s.db.Bun, validIDs(out))
	if err != nil {
		return nil, fmt.Errorf("check promotion products: %w", err)
	}
	for i, id := range out {
		if !found[id] {
			errs = append(errs, apperr.Field(apperr.NotFound, append(append([]string{}, path...), fmt.Sprint(i)), "product not found"))
		}
	}
	return out, errs.Err()
}

func validIDs(ids []string) []string {
	out := []string{}
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}

func cleanTargets(in []string, path []string, errs *apperr.List) []string {
	if len(in) > maxTargets {
		*errs = append(*errs, apperr.InvalidField(path, "at most %d", maxTargets))
		return nil
	}
	out := make([]string, 0, len(in))
	for i, s := range in {
		s = strings.TrimSpace(s)
		if s == "" || len(s) > maxTargetLen {
			*errs = append(*errs, apperr.InvalidField(append(append([]string{}, path...), fmt.Sprint(i)), "must be 1 to %d characters", maxTargetLen))
		}
		out = append(out, s)
	}
	return out
}

func canonicalID(id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

func errNotFound() error {
	return apperr.Field(apperr.NotFound, apperr.Path("id"), "promotion not found")
}

func isUserError(err error) bool {
	_, ok := apperr.UserErrors(err)
	return ok
}

// Problems turns evaluation problems into userErrors at path(i).
func Problems(ps []Problem, path func(i int) []string) error {
	var errs apperr.List
	for _, p := range ps {
		errs = append(errs, apperr.Coded(p.Code, path(p.Index), "%s", p.Message))
	}
	return errs.Err()
}
