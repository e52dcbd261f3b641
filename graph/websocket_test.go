package graph_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"
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

// A graphql-transport-ws client that breaks the protocol is closed with the
// code the protocol gives the break and a fixed reason: an invalid message
// with 4400 (gqlgen closed with 1000 or 1002, and left a connection whose
// connection_init payload is not an object open until its init timeout),
// a second connection_init with 4429, a subscribe before connection_init
// with 4401 (both 1002 in gqlgen), a subscribe reusing the id of a running
// operation with 4409 (gqlgen ran both). An id the client completed is
// not checked here: gqlgen may still send its own late complete for the
// old operation, which frees the id again, so the outcome is a race.
func TestWebsocketProtocolViolationsClose(t *testing.T) {
	r := newLiveReplica(t, "A", livePrefix())
	staff := r.staffToken(t)
	init := `{"type":"connection_init","payload":{"Authorization":"Bearer ` + staff + `"}}`
	sub := func(id string) string {
		return `{"id":"` + id + `","type":"subscribe","payload":{"query":"subscription { orderUpdates { status } }"}}`
	}
	const invalid = "Invalid message received"
	for _, tc := range []struct {
		name   string
		send   []string
		code   websocket.StatusCode
		reason string
	}{
		{"not JSON", []string{init, `{"type":`}, 4400, invalid},
		{"not an object", []string{init, `["subscribe"]`}, 4400, invalid},
		{"no type", []string{init, `{"id":"1"}`}, 4400, invalid},
		{"an unknown type", []string{init, `{"type":"start","id":"1"}`}, 4400, invalid},
		{"a server message", []string{init, `{"type":"next","id":"1","payload":{}}`}, 4400, invalid},
		{"a subscribe without an id", []string{init, `{"type":"subscribe","payload":{"query":"{ categories }"}}`}, 4400, invalid},
		{"a complete without an id", []string{init, `{"type":"complete"}`}, 4400, invalid},
		{"an id that is not a string", []string{init, `{"type":"complete","id":1}`}, 4400, invalid},
		{"an invalid first message", []string{`nonsense`}, 4400, invalid},
		{"a connection_init payload that is not an object", []string{`{"type":"connection_init","payload":"token"}`}, 4400, invalid},
		{"a connection_init payload that is an array", []string{`{"type":"connection_init","payload":[]}`}, 4400, invalid},
		{"a second connection_init", []string{init, init}, 4429, "Too many initialisation requests"},
		{"a subscribe before connection_init", []string{sub("1")}, 4401, "Unauthorized"},
		{"a subscribe reusing a running operation's id", []string{init, sub("dup"), sub("dup")}, 4409, "Subscriber for this id already exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			conn, _, err := websocket.Dial(ctx, r.wsURL, &websocket.DialOptions{Subprotocols: []string{transportWS}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseNow()
			var got []string
			for _, m := range tc.send {
				if err := conn.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
					t.Fatalf("write %s: %v", m, err)
				}
			}
			for {
				_, data, err := conn.Read(ctx)
				if err == nil {
					got = append(got, string(data))
					continue
				}
				var ce websocket.CloseError
				if !errors.As(err, &ce) {
					t.Fatalf("read: %v after %q, want a close frame", err, got)
				}
				if ce.Code != tc.code || ce.Reason != tc.reason {
					t.Errorf("closed with %d %q after %q, want %d %q", ce.Code, ce.Reason, got, tc.code, tc.reason)
				}
				return
			}
		})
	}
}
