package graph

import (
	"strings"
	"testing"
)

func TestEmailKey(t *testing.T) {
	if got := emailKey("  Ada@Example.COM "); got != "ada@example.com" {
		t.Errorf("emailKey normalises to %q, want ada@example.com", got)
	}
	long := strings.Repeat("a", 1<<20) + "@example.com"
	key := emailKey(long)
	if !strings.HasPrefix(key, "sha256:") || len(key) > maxEmailKey {
		t.Errorf("a 1 MiB email is keyed as %.80q (%d bytes), want a short hash", key, len(key))
	}
	if emailKey(strings.ToUpper(long)) != key || emailKey(long+"b") == key {
		t.Error("long emails: the same address must share a key, another must not")
	}
}
