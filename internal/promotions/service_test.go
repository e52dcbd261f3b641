package promotions_test

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"commerce/internal/apperr"
	"commerce/internal/platform/dbtest"
	"commerce/internal/promotions"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

func ptr[T any](v T) *T { return &v }

func code(prefix string) string { return prefix + "-" + strings.ToUpper(rand.Text()[:8]) }

func userCodes(err error) []string {
	l, ok := apperr.UserErrors(err)
	if !ok {
		return nil
	}
	var out []string
	for _, e := range l {
		out = append(out, e.UserCode()+" "+strings.Join(e.Field, "."))
	}
	return out
}

func TestService(t *testing.T) {
	d := dbtest.DB(t)
	ctx := context.Background()
	s := promotions.NewService(d, "USD")

	t.Run("create, update keeps timesUsed, archive frees the code", func(t *testing.T) {
		c := code("KEEP")
		p, err := s.Create(ctx, promotions.PromotionInput{Name: " Keep ", Code: ptr(strings.ToLower(c)),
			ValueType: promotions.Percentage, Value: "12.5", UsageLimit: ptr(3), IsActive: true})
		if err != nil {
			t.Fatal(err)
		}
		if *p.Code != c || p.Name != "Keep" || p.Value != 1250 {
			t.Errorf("stored %q %q %d", *p.Code, p.Name, p.Value)
		}
		if _, err := s.Create(ctx, promotions.PromotionInput{Name: "Dup", Code: ptr(c), ValueType: promotions.FreeShipping,
			Value: "0", IsActive: true}); strings.Join(userCodes(err), ",") != "TAKEN input.code" {
			t.Errorf("duplicate code: %v", err)
		}
		err = d.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			return s.Take(ctx, tx, "a@example.com", []promotions.Allocation{{PromotionID: p.ID, PromotionName: "Keep"}}, nil,
				func(promotions.Allocation) []string { return nil })
		})
		if err != nil {
			t.Fatal(err)
		}
		up, err := s.Update(ctx, p.ID, promotions.PromotionInput{Name: "Kept", Code: ptr(c), ValueType: promotions.FixedAmount,
			Value: "2.50", UsageLimit: ptr(1), IsActive: true})
		if err != nil || up.TimesUsed != 1 || up.Value != 250 || up.Name != "Kept" {
			t.Fatalf("update: %+v %v", up, err)
		}
		if _, err := s.Archive(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Create(ctx, promotions.PromotionInput{Name: "Reuse", Code: ptr(c), ValueType: promotions.FreeShipping,
			Value: "0", IsActive: true}); err != nil {
			t.Errorf("the archived promotion's code is not free: %v", err)
		}
		if _, err := s.Update(ctx, p.ID, promotions.PromotionInput{Name: "x", ValueType: promotions.FreeShipping, Value: "0"}); strings.Join(userCodes(err), ",") != "NOT_FOUND id" {
			t.Errorf("update of an archived promotion: %v", err)
		}
		if _, err := s.Archive(ctx, "not-a-uuid"); strings.Join(userCodes(err), ",") != "NOT_FOUND id" {
			t.Errorf("archive of a malformed id: %v", err)
		}
	})

	t.Run("list pages newest first and filters", func(t *testing.T) {
		tag := strings.ToUpper(rand.Text()[:6])
		for i := range 3 {
			if _, err := s.Create(ctx, promotions.PromotionInput{Name: "List " + tag, Code: ptr(code(tag)),
				ValueType: promotions.Percentage, Value: "1", IsActive: i != 1}); err != nil {
				t.Fatal(err)
			}
		}
		page, err := s.List(ctx, ptr(2), nil, ptr(tag), nil)
		if err != nil || page.TotalCount != 3 || len(page.Promotions) != 2 || !page.HasNextPage {
			t.Fatalf("first page: %+v %v", page, err)
		}
		next, err := s.List(ctx, ptr(2), &page.Cursors[1], ptr(tag), nil)
		if err != nil || len(next.Promotions) != 1 || next.HasNextPage || !next.Promotions[0].CreatedAt.Before(page.Promotions[0].CreatedAt.Add(time.Second)) {
			t.Fatalf("second page: %+v %v", next, err)
		}
		inactive, err := s.List(ctx, nil, nil, ptr(tag), ptr(false))
		if err != nil || inactive.TotalCount != 1 {
			t.Errorf("inactive: %+v %v", inactive, err)
		}
		if _, err := s.List(ctx, ptr(101), nil, nil, nil); err == nil {
			t.Error("first 101 accepted")
		}
		if _, err := s.List(ctx, nil, ptr("garbage"), nil, nil); err == nil {
			t.Error("a bad cursor accepted")
		}
	})

	t.Run("uses are exact under concurrency and given back", func(t *testing.T) {
		p, err := s.Create(ctx, promotions.PromotionInput{Name: "Race", Code: ptr(code("RACE")), ValueType: promotions.Percentage,
			Value: "10", UsageLimit: ptr(5), PerCustomerLimit: ptr(2), IsActive: true})
		if err != nil {
			t.Fatal(err)
		}
		take := func(email string) error {
			return d.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				return s.Take(ctx, tx, email, []promotions.Allocation{{PromotionID: p.ID, PromotionName: "Race"}}, []promotions.Promotion{*p},
					func(promotions.Allocation) []string { return []string{"code"} })
			})
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		results := map[string]int{}
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := take([]string{"one@example.com", "two@example.com", "three@example.com", "four@example.com"}[i%4])
				mu.Lock()
				results[strings.Join(userCodes(err), ",")]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		// 4 emails × at most 2 = 8 possible, the limit of 5 allows 5.
		if results[""] != 5 {
			t.Errorf("results %v: want 5 uses taken", results)
		}
		got, _ := s.ByID(ctx, p.ID)
		if got.TimesUsed != 5 {
			t.Errorf("timesUsed %d, want 5", got.TimesUsed)
		}
		err = d.Bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			return promotions.GiveBack(ctx, tx, "one@example.com", []promotions.Allocation{{PromotionID: p.ID, UseTaken: true}})
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := s.ByID(ctx, p.ID); got.TimesUsed != 4 {
			t.Errorf("timesUsed %d after a give-back, want 4", got.TimesUsed)
		}
	})

	t.Run("pricing asks nothing without codes or automatic promotions", func(t *testing.T) {
		fresh := promotions.NewService(d, "USD")
		// Whatever other subtests left, only automatic promotions are loaded without codes.
		got, err := fresh.ForPricing(ctx, d.Bun, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range got {
			if p.Code != nil {
				t.Errorf("a coded promotion loaded without its code: %s", *p.Code)
			}
		}
		auto, err := fresh.Create(ctx, promotions.PromotionInput{Name: "Auto", ValueType: promotions.FreeShipping, Value: "0", IsActive: true})
		if err != nil {
			t.Fatal(err)
		}
		got, err = fresh.ForPricing(ctx, d.Bun, nil)
		if err != nil || len(got) == 0 {
			t.Errorf("a new automatic promotion is not loaded at once by the service that wrote it: %v %v", got, err)
		}
		if _, err := fresh.Archive(ctx, auto.ID); err != nil {
			t.Fatal(err)
		}
	})
}
