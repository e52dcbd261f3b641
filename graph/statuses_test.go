package graph_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// The GraphQL over HTTP rules for a request refused before it runs (it
// does not parse, does not validate, or its variables do not coerce):
// with Accept: application/json the answer is 200 with errors; with
// application/graphql-response+json it is 400; and in both the body has
// errors and no data entry. Without an Accept header the answer stays
// version 1's 422. A request that runs is 200 with data whatever it
// accepts.
func TestRequestErrorStatuses(t *testing.T) {
	b := setup(t)
	const (
		jsonType     = "application/json"
		responseType = "application/graphql-response+json"
	)
	failures := []struct {
		name, query string
		vars        map[string]any
		code        string
	}{
		{"a document that does not parse", "{ products(first: ", nil, "GRAPHQL_PARSE_FAILED"},
		{"a document that does not validate", "{ noSuchField }", nil, "GRAPHQL_VALIDATION_FAILED"},
		{"a variable that does not coerce", "query($n: Int) { products(first: $n) { totalCount } }", map[string]any{"n": "five"}, "GRAPHQL_VALIDATION_FAILED"},
	}
	accepts := []struct {
		accept, contentType string
		status              int
	}{
		{jsonType, jsonType, http.StatusOK},
		{responseType, responseType, http.StatusBadRequest},
		{responseType + ", " + jsonType + ";q=0.9", responseType, http.StatusBadRequest}, // Apollo Client's
		{"", jsonType, http.StatusUnprocessableEntity},                                   // version 1's answer
	}
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		for _, f := range failures {
			for _, a := range accepts {
				t.Run(method+"/"+f.name+"/Accept "+a.accept, func(t *testing.T) {
					status, contentType, body := send(t, b.url, method, a.accept, f.query, f.vars)
					if status != a.status || contentType != a.contentType {
						t.Errorf("status %d %q, want %d %q", status, contentType, a.status, a.contentType)
					}
					if _, ok := body["data"]; ok {
						t.Errorf("the body has a data entry: %v", body)
					}
					var errs []struct{ Extensions map[string]any }
					if err := json.Unmarshal(body["errors"], &errs); err != nil || len(errs) == 0 || errs[0].Extensions["code"] != f.code {
						t.Errorf("errors %s, want one with code %s", body["errors"], f.code)
					}
				})
			}
		}
		for _, a := range accepts {
			t.Run(method+"/a query that runs/Accept "+a.accept, func(t *testing.T) {
				status, contentType, body := send(t, b.url, method, a.accept, "{ categories }", nil)
				if status != http.StatusOK || contentType != a.contentType || body["data"] == nil || body["errors"] != nil {
					t.Errorf("status %d %q, body %v; want 200 with data", status, contentType, body)
				}
			})
		}
	}
}

// send sends one GraphQL request with the Accept header given (none when
// empty) and returns the status, Content-Type and the body's entries.
func send(t *testing.T, endpoint, method, accept, query string, vars map[string]any) (int, string, map[string]json.RawMessage) {
	t.Helper()
	var req *http.Request
	if method == http.MethodGet {
		q := url.Values{"query": {query}}
		if vars != nil {
			v, _ := json.Marshal(vars)
			q.Set("variables", string(v))
		}
		req, _ = http.NewRequest(method, endpoint+"?"+q.Encode(), nil)
	} else {
		body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
		req, _ = http.NewRequest(method, endpoint, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]json.RawMessage
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("decode the body: %v", err)
	}
	return res.StatusCode, res.Header.Get("Content-Type"), out
}
