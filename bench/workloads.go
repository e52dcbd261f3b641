package main

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"
)

// result is one workload's line of the report.
type result struct {
	Name      string
	VUs       int
	Duration  time.Duration
	Ops       int
	Lat       latencies
	Errors    int
	ErrKinds  map[string]int
	Examples  map[string]string
	Stmts     float64 // per operation; NaN when unknown
	ServerCPU float64 // service CPU seconds per wall second
	PGCPU     float64 // the bench database's Postgres backends, likewise
	BenchCPU  float64 // this load generator, likewise
	HelperCPU float64 // stripe-mock and mailpit, likewise
	RSSKiB    int64   // VmHWM after the workload
	Extra     []string
	Failed    bool // a correctness check failed
	TopSQL    []stmtCount
	StmtOps   int64 // the operations statements are divided by
}

func (r result) opsPerSec() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Duration.Seconds()
}

// opFunc runs one operation; it returns an error for a failed one.
type opFunc func(ctx context.Context, vu int, r *mrand.Rand) error

// runClosed runs vus virtual users in a closed loop for warmup+duration
// and records the operations that start after the warm-up and end before
// the deadline.
func runClosed(ctx context.Context, vus int, warmup, duration time.Duration, op opFunc) (*samples, time.Time, time.Time) {
	start := time.Now()
	measureFrom := start.Add(warmup)
	until := measureFrom.Add(duration)
	ctx, cancel := context.WithDeadline(ctx, until.Add(30*time.Second)) // let the last ops finish
	defer cancel()
	all := newSamples()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for vu := range vus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newSamples()
			r := rng(uint64(vu) + 1)
			for {
				t0 := time.Now()
				if !t0.Before(until) || ctx.Err() != nil {
					break
				}
				err := op(ctx, vu, r)
				t1 := time.Now()
				if t0.Before(measureFrom) || t1.After(until) {
					continue
				}
				if err != nil {
					s.fail(err)
				} else {
					s.add(t1.Sub(t0))
				}
			}
			mu.Lock()
			all.merge(s)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, measureFrom, until
}

// ---------------------------------------------------------------- reads

const productFields = `id sku handle name price{ amount currencyCode } compareAtPrice{ amount currencyCode }
	images{ url altText } availableQuantity category tags`

const productsQuery = `query($first:Int,$after:String,$filter:ProductFilter,$sort:ProductSortKey,$rev:Boolean){
  products(first:$first, after:$after, filter:$filter, sortKey:$sort, reverse:$rev){
    edges{ cursor node{ ` + productFields + ` } }
    pageInfo{ hasNextPage endCursor }
  }
}`

// productsFacetsQuery is a storefront's filtered page with its sidebar:
// facets and the price range of the whole filtered set.
const productsFacetsQuery = `query($first:Int,$filter:ProductFilter){
  products(first:$first, filter:$filter){
    edges{ cursor node{ ` + productFields + ` } }
    pageInfo{ hasNextPage endCursor }
    facets{ key label values{ value count } }
    priceRange{ minVariantPrice{ amount } maxVariantPrice{ amount } }
  }
}`

type productsPage struct {
	Products struct {
		Edges []struct {
			Node struct {
				SKU string `json:"sku"`
			} `json:"node"`
		} `json:"edges"`
		PageInfo struct {
			HasNext   bool    `json:"hasNextPage"`
			EndCursor *string `json:"endCursor"`
		} `json:"pageInfo"`
	} `json:"products"`
}

// browse is a VU's position in a listing: the catalog workload follows a
// listing's cursor for a few pages, then starts another.
type browse struct {
	vars  map[string]any
	pages int
}

var sortKeys = []string{"CREATED_AT", "PRICE", "NAME", "BEST_SELLING"}

func catalogOp(c *client) opFunc {
	var mu sync.Mutex
	state := map[int]*browse{}
	return func(ctx context.Context, vu int, r *mrand.Rand) error {
		mu.Lock()
		b := state[vu]
		mu.Unlock()
		if b == nil || b.pages == 0 {
			filter := map[string]any{}
			switch r.IntN(6) {
			case 0: // all products
			case 1:
				filter["category"] = categories[r.IntN(len(categories))]
			case 2:
				filter["inStock"] = true
			case 3:
				lo := 5 + r.IntN(400)
				filter["minPrice"] = fmt.Sprintf("%d.00", lo)
				filter["maxPrice"] = fmt.Sprintf("%d.99", lo+20+r.IntN(80))
			case 4:
				filter["category"] = categories[r.IntN(len(categories))]
				filter["inStock"] = true
			case 5:
				filter["category"] = categories[r.IntN(len(categories))]
				filter["minPrice"] = "50.00"
			}
			b = &browse{vars: map[string]any{"first": 20, "filter": filter, "sort": sortKeys[r.IntN(len(sortKeys))],
				"rev": r.IntN(2) == 0}, pages: 1 + r.IntN(4)}
			mu.Lock()
			state[vu] = b
			mu.Unlock()
		}
		var out productsPage
		if err := c.do(ctx, "", productsQuery, b.vars, &out); err != nil {
			b.pages = 0
			return err
		}
		b.pages--
		pi := out.Products.PageInfo
		if pi.HasNext && pi.EndCursor != nil {
			b.vars["after"] = *pi.EndCursor
		} else {
			b.pages = 0
		}
		if b.pages == 0 {
			delete(b.vars, "after")
		}
		return nil
	}
}

// searchTerm is a real phrase from the seeded vocabulary, sometimes with a
// typo (a dropped, doubled or swapped letter).
func searchTerm(r *mrand.Rand) string {
	var words []string
	switch r.IntN(4) {
	case 0:
		words = []string{nouns[r.IntN(len(nouns))]}
	case 1:
		words = []string{materials[r.IntN(len(materials))], nouns[r.IntN(len(nouns))]}
	case 2:
		words = []string{adjectives[r.IntN(len(adjectives))], nouns[r.IntN(len(nouns))]}
	case 3:
		words = []string{strings.ToLower(categories[r.IntN(len(categories))])}
	}
	if r.IntN(3) == 0 { // typo in one word
		i := r.IntN(len(words))
		words[i] = typo(words[i], r)
	}
	return strings.Join(words, " ")
}

func typo(w string, r *mrand.Rand) string {
	if len(w) < 4 {
		return w
	}
	i := 1 + r.IntN(len(w)-2)
	switch r.IntN(3) {
	case 0: // drop
		return w[:i] + w[i+1:]
	case 1: // double
		return w[:i] + w[i:i+1] + w[i:]
	default: // swap
		b := []byte(w)
		b[i], b[i+1] = b[i+1], b[i]
		return string(b)
	}
}

func searchOp(c *client) opFunc {
	return func(ctx context.Context, vu int, r *mrand.Rand) error {
		vars := map[string]any{"first": 20, "filter": map[string]any{"search": searchTerm(r)}, "sort": "RELEVANCE"}
		var out productsPage
		return c.do(ctx, "", productsQuery, vars, &out)
	}
}

const productQuery = `query($sku:String!){ product(sku:$sku){ ` + productFields + ` description inventoryQuantity } }`

func productOp(c *client) opFunc {
	return func(ctx context.Context, vu int, r *mrand.Rand) error {
		var out struct {
			Product *struct {
				SKU string `json:"sku"`
			} `json:"product"`
		}
		sku := fmt.Sprintf("BN-%05d", r.IntN(numProducts))
		if err := c.do(ctx, "", productQuery, map[string]any{"sku": sku}, &out); err != nil {
			return err
		}
		if out.Product == nil || out.Product.SKU != sku {
			return fmt.Errorf("product %s: not found", sku)
		}
		return nil
	}
}

// ---------------------------------------------------------------- checkout

const cartCreateMutation = `mutation($email:String,$lines:[CartLineInput!]){ cartCreate(email:$email, lines:$lines){ cart{ id } userErrors{ field message code } } }`
const cartLinesAddMutation = `mutation($id:ID!,$lines:[CartLineInput!]!){ cartLinesAdd(cartId:$id, lines:$lines){ cart{ id total{ amount } } userErrors{ field message code } } }`

type cartPayload struct {
	Cart *struct {
		ID string `json:"id"`
	} `json:"cart"`
	UserErrors userErrors `json:"userErrors"`
}

func (c *client) cartCreate(ctx context.Context, email string, lines []map[string]any) (string, error) {
	var out struct {
		P cartPayload `json:"cartCreate"`
	}
	vars := map[string]any{"email": email}
	if lines != nil {
		vars["lines"] = lines
	}
	if err := c.do(ctx, "", cartCreateMutation, vars, &out); err != nil {
		return "", err
	}
	if err := out.P.UserErrors.err(); err != nil {
		return "", err
	}
	if out.P.Cart == nil {
		return "", fmt.Errorf("cartCreate: no cart")
	}
	return out.P.Cart.ID, nil
}

func (c *client) cartLinesAdd(ctx context.Context, cartID string, lines []map[string]any) error {
	var out struct {
		P cartPayload `json:"cartLinesAdd"`
	}
	if err := c.do(ctx, "", cartLinesAddMutation, map[string]any{"id": cartID, "lines": lines}, &out); err != nil {
		return err
	}
	return out.P.UserErrors.err()
}

// randomLines picks n distinct catalog products (never the flash-sale
// ones), quantity 1 or 2.
func randomLines(r *mrand.Rand, n int) []map[string]any {
	seen := map[int]bool{}
	var lines []map[string]any
	for len(lines) < n {
		i := r.IntN(numProducts)
		if seen[i] || soldOut(i) {
			continue
		}
		seen[i] = true
		lines = append(lines, map[string]any{"sku": fmt.Sprintf("BN-%05d", i), "quantity": 1 + r.IntN(2)})
	}
	return lines
}

// checkoutFlow is one whole paid order: cartCreate → cartLinesAdd (1–3
// lines) → checkout → signed payment_intent.succeeded → order read back
// as PAID.
func checkoutFlow(ctx context.Context, c *client, r *mrand.Rand, nLines int, step func(name string, d time.Duration)) error {
	email := customerEmail(r.IntN(numCustomers))
	t := time.Now()
	mark := func(name string) {
		if step != nil {
			now := time.Now()
			step(name, now.Sub(t))
			t = now
		}
	}
	cartID, err := c.cartCreate(ctx, email, nil)
	if err != nil {
		return err
	}
	mark("cartCreate")
	if err := c.cartLinesAdd(ctx, cartID, randomLines(r, nLines)); err != nil {
		return err
	}
	mark("cartLinesAdd")
	o, err := c.checkout(ctx, cartID, nil, email)
	if err != nil {
		return err
	}
	mark("checkout")
	if err := c.pay(ctx, o); err != nil {
		return err
	}
	mark("webhook")
	if err := c.waitPaid(ctx, o.Number); err != nil {
		return err
	}
	mark("readPaid")
	return nil
}

// stepStats collects per-step latencies of the checkout flow.
type stepStats struct {
	mu    sync.Mutex
	steps map[string]*samples
	order []string
}

func (s *stepStats) add(name string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.steps == nil {
		s.steps = map[string]*samples{}
	}
	x, ok := s.steps[name]
	if !ok {
		x = newSamples()
		s.steps[name] = x
		s.order = append(s.order, name)
	}
	x.add(d)
}

func (s *stepStats) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for _, n := range s.order {
		l := s.steps[n].percentiles()
		parts = append(parts, fmt.Sprintf("%s p50 %s p99 %s", n, ms(l.p50), ms(l.p99)))
	}
	return "steps: " + strings.Join(parts, "; ")
}
