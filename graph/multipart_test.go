package graph

import (
	"testing"

	"github.com/99designs/gqlgen/graphql"
)

// TestUploadSetter: a map path must lead through the variables to a null
// placeholder; anything else (gqlgen's AddUpload panics on some of these)
// is refused.
func TestUploadSetter(t *testing.T) {
	vars := func() map[string]any {
		return map[string]any{
			"f": nil, "p": "product-id", "n": nil,
			"files": []any{nil, nil},
			"in":    map[string]any{"file": nil, "name": "x"},
		}
	}
	cases := []struct {
		path string
		ok   bool
	}{
		{"variables.f", true},
		{"variables.files.1", true},
		{"variables.in.file", true},
		{"variables.missing", false},
		{"f", false},
		{"variables.", false},
		{"variables.p", false},            // not a placeholder
		{"variables.p.0", false},          // through a string
		{"variables.f.x", false},          // through null
		{"variables.files.2", false},      // past the end
		{"variables.files.-1", false},     // before the start
		{"variables.files.x", false},      // a list has no keys
		{"variables.in.name", false},      // not a placeholder
		{"variables.in.file.deep", false}, // through null
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			v := vars()
			set, ok := uploadSetter(v, c.path)
			if ok != c.ok {
				t.Fatalf("uploadSetter(%q) ok = %v, want %v", c.path, ok, c.ok)
			}
			if ok {
				set(graphql.Upload{Filename: "x.png"})
			}
		})
	}
	if _, ok := uploadSetter(nil, "variables.f"); ok {
		t.Error("uploadSetter with no variables accepted a path")
	}
	v := vars()
	set, _ := uploadSetter(v, "variables.files.1")
	set(graphql.Upload{Filename: "b.png"})
	if u, ok := v["files"].([]any)[1].(graphql.Upload); !ok || u.Filename != "b.png" {
		t.Errorf("variables.files.1 = %#v after the set", v["files"].([]any)[1])
	}
}

// TestNulPath finds a NUL in strings, list items, object values and keys.
func TestNulPath(t *testing.T) {
	cases := []struct {
		in   any
		want []string
	}{
		{map[string]any{"input": map[string]any{"name": "ok", "notes": "a\x00b"}}, []string{"input", "notes"}},
		{map[string]any{"lines": []any{map[string]any{"sku": "ok"}, map[string]any{"sku": "\x00"}}}, []string{"lines", "1", "sku"}},
		{map[string]any{"data": map[string]any{"k\x00": 1}}, []string{"data", "k\x00"}},
		{map[string]any{"input": map[string]any{"name": "no nul", "n": 3}}, nil},
	}
	for _, c := range cases {
		got, ok := nulPath(c.in, nil)
		if ok != (c.want != nil) || len(got) != len(c.want) {
			t.Errorf("nulPath(%v) = %q, %v; want %q", c.in, got, ok, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("nulPath(%v) = %q; want %q", c.in, got, c.want)
			}
		}
	}
}
