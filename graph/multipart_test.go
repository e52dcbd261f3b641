package graph

import (
	"bytes"
	"io"
	"mime/multipart"
	"os"
	"strings"
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

// TestUploadSpool: a file within the memory budget stays in memory, a
// larger one goes to one temporary file that every reader shares and
// cleanup removes; each reader starts at the beginning.
func TestUploadSpool(t *testing.T) {
	small, large := strings.Repeat("s", 10), strings.Repeat("L", 100)
	body := &bytes.Buffer{}
	w := multipart.NewWriter(body)
	for name, content := range map[string]string{"small": small, "large": large} {
		fw, err := w.CreateFormFile(name, name+".bin")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write([]byte(content))
	}
	_ = w.Close()

	spool := &uploadSpool{memLeft: 50}
	r := multipart.NewReader(body, w.Boundary())
	readers := map[string][]io.ReadSeeker{}
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		open, size, e := spool.save(part)
		if e != nil {
			t.Fatalf("save %s: %v", part.FormName(), e.message)
		}
		if want := map[string]int64{"small": 10, "large": 100}[part.FormName()]; size != want {
			t.Errorf("%s: size %d, want %d", part.FormName(), size, want)
		}
		readers[part.FormName()] = []io.ReadSeeker{open(), open()}
	}
	if len(spool.names) != 1 || len(spool.open) != 1 {
		t.Fatalf("temporary files %v, handles %d; want one of each, for the large file", spool.names, len(spool.open))
	}
	for name, want := range map[string]string{"small": small, "large": large} {
		for i, rd := range readers[name] {
			got, err := io.ReadAll(rd)
			if err != nil || string(got) != want {
				t.Errorf("%s reader %d: %q, %v; want the whole file", name, i, got, err)
			}
		}
	}
	tmp := spool.names[0]
	spool.cleanup()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file %s still there after cleanup (%v)", tmp, err)
	}
}
