package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// RotationOverlap is how long a rotated-out secret keeps signing alongside
// the new one, so that a receiver can switch without losing an event.
const RotationOverlap = 24 * time.Hour

// secretPrefix marks our secrets in receivers' configuration files.
const secretPrefix = "whsec_"

// newSecret returns a fresh signing secret: 32 random bytes, base64url.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return secretPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// Signature is the Commerce-Signature header of body sent at t, signed
// with each secret in turn (the newest first): "t=<unix>,v1=<hex>[,v1=<hex>]".
// The HMAC key is the secret string's bytes.
func Signature(t time.Time, body []byte, secrets ...string) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	var b strings.Builder
	b.WriteString("t=" + ts)
	for _, s := range secrets {
		b.WriteString(",v1=" + sign(s, ts, body))
	}
	return b.String()
}

func sign(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// signingSecrets are the secrets that sign at now: the current one, and the
// previous one while its overlap lasts.
func signingSecrets(k keys, now time.Time) []string {
	out := []string{k.Secret}
	if k.Previous != "" && k.PreviousExpiresAt != nil && now.Before(*k.PreviousExpiresAt) {
		out = append(out, k.Previous)
	}
	return out
}

// keys are an endpoint's signing secrets as stored.
type keys struct {
	Secret            string
	Previous          string
	PreviousExpiresAt *time.Time
}
