package notify_test

import (
	"flag"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"commerce/internal/notify"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current templates")

// TestRenderGolden renders every template with the realistic data of
// templateCases (plus the storefront link every email gets, and the
// unsubscribe link marketing emails get) and compares the result with
// testdata/golden: NAME.txt holds the subject line and the text body (the
// text alone for SMS), NAME.html the HTML body. Run with -update after
// changing a template, and read the diff.
func TestRenderGolden(t *testing.T) {
	tmpl := loadTemplates(t)
	for _, tc := range templateCases {
		t.Run(tc.name, func(t *testing.T) {
			data := maps.Clone(tc.data)
			data["storefront_url"] = "https://shop.example.com"
			if notify.IsMarketing(tc.name) {
				data["unsubscribe_url"] = "https://api.example.com/unsubscribe?token=" + notify.UnsubscribeToken(secret, "ada@example.com")
			}
			r, err := tmpl.Render(tc.name, data)
			if err != nil {
				t.Fatal(err)
			}
			if tc.channel == notify.SMS {
				golden(t, tc.name+".txt", r.Text)
				return
			}
			golden(t, tc.name+".txt", "Subject: "+r.Subject+"\n\n"+r.Text)
			golden(t, tc.name+".html", r.HTML)
		})
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestRenderGolden -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendering (run with -update and read the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
