package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// markdownLink is an inline link or image, [text](target "title"); the
// target is the first group.
var markdownLink = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)

// TestDocsLinksResolve keeps the README and docs/ readable from a clone:
// every relative link must name a file or folder inside the repository
// (a link to ../shared or any other outside path fails), and a link to a
// heading of a Markdown file must name a heading it has.
func TestDocsLinksResolve(t *testing.T) {
	root, err := filepath.Abs("..") // the repository's root
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files := append([]string{filepath.Join(root, "README.md")}, docs...)
	if len(docs) == 0 {
		t.Fatal("docs/*.md: no documents found")
	}
	for _, file := range files {
		rel, _ := filepath.Rel(root, file)
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range links(string(text)) {
			if problem := checkLink(root, file, target); problem != "" {
				t.Errorf("%s: link %q %s", rel, target, problem)
			}
		}
	}
}

// links returns the targets of the inline links of a Markdown text,
// outside fenced code blocks and code spans.
func links(markdown string) []string {
	var out []string
	fenced := false
	for _, line := range strings.Split(markdown, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		for _, m := range markdownLink.FindAllStringSubmatch(withoutCodeSpans(line), -1) {
			out = append(out, m[1])
		}
	}
	return out
}

var codeSpan = regexp.MustCompile("`[^`]*`")

func withoutCodeSpans(line string) string { return codeSpan.ReplaceAllString(line, "``") }

// checkLink says what is wrong with a link found in file, or "" when
// nothing is: web and mail links are not followed; any other target must
// stay inside root and exist, and its #fragment must name a heading.
func checkLink(root, file, target string) string {
	if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
		return ""
	}
	path, fragment, _ := strings.Cut(target, "#")
	resolved := file
	if path != "" {
		if filepath.IsAbs(path) {
			return "is absolute: use a path relative to the document"
		}
		resolved = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
	}
	if rel, err := filepath.Rel(root, resolved); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "points outside the repository"
	}
	if _, err := os.Stat(resolved); err != nil {
		return "names no file of the repository"
	}
	if fragment == "" || !strings.HasSuffix(resolved, ".md") {
		return ""
	}
	text, err := os.ReadFile(resolved)
	if err != nil {
		return "cannot be read: " + err.Error()
	}
	if !headingAnchors(string(text))[fragment] {
		return "names no heading of " + filepath.Base(resolved)
	}
	return ""
}

// headingAnchors are the anchors GitHub gives a document's headings:
// lower case, punctuation dropped, spaces as hyphens, "-1", "-2" … for
// repeats.
func headingAnchors(markdown string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(markdown, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		anchor := b.String()
		if n := seen[anchor]; n > 0 {
			out[anchor+"-"+strconv.Itoa(n)] = true
		} else {
			out[anchor] = true
		}
		seen[anchor]++
	}
	return out
}

// TestCheckLink pins what the link check accepts and refuses.
func TestCheckLink(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	readme := filepath.Join(root, "README.md")
	for _, c := range []struct {
		target string
		ok     bool
	}{
		{"docs/api.md", true},
		{"docs/configuration.md#quotas-and-limits", true},
		{"#configuration", true},
		{"schema.graphqls", true},
		{"https://example.com/x", true},
		{"../shared/DESIGN.md", false},
		{"docs/missing.md", false},
		{"docs/api.md#no-such-heading", false},
		{"/etc/passwd", false},
	} {
		if got := checkLink(root, readme, c.target) == ""; got != c.ok {
			t.Errorf("checkLink(README.md, %q) accepted = %v, want %v", c.target, got, c.ok)
		}
	}
	if got := links("[a](x.md) `[b](y.md)`\n```\n[c](z.md)\n```\n[d](w.md#h \"title\")"); strings.Join(got, " ") != "x.md w.md#h" {
		t.Errorf("links = %q, want [x.md w.md#h]", got)
	}
}
