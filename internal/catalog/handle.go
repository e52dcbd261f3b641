package catalog

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/uptrace/bun"
	"golang.org/x/text/unicode/norm"
)

// maxBaseHandleLen leaves room for a "-NNNN" suffix.
const maxBaseHandleLen = maxHandleLen - 10

// slugify turns a name into a handle: accents dropped, lowercase ASCII
// letters and digits, everything else one hyphen. It returns "" when
// nothing usable is left (a name in a non-Latin script).
func slugify(s string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range norm.NFKD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(unicode.ToLower(r))
		default:
			hyphen = true
		}
		if b.Len() >= maxBaseHandleLen {
			break
		}
	}
	return strings.TrimRight(b.String(), "-")
}

// baseHandle is the handle a product would get from its name, else its
// sku, else "product".
func baseHandle(name, sku string) string {
	if h := slugify(name); h != "" {
		return h
	}
	if h := slugify(sku); h != "" {
		return h
	}
	return "product"
}

// freeHandle returns base, or base-2, base-3, ... whichever is not taken.
func freeHandle(ctx context.Context, idb bun.IDB, base string) (string, error) {
	handles, err := takenHandles(ctx, idb, base)
	if err != nil {
		return "", fmt.Errorf("find a free handle: %w", err)
	}
	taken := make(map[string]bool, len(handles))
	for _, h := range handles {
		taken[h] = true
	}
	h := base
	for n := 2; taken[h]; n++ {
		h = base + "-" + strconv.Itoa(n)
	}
	return h, nil
}
