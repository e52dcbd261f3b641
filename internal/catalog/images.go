package catalog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"golang.org/x/image/webp"

	"commerce/internal/apperr"
	"commerce/internal/platform/db"
)

// ObjectStore keeps the bytes of images; storage.Store is one.
type ObjectStore interface {
	// Put stores r under key with the content type.
	Put(ctx context.Context, key, contentType string, r io.Reader) error
	// Delete removes the object; a missing object is not an error.
	Delete(ctx context.Context, key string) error
}

// ImageUpload is an uploaded image file. Filename and Size are what the
// client claims and are never trusted: the format is judged from the bytes,
// the size is counted while reading, and the storage key is generated.
type ImageUpload struct {
	Filename string
	Size     int64
	Content  io.ReadSeeker
	AltText  *string
}

// Image limits.
const (
	maxImageSide  = 20000 // pixels, either side
	maxAltTextLen = 500   // characters
)

// imageFormat is an accepted image format.
type imageFormat struct {
	contentType string
	ext         string
	// decodeConfig reads the header: dimensions, and an error when the
	// bytes are not this format.
	decodeConfig func(io.Reader) (image.Config, error)
	// complete checks, without decoding pixels, that the file is whole.
	complete func(r io.ReadSeeker, size int64) error
}

// imageFormats are the accepted formats, keyed by the content type that
// http.DetectContentType sniffs from the first bytes.
var imageFormats = map[string]imageFormat{
	"image/jpeg": {"image/jpeg", "jpg", jpeg.DecodeConfig, jpegComplete},
	"image/png":  {"image/png", "png", png.DecodeConfig, pngComplete},
	"image/gif":  {"image/gif", "gif", gif.DecodeConfig, gifComplete},
	"image/webp": {"image/webp", "webp", webp.DecodeConfig, webpComplete},
}

// WithImages returns a copy of the service that stores image bytes in store
// and accepts files of at most maxBytes. Without it the image methods fail
// with an internal error. Call it while wiring, before the service is used.
func (s *Service) WithImages(store ObjectStore, maxBytes int64) *Service {
	c := *s
	c.objects = store
	c.maxImageBytes = maxBytes
	return &c
}

// AddImage validates an uploaded image and appends it to the product's
// images: the object is stored first, then its row inserted at the next
// position; if the insert fails the object is deleted again. It returns a
// NotFound userError at ["productId"] for an unknown product and Invalid
// userErrors at ["file"] (not a JPEG, PNG, WebP or GIF judged by its bytes,
// truncated, empty, larger than the limit, absurd dimensions) and
// ["altText"]; nothing is stored then.
func (s *Service) AddImage(ctx context.Context, productID string, up ImageUpload) (*Product, error) {
	if s.objects == nil {
		return nil, errors.New("catalog: image storage is not configured")
	}
	pid, ok := canonicalID(productID)
	if !ok {
		return nil, notFoundAt("productId")
	}
	exists, err := productExists(ctx, s.db.Bun, pid)
	if err != nil {
		return nil, fmt.Errorf("add image: %w", err)
	}
	if !exists {
		return nil, notFoundAt("productId")
	}
	var errs apperr.List
	alt, err := cleanAltText(up.AltText)
	errs.Add(err)
	info, err := s.inspectImage(up.Content, up.Size)
	errs.Add(err)
	if err := errs.Err(); err != nil {
		return nil, err
	}

	id := uuid.NewString()
	row := imageRow{
		ID: id, ProductID: pid, StorageKey: "products/" + pid + "/" + id + "." + info.format.ext,
		ContentType: info.format.contentType, AltText: alt,
		Width: &info.width, Height: &info.height, SizeBytes: info.size,
	}
	if _, err := up.Content.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("add image: rewind upload: %w", err)
	}
	if err := s.objects.Put(ctx, row.StorageKey, row.ContentType, io.LimitReader(up.Content, info.size)); err != nil {
		return nil, fmt.Errorf("add image: %w", err)
	}
	var p *productRow
	err = s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		p, err = selectProduct(ctx, tx, true, "p.id = ?", pid)
		if db.IsNoRows(err) {
			return notFoundAt("productId")
		}
		if err != nil {
			return err
		}
		return insertImage(ctx, tx, &row)
	})
	if err != nil {
		s.removeObject(context.WithoutCancel(ctx), row.StorageKey)
		return nil, writeError("add image", err, nil)
	}
	return p.product(), nil
}

// DeleteImage removes an image: its row goes and the product's other images
// close the gap in one transaction, and once that has committed the object
// is removed from storage (a failure there is logged; the image is gone
// either way). It returns a NotFound userError at ["imageId"] for an
// unknown image.
func (s *Service) DeleteImage(ctx context.Context, imageID string) (*Product, error) {
	if s.objects == nil {
		return nil, errors.New("catalog: image storage is not configured")
	}
	id, ok := canonicalID(imageID)
	if !ok {
		return nil, imageNotFound()
	}
	var p *productRow
	var key string
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		pid, err := imageProductID(ctx, tx, id)
		if db.IsNoRows(err) {
			return imageNotFound()
		}
		if err != nil {
			return err
		}
		// The product first, as every image write does, so that concurrent
		// writes to one product's images queue instead of deadlocking.
		if p, err = selectProduct(ctx, tx, true, "p.id = ?", pid); err != nil {
			return err
		}
		key, err = deleteImage(ctx, tx, id, pid)
		if db.IsNoRows(err) {
			return imageNotFound() // deleted meanwhile
		}
		if err != nil {
			return err
		}
		return compactImagePositions(ctx, tx, pid)
	})
	if err != nil {
		return nil, writeError("delete image", err, nil)
	}
	s.removeObject(context.WithoutCancel(ctx), key)
	return p.product(), nil
}

// ReorderImages sets the order of a product's images to imageIDs, which
// must name each of its images exactly once: positions become 0..n-1 in
// that order, in one transaction. It returns a NotFound userError at
// ["productId"] for an unknown product and an Invalid one at ["imageIds"]
// for any other list.
func (s *Service) ReorderImages(ctx context.Context, productID string, imageIDs []string) (*Product, error) {
	pid, ok := canonicalID(productID)
	if !ok {
		return nil, notFoundAt("productId")
	}
	badList := apperr.InvalidField(apperr.Path("imageIds"), "must list each of the product's images exactly once")
	var p *productRow
	err := s.db.RunInTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		var err error
		p, err = selectProduct(ctx, tx, true, "p.id = ?", pid)
		if db.IsNoRows(err) {
			return notFoundAt("productId")
		}
		if err != nil {
			return err
		}
		current, err := imageIDsOf(ctx, tx, pid)
		if err != nil {
			return err
		}
		if len(imageIDs) != len(current) {
			return badList
		}
		remaining := make(map[string]bool, len(current))
		for _, id := range current {
			remaining[id] = true
		}
		ordered := make([]string, len(imageIDs))
		for i, raw := range imageIDs {
			id, ok := canonicalID(raw)
			if !ok || !remaining[id] {
				return badList
			}
			delete(remaining, id)
			ordered[i] = id
		}
		return setImageOrder(ctx, tx, pid, ordered)
	})
	if err != nil {
		return nil, writeError("reorder images", err, nil)
	}
	return p.product(), nil
}

func (s *Service) removeObject(ctx context.Context, key string) {
	if err := s.objects.Delete(ctx, key); err != nil {
		log := s.cfg.Log
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		log.WarnContext(ctx, "catalog: could not remove an image object; it is left behind", "key", key, "error", err)
	}
}

func imageNotFound() error {
	return apperr.Field(apperr.NotFound, apperr.Path("imageId"), "image not found")
}

// imageInfo is what inspectImage learned from an upload's bytes.
type imageInfo struct {
	format        imageFormat
	width, height int
	size          int64
}

// inspectImage reads the upload to judge it: its real size (at most one
// byte past the limit is read), its format from content sniffing and a
// header decode that must agree, its dimensions, and that it is whole.
func (s *Service) inspectImage(r io.ReadSeeker, claimed int64) (imageInfo, error) {
	path := apperr.Path("file")
	limit := s.maxImageBytes
	tooLarge := apperr.InvalidField(path, "file is larger than %d bytes", limit)
	notImage := apperr.InvalidField(path, "must be a JPEG, PNG, WebP or GIF image")
	if r == nil {
		return imageInfo{}, apperr.InvalidField(path, "is required")
	}
	if claimed > limit {
		return imageInfo{}, tooLarge
	}
	rewind := func() error {
		_, err := r.Seek(0, io.SeekStart)
		return err
	}
	if err := rewind(); err != nil {
		return imageInfo{}, fmt.Errorf("rewind upload: %w", err)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(r, limit+1))
	if err != nil {
		return imageInfo{}, fmt.Errorf("read upload: %w", err)
	}
	if n > limit {
		return imageInfo{}, tooLarge
	}
	if n == 0 {
		return imageInfo{}, apperr.InvalidField(path, "file is empty")
	}

	if err := rewind(); err != nil {
		return imageInfo{}, fmt.Errorf("rewind upload: %w", err)
	}
	head := make([]byte, 512)
	m, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return imageInfo{}, fmt.Errorf("read upload: %w", err)
	}
	f, ok := imageFormats[http.DetectContentType(head[:m])]
	if !ok {
		return imageInfo{}, notImage
	}

	if err := rewind(); err != nil {
		return imageInfo{}, fmt.Errorf("rewind upload: %w", err)
	}
	cfg, err := f.decodeConfig(io.LimitReader(r, n))
	if err != nil {
		return imageInfo{}, notImage
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxImageSide || cfg.Height > maxImageSide {
		return imageInfo{}, apperr.InvalidField(path, "image must be between 1 and %d pixels on each side", maxImageSide)
	}

	if err := rewind(); err != nil {
		return imageInfo{}, fmt.Errorf("rewind upload: %w", err)
	}
	if err := f.complete(r, n); err != nil {
		return imageInfo{}, apperr.InvalidField(path, "image file is truncated or corrupt")
	}
	return imageInfo{format: f, width: cfg.Width, height: cfg.Height, size: n}, nil
}

// cleanAltText trims the alt text; empty means none. It must be valid
// UTF-8 without control characters, at most maxAltTextLen characters.
func cleanAltText(in *string) (*string, error) {
	if in == nil {
		return nil, nil
	}
	path := apperr.Path("altText")
	if !utf8.ValidString(*in) {
		return nil, apperr.InvalidField(path, "must be valid UTF-8")
	}
	s := strings.TrimSpace(*in)
	if s == "" {
		return nil, nil
	}
	if utf8.RuneCountInString(s) > maxAltTextLen {
		return nil, apperr.InvalidField(path, "must be at most %d characters", maxAltTextLen)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return nil, apperr.InvalidField(path, "must not contain control characters")
	}
	return &s, nil
}

var errIncomplete = errors.New("image file is incomplete")

// pngComplete walks the chunks, checking each CRC, up to IEND.
func pngComplete(r io.ReadSeeker, size int64) error {
	br := bufio.NewReader(io.LimitReader(r, size))
	if _, err := br.Discard(8); err != nil { // the signature, checked by the decoder
		return errIncomplete
	}
	var hdr [8]byte
	var sum [4]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return errIncomplete
		}
		length := int64(binary.BigEndian.Uint32(hdr[:4]))
		if length > size {
			return errIncomplete
		}
		crc := crc32.NewIEEE()
		crc.Write(hdr[4:])
		if _, err := io.CopyN(crc, br, length); err != nil {
			return errIncomplete
		}
		if _, err := io.ReadFull(br, sum[:]); err != nil || binary.BigEndian.Uint32(sum[:]) != crc.Sum32() {
			return errIncomplete
		}
		if string(hdr[4:]) == "IEND" {
			return nil
		}
	}
}

// tail returns up to the last n bytes of the file.
func tail(r io.ReadSeeker, size, n int64) ([]byte, error) {
	n = min(n, size)
	if _, err := r.Seek(size-n, io.SeekStart); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	_, err := io.ReadFull(r, b)
	return b, err
}

// jpegComplete checks that the file ends with the EOI marker (zero
// padding after it is tolerated).
func jpegComplete(r io.ReadSeeker, size int64) error {
	b, err := tail(r, size, 64)
	if err != nil {
		return errIncomplete
	}
	if !bytes.HasSuffix(bytes.TrimRight(b, "\x00"), []byte{0xFF, 0xD9}) {
		return errIncomplete
	}
	return nil
}

// gifComplete checks that the file ends with the GIF trailer.
func gifComplete(r io.ReadSeeker, size int64) error {
	b, err := tail(r, size, 1)
	if err != nil || b[0] != 0x3B {
		return errIncomplete
	}
	return nil
}

// webpComplete checks that the file holds the whole RIFF container its
// header announces.
func webpComplete(r io.ReadSeeker, size int64) error {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return errIncomplete
	}
	riff := int64(binary.LittleEndian.Uint32(hdr[4:8]))
	if string(hdr[:4]) != "RIFF" || string(hdr[8:]) != "WEBP" || riff < 4 || riff+8 > size {
		return errIncomplete
	}
	return nil
}
