package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"

	"commerce/graph"
	"commerce/graph/generated"
	"commerce/internal/auth"
)

// noPermission lists the STAFF operations open to every staff account,
// whatever its permissions: they concern only the caller's own session.
var noPermission = map[string]bool{"staffLogout": true}

// TestPermissionTable checks every root field marked @hasRole(role: STAFF)
// or ADMIN in the schema, with four callers: anonymous (UNAUTHENTICATED),
// a customer (FORBIDDEN), staff holding every permission but the field's
// (FORBIDDEN), and staff holding only the field's permission (let through:
// whatever the dummy arguments lead to, not UNAUTHENTICATED nor FORBIDDEN).
// The table is the schema: a new staff operation without @hasPermission
// fails here unless it is listed in noPermission.
func TestPermissionTable(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	schema := generated.NewExecutableSchema(generated.Config{Resolvers: &graph.Resolver{}}).Schema()
	customer, err := b.tokens.Start(ctx, nil, auth.Principal{ID: uuid.NewString(), Role: auth.Customer})
	if err != nil {
		t.Fatal(err)
	}
	staffWith := func(perms []auth.Permission) string {
		t.Helper()
		id, err := b.staff.Create(ctx, "perm-"+uuid.NewString()[:8]+"@example.com", "correct-horse", auth.Staff)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.staff.Update(ctx, auth.Principal{Role: auth.Admin}, id, auth.StaffInput{Permissions: perms}); err != nil {
			t.Fatal(err)
		}
		tok, err := b.tokens.Start(ctx, nil, auth.Principal{ID: id, Role: auth.Staff})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	checked := 0
	for _, root := range []*ast.Definition{schema.Query, schema.Mutation, schema.Subscription} {
		for _, f := range root.Fields {
			role := directiveArg(f, "hasRole", "role")
			if role != "STAFF" && role != "ADMIN" {
				continue
			}
			perm := directiveArg(f, "hasPermission", "permission")
			if perm == "" && !noPermission[f.Name] {
				t.Errorf("%s.%s is %s-only but names no @hasPermission", root.Name, f.Name, role)
				continue
			}
			checked++
			t.Run(f.Name, func(t *testing.T) {
				op := operationFor(schema, root, f)
				callers := []struct {
					name, token string
					refused     string
				}{
					{"anonymous", "", "UNAUTHENTICATED"},
					{"customer", customer, "FORBIDDEN"},
				}
				if perm != "" {
					others := slices.DeleteFunc(slices.Clone(auth.AllPermissions), func(p auth.Permission) bool { return string(p) == perm })
					with := []auth.Permission{auth.Permission(perm)}
					if perm == string(auth.PermStaffManage) {
						// Managing staff grants permissions, and no one
						// grants one they lack: this caller holds them all.
						with = auth.AllPermissions
					}
					callers = append(callers,
						struct{ name, token, refused string }{"staff without " + perm, staffWith(others), "FORBIDDEN"},
						struct{ name, token, refused string }{"staff with " + perm, staffWith(with), ""})
				} else {
					callers = append(callers, struct{ name, token, refused string }{"staff", staffWith([]auth.Permission{}), ""})
				}
				for _, c := range callers {
					codes := op.run(t, b, c.token)
					refused := slices.Contains(codes, "UNAUTHENTICATED") || slices.Contains(codes, "FORBIDDEN")
					switch {
					case c.refused != "" && !slices.Contains(codes, c.refused):
						t.Errorf("%s: codes %v, want %s", c.name, codes, c.refused)
					case c.refused == "" && refused:
						t.Errorf("%s: refused with %v", c.name, codes)
					}
				}
			})
		}
	}
	if checked < 20 {
		t.Errorf("only %d staff operations found in the schema", checked)
	}
}

func directiveArg(f *ast.FieldDefinition, directive, arg string) string {
	d := f.Directives.ForName(directive)
	if d == nil {
		return ""
	}
	if a := d.Arguments.ForName(arg); a != nil && a.Value != nil {
		return a.Value.Raw
	}
	return ""
}

// permOperation is one call of a root field with dummy arguments.
type permOperation struct {
	kind   ast.Operation
	query  string
	upload bool // an Upload! argument named $f, sent as a multipart file
}

// operationFor builds a document calling f with every required argument
// given a dummy value of its type.
func operationFor(schema *ast.Schema, root *ast.Definition, f *ast.FieldDefinition) permOperation {
	op := permOperation{kind: ast.Operation(strings.ToLower(root.Name))}
	var args []string
	for _, a := range f.Arguments {
		if !a.Type.NonNull {
			continue
		}
		if a.Type.Name() == "Upload" {
			op.upload = true
			args = append(args, a.Name+": $f")
			continue
		}
		args = append(args, a.Name+": "+dummyValue(schema, a.Type))
	}
	call := f.Name
	if len(args) > 0 {
		call += "(" + strings.Join(args, ", ") + ")"
	}
	if def := schema.Types[f.Type.Name()]; def != nil && (def.Kind == ast.Object || def.Kind == ast.Interface) {
		call += " { __typename }"
	}
	vars := ""
	if op.upload {
		vars = "($f: Upload!)"
	}
	op.query = string(op.kind) + vars + " { " + call + " }"
	return op
}

func dummyValue(schema *ast.Schema, t *ast.Type) string {
	if t.Elem != nil {
		return "[" + dummyValue(schema, t.Elem) + "]"
	}
	switch t.NamedType {
	case "ID":
		return `"00000000-0000-0000-0000-000000000000"`
	case "String":
		return `"x"`
	case "Int":
		return "1"
	case "Boolean":
		return "false"
	case "Decimal":
		return `"1.00"`
	case "Time":
		return `"2026-01-01T00:00:00Z"`
	}
	def := schema.Types[t.NamedType]
	switch def.Kind {
	case ast.Enum:
		// The last value: for StaffRole that is STAFF, which any staff
		// manager may give.
		return def.EnumValues[len(def.EnumValues)-1].Name
	case ast.InputObject:
		var fields []string
		for _, f := range def.Fields {
			if f.Type.NonNull {
				fields = append(fields, f.Name+": "+dummyValue(schema, f.Type))
			}
		}
		return "{" + strings.Join(fields, ", ") + "}"
	}
	return `"x"`
}

// run sends the operation as token and returns the error codes.
func (op permOperation) run(t *testing.T, b *bundle, token string) []string {
	t.Helper()
	if op.kind == ast.Subscription {
		return subscribeCodes(t, b, token, op.query)
	}
	var r response
	if op.upload {
		r = postMultipart(t, b, token, op.query)
	} else {
		r = b.do(t, token, op.query, nil)
	}
	var codes []string
	for _, e := range r.Errors {
		c, _ := e.Extensions["code"].(string)
		codes = append(codes, c)
	}
	return codes
}

func postMultipart(t *testing.T, b *bundle, token, query string) response {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	ops, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"f": nil}})
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{"0": ["variables.f"]}`)
	w, _ := mw.CreateFormFile("0", "a.png")
	_, _ = w.Write([]byte("not really a png"))
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.url, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out response
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	return out
}

// subscribeCodes starts the subscription over graphql-transport-ws and
// returns the codes of the errors it ends with. A subscription let through
// sends nothing until an event: after a quiet moment it counts as allowed.
func subscribeCodes(t *testing.T, b *bundle, token, query string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(b.url, "http"), &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.CloseNow()
	write := func(m any) {
		data, _ := json.Marshal(m)
		if err := conn.Write(ctx, websocket.MessageText, data); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	init := map[string]any{}
	if token != "" {
		init["Authorization"] = "Bearer " + token
	}
	write(map[string]any{"type": "connection_init", "payload": init})
	write(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query}})
	quiet, stop := context.WithTimeout(ctx, 500*time.Millisecond)
	defer stop()
	for {
		_, data, err := conn.Read(quiet)
		if err != nil {
			return nil
		}
		var m struct {
			Type    string
			Payload json.RawMessage
		}
		_ = json.Unmarshal(data, &m)
		if m.Type != "error" && m.Type != "next" {
			continue
		}
		var errs []struct{ Extensions map[string]any }
		if m.Type == "next" {
			var p struct {
				Errors []struct{ Extensions map[string]any }
			}
			_ = json.Unmarshal(m.Payload, &p)
			errs = p.Errors
		} else {
			_ = json.Unmarshal(m.Payload, &errs)
		}
		var codes []string
		for _, e := range errs {
			codes = append(codes, fmt.Sprint(e.Extensions["code"]))
		}
		return codes
	}
}

// A permission taken from an account applies to the operations its open
// websocket starts afterwards, without reconnecting.
func TestWebsocketOperationsSeePermissionChanges(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	id, err := b.staff.Create(ctx, "ws-"+uuid.NewString()[:8]+"@example.com", "correct-horse", auth.Staff)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := b.tokens.Start(ctx, nil, auth.Principal{ID: id, Role: auth.Staff})
	if err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(b.url, "http"), &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	// One reader: a Read whose context ends closes the connection.
	msgs := make(chan string, 100)
	go func() {
		defer close(msgs)
		for {
			_, data, err := conn.Read(dctx)
			if err != nil {
				return
			}
			msgs <- string(data)
		}
	}()
	write := func(m any) {
		data, _ := json.Marshal(m)
		if err := conn.Write(dctx, websocket.MessageText, data); err != nil {
			t.Fatal(err)
		}
	}
	// refused subscribes to orderUpdates as id and reports whether it was
	// refused with FORBIDDEN within a short while; an allowed one is ended.
	refused := func(id string) bool {
		write(map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": "subscription { orderUpdates { orderNumber } }"}})
		quiet := time.After(300 * time.Millisecond)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatal("the connection closed")
				}
				if strings.Contains(m, `"id":"`+id+`"`) && strings.Contains(m, "FORBIDDEN") {
					return true
				}
			case <-quiet:
				write(map[string]any{"id": id, "type": "complete"})
				return false
			}
		}
	}
	write(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + tok}})
	for m := range msgs {
		if strings.Contains(m, "connection_ack") {
			break
		}
	}
	if refused("0") {
		t.Fatal("orderUpdates refused while the account has ORDERS")
	}
	if _, err := b.staff.Update(ctx, auth.Principal{Role: auth.Admin}, id, auth.StaffInput{Permissions: []auth.Permission{auth.PermCatalog}}); err != nil {
		t.Fatal(err)
	}
	// The replica may serve the session from its cache for up to half a
	// second: subscribe until the change shows.
	for n := 1; !refused(fmt.Sprint(n)); n++ {
		if dctx.Err() != nil {
			t.Fatal("orderUpdates still allowed on the open socket after ORDERS was taken away")
		}
	}
}
