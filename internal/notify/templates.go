package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
)

//go:embed templates
var templateFiles embed.FS

// Rendered is a notification ready to send. Subject and HTML are empty for
// SMS templates.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
}

// Templates are the embedded notification templates, parsed once.
type Templates struct {
	byName map[string]entry
}

type entry struct {
	channel Channel
	text    *texttemplate.Template // root: the text body; "subject" for email
	html    *htmltemplate.Template // nil for SMS
}

// blankFunc is appended to every printing action of the text templates.
const blankFunc = "notifyBlank"

// LoadTemplates parses the embedded templates. It returns an error when a
// template does not parse or an email template lacks its subject or HTML
// body; the tests make sure that never happens at run time.
func LoadTemplates() (*Templates, error) {
	t := &Templates{byName: map[string]entry{}}
	for _, ch := range []Channel{Email, SMS} {
		dir := "templates/" + strings.ToLower(string(ch))
		names, err := fs.Glob(templateFiles, dir+"/*.txt")
		if err != nil {
			return nil, fmt.Errorf("load templates: %w", err)
		}
		for _, file := range names {
			name := strings.TrimSuffix(path.Base(file), ".txt")
			e, err := parseEntry(ch, dir, name)
			if err != nil {
				return nil, fmt.Errorf("load template %s: %w", name, err)
			}
			t.byName[name] = e
		}
	}
	return t, nil
}

func parseEntry(ch Channel, dir, name string) (entry, error) {
	e := entry{channel: ch}
	text, err := texttemplate.New(name+".txt").
		Funcs(texttemplate.FuncMap{blankFunc: blank}).
		ParseFS(templateFiles, dir+"/"+name+".txt", "templates/common.txt")
	if err != nil {
		return e, err
	}
	for _, t := range text.Templates() {
		blankMissing(t.Tree)
	}
	e.text = text
	if ch == SMS {
		return e, nil
	}
	if text.Lookup("subject") == nil {
		return e, fmt.Errorf(`%s.txt does not define "subject"`, name)
	}
	e.html, err = htmltemplate.New(name+".html").
		ParseFS(templateFiles, "templates/layout.html", dir+"/"+name+".html")
	return e, err
}

// Has reports whether name is a template of channel ch.
func (t *Templates) Has(ch Channel, name string) bool {
	e, ok := t.byName[name]
	return ok && e.channel == ch
}

// Render renders the named template with data. A key missing from data
// renders as nothing. It returns an error when there is no such template or
// a template fails to execute (a value of the wrong shape, such as a string
// where a list is ranged over).
func (t *Templates) Render(name string, data map[string]any) (Rendered, error) {
	e, ok := t.byName[name]
	if !ok {
		return Rendered{}, fmt.Errorf("render %s: no such template", name)
	}
	var r Rendered
	var err error
	if r.Text, err = execText(e.text, e.text.Name(), data); err != nil {
		return Rendered{}, fmt.Errorf("render %s: %w", name, err)
	}
	if e.channel == SMS {
		r.Text = strings.Join(strings.Fields(r.Text), " ")
		return r, nil
	}
	if r.Subject, err = execText(e.text, "subject", data); err != nil {
		return Rendered{}, fmt.Errorf("render %s subject: %w", name, err)
	}
	// Collapsing whitespace also keeps data from adding header lines.
	r.Subject = strings.Join(strings.Fields(r.Subject), " ")
	var b bytes.Buffer
	if err := e.html.ExecuteTemplate(&b, "layout", data); err != nil {
		return Rendered{}, fmt.Errorf("render %s html: %w", name, err)
	}
	r.HTML = b.String()
	return r, nil
}

func execText(t *texttemplate.Template, name string, data map[string]any) (string, error) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		return "", err
	}
	return tidyText(b.String()), nil
}

// tidyText drops trailing spaces and the runs of blank lines that optional
// sections leave behind.
func tidyText(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	out := lines[:0]
	for _, l := range lines {
		l = strings.TrimRight(l, " \t\r")
		if l == "" && len(out) > 0 && out[len(out)-1] == "" {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n"
}

// blank prints a missing value as nothing. text/template prints "<no value>"
// for a key missing from a map; html/template already prints nothing.
func blank(v any) any {
	if v == nil {
		return ""
	}
	return v
}

// blankMissing pipes every printing action of a parsed text template through
// blank, the way html/template adds its escapers to the parse tree.
func blankMissing(tree *parse.Tree) {
	if tree == nil || tree.Root == nil {
		return
	}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			if len(n.Pipe.Decl) == 0 {
				ident := parse.NewIdentifier(blankFunc).SetTree(tree).SetPos(n.Pos)
				n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pos, Args: []parse.Node{ident}})
			}
		case *parse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		}
	}
	walk(tree.Root)
}
