package graph

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// A feed member writes each event's response, encoded once for the whole
// feed, itself (member.next). What its subscriber receives must be, byte
// for byte, the "next" message gqlgen's transport writes for the same
// response: this runs gqlgen's own transport on a scripted connection and
// compares every message with what writeNext makes of the same response,
// for ids and data that need escaping.
func TestSharedEncodingMatchesGqlgen(t *testing.T) {
	responses := []*graphql.Response{
		{Data: json.RawMessage(`{"orderUpdates":{"orderNumber":"A<1>&\"2\"","total":{"amount":1999},"note":"é\u2028 ☃"}}`)},
		{Data: json.RawMessage(`{"orderUpdates":{"status":"PAID","missedEventsPossible":false}}`),
			Extensions: map[string]any{"cost": 3}},
	}
	schema := &graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema {
			return gqlparser.MustLoadSchema(&ast.Source{Input: "type Query { a: Int }\ntype Subscription { orderUpdates: Int }"})
		},
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) { return 1, false },
		ExecFunc: func(context.Context) graphql.ResponseHandler {
			i := 0
			return func(context.Context) *graphql.Response {
				if i == len(responses) {
					return nil
				}
				i++
				return responses[i-1]
			}
		},
	}
	for _, id := range []string{"1", `<a id="x">&é` + "\u2028"} {
		gqlgen := &scriptedConn{in: make(chan []byte, 2), out: make(chan []byte, 8)}
		gqlgen.in <- []byte(`{"type":"connection_init"}`)
		sub, _ := json.Marshal(map[string]any{"type": "subscribe", "id": id, "payload": map[string]any{"query": "subscription { orderUpdates }"}})
		gqlgen.in <- sub
		done := make(chan struct{})
		go func() {
			defer close(done)
			transport.Websocket{Implementation: scriptedImplementation{gqlgen}}.Do(httptest.NewRecorder(),
				httptest.NewRequest(http.MethodGet, "/", nil), executor.New(schema))
		}()
		if ack := gqlgen.next(t); string(ack) != `{"type":"connection_ack"}` {
			t.Fatalf("want connection_ack, got %s", ack)
		}
		for _, r := range responses {
			want := gqlgen.next(t)
			ours := &scriptedConn{out: make(chan []byte, 1)}
			c := &errorEndsConn{WebsocketConn: ours, errored: map[string]bool{}, active: map[string]bool{}, transportWS: true, state: &wsConnState{}}
			if err := c.writeNext(id, encodeResponse(r)); err != nil {
				t.Fatal(err)
			}
			if got := ours.next(t); string(got) != string(want) {
				t.Errorf("id %q:\n got %s\nwant %s (gqlgen)", id, got, want)
			}
		}
		if complete := gqlgen.next(t); !strings.Contains(string(complete), `"type":"complete"`) {
			t.Fatalf("want complete, got %s", complete)
		}
		close(gqlgen.in)
		<-done
	}
}

// scriptedImplementation accepts every request as its connection.
type scriptedImplementation struct{ conn *scriptedConn }

func (i scriptedImplementation) Accept(http.ResponseWriter, *http.Request, transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	return i.conn, nil
}

// scriptedConn reads the messages of in (closing it closes the
// connection) and puts each message written, encoded as the coder
// websocket adapter encodes it, on out.
type scriptedConn struct {
	in  chan []byte
	out chan []byte
}

func (c *scriptedConn) NextReader() (int, io.Reader, error) {
	m, ok := <-c.in
	if !ok {
		return 0, nil, transport.ErrWebsocketClosed
	}
	return 1, strings.NewReader(string(m)), nil
}

func (c *scriptedConn) WriteJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.out <- b
	return nil
}

func (c *scriptedConn) next(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-c.out:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("no message written")
	}
	return nil
}

func (c *scriptedConn) WriteClose(int, string) error { return nil }
func (c *scriptedConn) Subprotocol() string          { return graphqlTransportWS }
func (c *scriptedConn) Close() error                 { return nil }

// Writes made while a connection is corked, by any goroutine, go out in
// order in one write when the last cork is removed; others go out at once.
func TestCorkedConnWritesOnce(t *testing.T) {
	under := &countingConn{}
	c := &corkedConn{Conn: under}
	write := func(s string) {
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	write("a")
	c.cork()
	write("b")
	c.cork() // another operation of the connection
	write("c")
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	write("d")
	if got := strings.Join(under.writes, "|"); got != "a" {
		t.Fatalf("writes while corked: %q, want only a", got)
	}
	if err := c.uncork(); err != nil {
		t.Fatal(err)
	}
	write("e")
	if got := strings.Join(under.writes, "|"); got != "a|bcd|e" {
		t.Errorf("writes: %q, want a|bcd|e", got)
	}
}

// countingConn records each write.
type countingConn struct {
	net.Conn
	writes []string
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, string(p))
	return len(p), nil
}
