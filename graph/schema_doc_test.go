package graph_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"commerce/graph/generated"
)

// Every element of our schema carries a description, so that Playground's
// documentation pane and introspecting clients learn units, access rules,
// null meanings and error codes. A new type, field, argument, enum value or
// input field without one fails here, named.
func TestSchemaElementsHaveDescriptions(t *testing.T) {
	s := generated.NewExecutableSchema(generated.Config{}).Schema()
	missing := undescribed(s)
	for _, m := range missing {
		t.Errorf("%s has no description: add a \"\"\"…\"\"\" saying what a client needs (units, who may read it, what null means, error codes)", m)
	}
	if len(s.Types) < 40 {
		t.Fatalf("the schema has %d types: not the service's schema?", len(s.Types))
	}
}

// undescribed names every element we define that has an empty description:
// types, fields and their arguments, input fields, enum values, directives
// and their arguments. The specification's own scalars, directives and
// introspection types are left out.
func undescribed(s *ast.Schema) []string {
	var out []string
	blank := func(d string) bool { return strings.TrimSpace(d) == "" }
	for name, def := range s.Types {
		if def.BuiltIn || strings.HasPrefix(name, "__") {
			continue
		}
		if blank(def.Description) {
			out = append(out, strings.ToLower(string(def.Kind))+" "+name)
		}
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue // __typename, __schema, __type
			}
			if blank(f.Description) {
				out = append(out, name+"."+f.Name)
			}
			for _, a := range f.Arguments {
				if blank(a.Description) {
					out = append(out, name+"."+f.Name+"("+a.Name+":)")
				}
			}
		}
		for _, v := range def.EnumValues {
			if blank(v.Description) {
				out = append(out, name+"."+v.Name)
			}
		}
	}
	for name, d := range s.Directives {
		if d.Position == nil || d.Position.Src == nil || d.Position.Src.BuiltIn {
			continue
		}
		if blank(d.Description) {
			out = append(out, "directive @"+name)
		}
		for _, a := range d.Arguments {
			if blank(a.Description) {
				out = append(out, "directive @"+name+"("+a.Name+":)")
			}
		}
	}
	slices.Sort(out)
	return out
}

// The descriptions reach clients: an introspection query through the
// handler returns them for the root fields and their arguments.
func TestIntrospectionShowsDescriptions(t *testing.T) {
	b := setup(t)
	res := b.do(t, "", `{ __type(name: "Query") { description fields { name description args { name description } } } }`, nil)
	if len(res.Errors) > 0 {
		t.Fatalf("introspection failed: %+v", res.Errors)
	}
	var typ struct {
		Description string
		Fields      []struct {
			Name        string
			Description string
			Args        []struct{ Name, Description string }
		}
	}
	if err := json.Unmarshal(res.Data["__type"], &typ); err != nil {
		t.Fatal(err)
	}
	if typ.Description == "" {
		t.Error("Query has no description over introspection")
	}
	if len(typ.Fields) < 10 {
		t.Fatalf("Query has %d fields over introspection, want every root query", len(typ.Fields))
	}
	for _, f := range typ.Fields {
		if f.Description == "" {
			t.Errorf("Query.%s has no description over introspection", f.Name)
		}
		for _, a := range f.Args {
			if a.Description == "" {
				t.Errorf("Query.%s(%s:) has no description over introspection", f.Name, a.Name)
			}
		}
	}
	var products string
	for _, f := range typ.Fields {
		if f.Name == "products" {
			products = f.Description
		}
	}
	if !strings.Contains(products, "QUOTA_SEARCH_PRODUCTS") {
		t.Errorf("Query.products description over introspection = %q, want the schema's text (naming its quota)", products)
	}
}
