package storage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"
)

// signer signs file URLs with an HMAC, like fileblob.URLSignerHMAC, and
// implements fileblob.URLSigner so that Bucket.SignedURL works too. It is
// our own rather than fileblob's because fileblob's reads time.Now itself:
// this one takes the expiry as an exact instant (the end of a window) and
// checks it against an injectable clock, and it puts the key in the path
// (/files/<key>?expiry=…&method=…&signature=…) so that one route serves it.
type signer struct {
	base *url.URL // PUBLIC_BASE_URL + "/files"
	key  []byte
	now  func() time.Time
}

func newSigner(base *url.URL, key []byte, now func() time.Time) *signer {
	b := *base
	b.RawQuery, b.Fragment, b.RawPath = "", "", ""
	b.Path = strings.TrimSuffix(b.Path, "/")
	return &signer{base: &b, key: key, now: now}
}

// signed is what a verified URL grants.
type signed struct {
	key    string
	method string
	expiry time.Time
}

var errBadSignature = errors.New("storage: signed URL is invalid or expired")

// URLFromKey implements fileblob.URLSigner. Only GET and PUT without a
// content type are supported; Handler serves GET (and HEAD) only.
func (h *signer) URLFromKey(_ context.Context, key string, opts *driver.SignedURLOptions) (*url.URL, error) {
	if opts.ContentType != "" || opts.EnforceAbsentContentType {
		return nil, errors.New("storage: signed URLs with a content type are not supported")
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	method := opts.Method
	if method == "" {
		method = http.MethodGet
	}
	return h.sign(key, method, h.now().Add(opts.Expiry).Unix()), nil
}

// KeyFromURL implements fileblob.URLSigner: it returns the key of an
// authentic, unexpired URL. It does not compare methods; Handler does.
func (h *signer) KeyFromURL(_ context.Context, u *url.URL) (string, error) {
	key, ok := strings.CutPrefix(u.Path, h.base.Path+"/")
	if !ok {
		return "", errBadSignature
	}
	s, err := h.verify(key, u.Query())
	if err != nil {
		return "", err
	}
	return s.key, nil
}

// sign returns base/key?expiry=…&method=…&signature=….
func (h *signer) sign(key, method string, expiry int64) *url.URL {
	u := *h.base
	u.Path = h.base.Path + "/" + key
	q := url.Values{}
	q.Set("expiry", strconv.FormatInt(expiry, 10))
	q.Set("method", method)
	q.Set("signature", base64.RawURLEncoding.EncodeToString(h.mac(key, method, expiry)))
	u.RawQuery = q.Encode()
	return &u
}

// verify checks the signature of key with the query's method and expiry,
// and that the expiry has not passed.
func (h *signer) verify(key string, q url.Values) (signed, error) {
	method := q.Get("method")
	expiry, err := strconv.ParseInt(q.Get("expiry"), 10, 64)
	if err != nil || method == "" {
		return signed{}, errBadSignature
	}
	sig, err := base64.RawURLEncoding.DecodeString(q.Get("signature"))
	if err != nil || !hmac.Equal(sig, h.mac(key, method, expiry)) {
		return signed{}, errBadSignature
	}
	if h.now().Unix() >= expiry {
		return signed{}, errBadSignature
	}
	return signed{key: key, method: method, expiry: time.Unix(expiry, 0)}, nil
}

func (h *signer) mac(key, method string, expiry int64) []byte {
	m := hmac.New(sha256.New, h.key)
	fmt.Fprintf(m, "%s\n%d\n%s", method, expiry, key)
	return m.Sum(nil)
}

// Handler serves the objects of signed file URLs at FilesPath: GET and HEAD
// of a URL signed for GET. A missing, tampered or expired signature, or a
// request whose method is not the signed one, gets 403; an unknown object
// 404. Objects are served with their stored Content-Type, nosniff, a
// sandboxing CSP, an ETag and Last-Modified, and Cache-Control max-age up
// to the URL's expiry. Mount it at FilesPath of the root mux. With s3
// storage the URLs point at the bucket and Handler answers 404.
func (s *Store) Handler() http.Handler {
	return http.HandlerFunc(s.serveFile)
}

func (s *Store) serveFile(w http.ResponseWriter, r *http.Request) {
	if s.signer == nil {
		http.NotFound(w, r)
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, FilesPath)
	if !ok {
		http.NotFound(w, r)
		return
	}
	grant, err := s.signer.verify(key, r.URL.Query())
	if err != nil {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet // HEAD is GET without the body
	}
	if grant.method != method {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if method != http.MethodGet {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if checkKey(key) != nil {
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	attrs, err := s.bucket.Attributes(ctx, key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	rd, err := s.bucket.NewReader(ctx, key, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer rd.Close()

	ct := attrs.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	maxAge := max(int64(grant.expiry.Sub(s.now())/time.Second), 0)
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", maxAge))
	if attrs.ETag != "" {
		h.Set("ETag", attrs.ETag)
	}
	http.ServeContent(w, r, "", attrs.ModTime, rd)
}
