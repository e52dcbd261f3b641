// Package storage keeps uploaded files (product images) in a
// gocloud.dev/blob bucket and hands out signed, expiring URLs for them.
//
// Two backends, chosen by STORAGE_URL:
//
//   - file:///abs/dir or file://./rel/dir: a folder of the service's. URLs
//     point at the service itself (PUBLIC_BASE_URL + "/files/<key>") and are
//     signed with an HMAC key derived from AUTH_SECRET; Handler serves them
//     and checks signature, expiry and method.
//   - s3://bucket?endpoint=…&region=…: any S3-compatible server, with
//     credentials from the standard AWS_* variables. URLs are SigV4
//     presigned GET URLs that point at the bucket, so Handler is not mounted
//     (it answers 404); the bucket checks signature, expiry and method.
//
// Either way a URL is stable within a TTL window: windows of TTL are aligned
// to the Unix epoch and every URL issued in a window expires at the start of
// the window after next, so it lives between TTL and 2×TTL and the same key
// gives byte-for-byte the same URL for the whole window, which browsers and
// CDNs can cache.
package storage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/s3blob" // registers s3://
	"gocloud.dev/gcerrors"
)

// FilesPath is where Handler is mounted for the file backend; signed file
// URLs are PublicBaseURL + FilesPath + key.
const FilesPath = "/files/"

// maxS3Expiry is the longest a SigV4 presigned URL may live.
const maxS3Expiry = 7 * 24 * time.Hour

// Config says where files live and how their URLs are signed.
type Config struct {
	// URL is STORAGE_URL: file://… or s3://….
	URL string
	// PublicBaseURL is the service's public origin (PUBLIC_BASE_URL); file
	// URLs are PublicBaseURL + "/files/<key>".
	PublicBaseURL string
	// Secret is AUTH_SECRET; the URL-signing key is derived from it.
	Secret []byte
	// TTL is IMAGE_URL_TTL, the length of a URL window (whole seconds).
	TTL time.Duration
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
}

// Store reads and writes objects and signs their URLs.
type Store struct {
	bucket *blob.Bucket
	ttl    int64 // seconds
	now    func() time.Time

	signer *signer // file backend only

	s3     *s3.Client // s3 backend only
	s3Name string
}

// Open opens the bucket of cfg.URL. For file URLs it creates the folder; for
// s3 URLs it checks that the bucket answers. The errors name STORAGE_URL and
// never include credentials.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, errors.New("STORAGE_URL is not a URL")
	}
	if cfg.TTL < time.Second {
		return nil, errors.New("IMAGE_URL_TTL must be at least 1s")
	}
	s := &Store{ttl: int64((cfg.TTL + time.Second - 1) / time.Second), now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	switch u.Scheme {
	case "file":
		err = s.openFile(u, cfg)
	case "s3":
		err = s.openS3(ctx, u, cfg)
	default:
		err = errors.New("STORAGE_URL must be a file:// or s3:// URL")
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) openFile(u *url.URL, cfg Config) error {
	if u.RawQuery != "" {
		return errors.New("STORAGE_URL: a file:// URL takes no query parameters")
	}
	var dir string
	switch u.Host {
	case "", "localhost":
		dir = u.Path // file:///abs/dir
	case ".", "..":
		dir = u.Host + u.Path // file://./rel/dir
	default:
		return fmt.Errorf("STORAGE_URL: file URL host must be empty, '.' or '..', got %q", u.Host)
	}
	if strings.Trim(dir, "/.") == "" {
		return errors.New("STORAGE_URL: a file:// URL needs a folder, such as file://./data/uploads")
	}
	if len(cfg.Secret) == 0 {
		return errors.New("storage: a signing secret (AUTH_SECRET) is required for file URLs")
	}
	base, err := url.Parse(strings.TrimRight(cfg.PublicBaseURL, "/") + strings.TrimSuffix(FilesPath, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return errors.New("PUBLIC_BASE_URL must be an http:// or https:// URL")
	}
	s.signer = newSigner(base, deriveKey(cfg.Secret), s.now)
	b, err := fileblob.OpenBucket(filepath.FromSlash(dir), &fileblob.Options{
		URLSigner:   s.signer,
		CreateDir:   true,
		DirFileMode: 0o750,
		// Temporary files next to the objects: the folder is often a volume
		// on another mount than os.TempDir, where rename fails.
		NoTempDir: true,
	})
	if err != nil {
		return fmt.Errorf("STORAGE_URL: open folder %s: %w", dir, err)
	}
	s.bucket = b
	return nil
}

func (s *Store) openS3(ctx context.Context, u *url.URL, cfg Config) error {
	if u.Host == "" {
		return errors.New("STORAGE_URL: an s3:// URL needs a bucket name, such as s3://products?region=us-east-1")
	}
	if 2*time.Duration(s.ttl)*time.Second > maxS3Expiry {
		return errors.New("IMAGE_URL_TTL must be at most 84h with s3 storage (presigned URLs live at most 7 days)")
	}
	b, err := blob.OpenBucket(ctx, cfg.URL)
	if err != nil {
		return fmt.Errorf("STORAGE_URL: open s3 bucket %q: %w", u.Host, err)
	}
	var client *s3.Client
	if !b.As(&client) {
		_ = b.Close()
		return errors.New("STORAGE_URL: s3 bucket has no S3 client")
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if ok, err := b.IsAccessible(cctx); err != nil || !ok {
		_ = b.Close()
		if err == nil {
			err = errors.New("bucket does not exist")
		}
		return fmt.Errorf("STORAGE_URL: s3 bucket %q is not accessible: %w", u.Host, err)
	}
	s.bucket, s.s3, s.s3Name = b, client, u.Host
	return nil
}

// Close releases the bucket.
func (s *Store) Close() error { return s.bucket.Close() }

// ServesFiles reports whether the URLs point at Handler (file backend), so
// that the server mounts it at FilesPath.
func (s *Store) ServesFiles() bool { return s.signer != nil }

// Put stores the bytes of r under key with the content type.
func (s *Store) Put(ctx context.Context, key, contentType string, r io.Reader) error {
	if err := checkKey(key); err != nil {
		return err
	}
	// Cancelling the writer's context before Close discards a partial
	// object when reading r fails.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.bucket.NewWriter(wctx, key, &blob.WriterOptions{
		ContentType: contentType,
		// For S3, which serves the object itself; the file handler sets its
		// own from the URL's expiry.
		CacheControl: fmt.Sprintf("public, max-age=%d", s.ttl),
	})
	if err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		cancel()
		_ = w.Close()
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	return nil
}

// Delete removes the object; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	err := s.bucket.Delete(ctx, key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("storage: delete %s: %w", key, err)
	}
	return nil
}

// Exists reports whether there is an object under key.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	return s.bucket.Exists(ctx, key)
}

// URL returns a signed GET URL for key, identical for every call within a
// TTL window (see the package documentation).
func (s *Store) URL(ctx context.Context, key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	start, expiry := s.window()
	if s.signer != nil {
		return s.signer.sign(key, http.MethodGet, expiry.Unix()).String(), nil
	}
	p, err := s3.NewPresignClient(s.s3, func(o *s3.PresignOptions) {
		o.Expires = expiry.Sub(start)
		o.Presigner = fixedTimePresigner{
			inner: v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true }),
			at:    start,
		}
	}).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.s3Name), Key: aws.String(key)})
	if err != nil {
		return "", fmt.Errorf("storage: sign %s: %w", key, err)
	}
	return p.URL, nil
}

// window returns the start of the current TTL window and the expiry of
// URLs issued in it: the start of the window after next.
func (s *Store) window() (start, expiry time.Time) {
	now := s.now().Unix()
	w := now - now%s.ttl
	if now < 0 && now%s.ttl != 0 { // before 1970: round towards -inf
		w -= s.ttl
	}
	return time.Unix(w, 0), time.Unix(w+2*s.ttl, 0)
}

// fixedTimePresigner signs as of the window's start, so that a SigV4 URL
// (whose X-Amz-Date is the signing time) is the same all window long.
type fixedTimePresigner struct {
	inner s3.HTTPPresignerV4
	at    time.Time
}

func (p fixedTimePresigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request,
	payloadHash, service, region string, _ time.Time, optFns ...func(*v4.SignerOptions),
) (string, http.Header, error) {
	return p.inner.PresignHTTP(ctx, creds, r, payloadHash, service, region, p.at, optFns...)
}

// checkKey accepts the keys this service generates: slash-separated
// segments of letters, digits, '.', '_' and '-', none of them "." or "..".
// Such keys need no escaping by either backend, so a signed URL and the
// stored object always agree.
func checkKey(key string) error {
	if key == "" || len(key) > 512 {
		return errors.New("storage: invalid key")
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return errors.New("storage: invalid key")
		}
		for _, c := range seg {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
			if !ok {
				return errors.New("storage: invalid key")
			}
		}
	}
	return nil
}

// deriveKey derives the URL-signing key from AUTH_SECRET, so that a file
// URL's signature is never valid as any other token the secret signs.
func deriveKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("commerce/storage/signed-url/v1"))
	return m.Sum(nil)
}
