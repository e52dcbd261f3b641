package graph_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// Over graphql-transport-ws an "error" message ends its operation: no
// "complete" for it may follow. gqlgen would send that complete right
// after the error, before it reads the client's next message, so the
// operation sent next on the same socket (which must be answered: the
// socket stays open) shows whether one came.
func TestWebsocketErrorEndsOperation(t *testing.T) {
	env := liveSetup(t)
	c := dial(t, env.a.wsURL, transportWS, "")
	for i, tc := range []struct{ name, payload string }{
		{"a document that does not validate", `{"query": "subscription { noSuchField }"}`},
		{"a document that does not parse", `{"query": "subscription {"}`},
		{"a payload that is not an object", `"subscription { orderUpdates { status } }"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, probe := fmt.Sprintf("refused-%d", i), fmt.Sprintf("probe-%d", i)
			if err := c.write(wsMessage{ID: id, Type: "subscribe", Payload: json.RawMessage(tc.payload)}); err != nil {
				t.Fatal(err)
			}
			if r := c.next(t, 5*time.Second); r.Type != "error" || r.ID != id || len(r.Errors) == 0 {
				t.Fatalf("got %s, want an error message for %s", r, id)
			}
			c.subscribe(t, probe, "{ categories }", nil)
			for answered := false; ; {
				r := c.next(t, 5*time.Second)
				switch {
				case r.ID == id:
					t.Fatalf("after the error for %s: %s", id, r)
				case r.ID == probe && r.Type == "next" && r.Data["categories"] != nil:
					answered = true
				case r.ID == probe && r.Type == "complete" && answered:
					return
				default:
					t.Fatalf("the operation sent after the error: got %s, want its data then complete", r)
				}
			}
		})
	}
}
