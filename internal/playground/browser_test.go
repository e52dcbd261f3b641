package playground_test

// The Playground in Debian's headless Chromium, with every request to a
// host other than 127.0.0.1 refused twice over: the resolver maps every
// other name to nothing, and the DevTools Fetch domain fails any request
// the page makes outside the loopback address (and the test fails with
// it). GraphiQL must load, run a query typed into it, show the data,
// answer a subscription over the websocket, and list the Query type's
// fields in its documentation explorer.

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"commerce/graph"
	"commerce/internal/auth"
	"commerce/internal/catalog"
	"commerce/internal/inventory"
	"commerce/internal/notify"
	"commerce/internal/platform/dbtest"
	"commerce/internal/playground"
	"commerce/internal/realtime"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

// chromiumPath is Debian's Chromium, which `make test` installs.
const chromiumPath = "/usr/bin/chromium"

// startAPI serves the Playground and a real /graphql endpoint (the demo
// catalog on the package database) on 127.0.0.1.
func startAPI(t *testing.T) string {
	t.Helper()
	d := dbtest.DB(t)
	log := slog.New(slog.DiscardHandler)
	inserter, err := river.NewClient(riverdatabasesql.New(d.SQL), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	notifier, err := notify.NewService(d, inserter, notify.LogSender{Log: log}, notify.LogSender{Log: log},
		notify.Config{From: "shop@example.com", MaxAttempts: 3, RetryBase: time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	tokens := auth.NewSessions(d, auth.NewTokens([]byte(strings.Repeat("k", 32)), time.Hour, time.Hour, time.Now))
	inv := inventory.NewService(d, notifier, inventory.Config{})
	cat := catalog.NewService(d, inv.Ledger(), catalog.Config{StoreCurrency: "USD"})
	if _, err := cat.SeedDemo(context.Background()); err != nil {
		t.Fatal(err)
	}
	hub := realtime.New(nil, "", log, nil)
	r := graph.NewResolver(graph.Services{Catalog: cat, Inventory: inv, Notify: notifier, Live: hub}, log)
	mux := http.NewServeMux()
	mux.Handle("/graphql", graph.NewHandler(r, graph.HandlerConfig{Sessions: tokens, MaxUploadBytes: 1 << 20, Log: log}))
	pg := playground.Handler()
	mux.Handle(playground.Path, pg)
	mux.Handle(playground.Path+"/", pg)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// traffic is what the page asked for beyond its own requests.
type traffic struct {
	mu      sync.Mutex
	refused []string // requests failed for leaving 127.0.0.1
	sockets []string // websockets opened
}

func (tr *traffic) add(list *[]string, u string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	*list = append(*list, u)
}

func (tr *traffic) get(list *[]string) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), *list...)
}

// offlineBrowser starts Chromium with no way out of the machine: names
// other than 127.0.0.1 do not resolve, and every request the page makes
// is paused and failed unless it goes to the loopback address.
func offlineBrowser(t *testing.T) (context.Context, *traffic) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("Chromium is not installed (%s missing): `make test` installs it (scripts/services.sh), or run `apt-get install -y chromium`", chromiumPath)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}

	tr := &traffic{}
	paused := chromedp.Events(bctx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			u, perr := url.Parse(ev.Request.URL)
			if perr == nil && (u.Scheme == "data" || u.Hostname() == "127.0.0.1") {
				_, _ = chromedp.Call(bctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				continue
			}
			tr.add(&tr.refused, ev.Request.URL)
			_, _ = chromedp.Call(bctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
		}
	}()
	// The Fetch domain does not see websockets: record them.
	sockets := chromedp.Events(bctx, network.WebSocketCreated)
	go func() {
		for ev, err := range sockets {
			if err != nil {
				return
			}
			tr.add(&tr.sockets, ev.URL)
			if u, perr := url.Parse(ev.URL); perr != nil || u.Hostname() != "127.0.0.1" {
				tr.add(&tr.refused, ev.URL)
			}
		}
	}()
	if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("enable the network domain: %v", err)
	}
	if _, err := chromedp.Call(bctx, fetch.Enable, fetch.EnableParams{}); err != nil {
		t.Fatalf("enable request interception: %v", err)
	}
	return bctx, tr
}

func TestPlaygroundOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium; skipped with -short")
	}
	base := startAPI(t)
	ctx, tr := offlineBrowser(t)

	problems := pageProblems(ctx)
	step(t, ctx, "open /playground", chromedp.Navigate(base+playground.Path))
	waitVisible(t, ctx, "GraphiQL's query editor", ".graphiql-query-editor .CodeMirror")

	// Type a query into the editor (replacing the example) and run it.
	step(t, ctx, "type a query",
		script(`document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue('')`),
		chromedp.Click(chromedp.CSS(".graphiql-query-editor .CodeMirror-code")),
		chromedp.SendKeys(chromedp.CSS(".graphiql-query-editor textarea"), "{ products(first: 2) { totalCount edges { node { name } } }"),
	)
	step(t, ctx, "run it", chromedp.Click(chromedp.CSS(".graphiql-execute-button")))
	result := waitResult(t, ctx, `"totalCount": 66`)
	if !strings.Contains(result, `"name":`) {
		t.Errorf("the result shows no product names:\n%s", result)
	}

	// A subscription goes over the websocket to the same origin; without
	// a token the server refuses it, and the refusal is what shows. (The
	// page starts from it: GraphiQL picks the websocket from the document
	// it parsed, which lags a moment behind an edit.)
	step(t, ctx, "open the page on a subscription",
		script(`localStorage.setItem('graphiql:query', 'subscription { lowStockAlerts { availableQuantity } }')`),
		chromedp.Reload(),
	)
	waitVisible(t, ctx, "GraphiQL's query editor", ".graphiql-query-editor .CodeMirror")
	step(t, ctx, "run the subscription", chromedp.Click(chromedp.CSS(".graphiql-execute-button")))
	waitResult(t, ctx, "UNAUTHENTICATED")
	if want := "ws" + strings.TrimPrefix(base, "http") + "/graphql"; !slices.Contains(tr.get(&tr.sockets), want) {
		t.Errorf("the subscription did not go over a websocket to %s (websockets: %v)", want, tr.get(&tr.sockets))
	}

	// The documentation explorer lists the Query type's fields.
	step(t, ctx, "open the docs", chromedp.Click(chromedp.CSS(`button[aria-label="Show Documentation Explorer"]`)))
	waitVisible(t, ctx, "the documentation explorer", ".graphiql-doc-explorer")
	step(t, ctx, "open the Query type", chromedp.Click(chromedp.CSS(`.graphiql-doc-explorer a.graphiql-doc-explorer-type-name`)))
	waitVisible(t, ctx, "the Query type's fields", ".graphiql-doc-explorer-field-name")
	fields, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('.graphiql-doc-explorer .graphiql-doc-explorer-field-name')].map(e => e.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"products", "product", "cart"} {
		if !slices.Contains(fields, want) {
			t.Errorf("the docs of Query do not list %s (they list %v)", want, fields)
		}
	}
	// Each field the schema describes shows its description.
	described := describedQueryFields(t, base)
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[int](
		`document.querySelectorAll('.graphiql-doc-explorer-content .graphiql-markdown-description').length`))
	t.Logf("descriptions shown %d, described %d", shown, described)
	if err != nil || shown < described {
		t.Errorf("the docs of Query show %d descriptions (%v); the schema describes %d of its fields", shown, err, described)
	}

	if refused := tr.get(&tr.refused); len(refused) > 0 {
		t.Errorf("the page asked for URLs outside 127.0.0.1: %v", refused)
	}
	for _, p := range problems() {
		t.Errorf("browser console: %s", p)
	}
}

// pageProblems collects the page's uncaught exceptions and Content
// Security Policy violations.
func pageProblems(ctx context.Context) func() []string {
	var mu sync.Mutex
	var out []string
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				out = append(out, m.String())
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), out...)
	}
}

// describedQueryFields counts the fields of Query that have a description,
// by introspection.
func describedQueryFields(t *testing.T, base string) int {
	t.Helper()
	body := strings.NewReader(`{"query": "{ __type(name: \"Query\") { fields { description } } }"}`)
	res, err := http.Post(base+"/graphql", "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data struct {
			Type struct {
				Fields []struct{ Description string }
			} `json:"__type"`
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || len(out.Data.Type.Fields) == 0 {
		t.Fatalf("introspect Query: %v %+v", err, out)
	}
	n := 0
	for _, f := range out.Data.Type.Fields {
		if f.Description != "" {
			n++
		}
	}
	return n
}

// waitResult waits until GraphiQL's result pane contains want, and
// returns the result.
func waitResult(t *testing.T, ctx context.Context, want string) string {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var got string
	for {
		got, _ = chromedp.Run(wctx, chromedp.Evaluate[string](
			`(e => e ? e.CodeMirror.getValue() : '')(document.querySelector('.graphiql-response .CodeMirror'))`))
		if strings.Contains(got, want) {
			return got
		}
		select {
		case <-wctx.Done():
			t.Fatalf("the result pane does not show %q; it shows:\n%s", want, got)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func waitVisible(t *testing.T, ctx context.Context, what, selector string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(selector))); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 2000)`))
		t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, selector, err, html)
	}
}

// script runs a statement in the page.
func script(js string) chromedp.Action[chromedp.Void] {
	eval := chromedp.Evaluate[bool](js + "; true")
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := eval(ctx, t)
		return chromedp.Void{}, err
	}
}
