package webhooks

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"commerce/internal/apperr"
)

// Page sizes of the lists.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// EndpointPage is a page of endpoints, newest first.
type EndpointPage struct {
	Edges       []EndpointEdge
	HasNextPage bool
	HasPrevious bool
	TotalCount  int
}

// EndpointEdge is an endpoint and the cursor just past it.
type EndpointEdge struct {
	Cursor string
	Node   *Endpoint
}

// DeliveryPage is a page of an endpoint's deliveries, newest first.
type DeliveryPage struct {
	Edges       []DeliveryEdge
	HasNextPage bool
	HasPrevious bool
	TotalCount  int
}

// DeliveryEdge is a delivery and the cursor just past it.
type DeliveryEdge struct {
	Cursor string
	Node   *Delivery
}

// Endpoints returns up to first endpoints (DefaultPageSize when nil),
// newest first, after the cursor after, with their total count. It returns
// apperr Invalid on "first" outside 0..MaxPageSize and on "after" for a
// cursor it did not make.
func (s *Service) Endpoints(ctx context.Context, first *int, after string) (*EndpointPage, error) {
	limit, before, err := pageArgs(first, after, "endpoint:")
	if err != nil {
		return nil, err
	}
	rows, err := listEndpoints(ctx, s.db.Bun, before, limit+1)
	if err != nil {
		return nil, fmt.Errorf("list webhook endpoints: %w", err)
	}
	total, err := countEndpoints(ctx, s.db.Bun)
	if err != nil {
		return nil, fmt.Errorf("count webhook endpoints: %w", err)
	}
	p := &EndpointPage{HasNextPage: len(rows) > limit, HasPrevious: after != "", TotalCount: total}
	for _, r := range rows[:min(len(rows), limit)] {
		p.Edges = append(p.Edges, EndpointEdge{Cursor: encodeCursor("endpoint:", r.Seq), Node: r.endpoint()})
	}
	return p, nil
}

// Deliveries returns up to first deliveries of the endpoint (all of them
// when status is empty), newest first, with the same arguments and errors
// as Endpoints.
func (s *Service) Deliveries(ctx context.Context, endpointID string, status Status, first *int, after string) (*DeliveryPage, error) {
	limit, before, err := pageArgs(first, after, "delivery:")
	if err != nil {
		return nil, err
	}
	if uuid.Validate(endpointID) != nil {
		return &DeliveryPage{}, nil
	}
	rows, err := listDeliveries(ctx, s.db.Bun, endpointID, status, before, limit+1)
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	total, err := countDeliveries(ctx, s.db.Bun, endpointID, status)
	if err != nil {
		return nil, fmt.Errorf("count webhook deliveries: %w", err)
	}
	p := &DeliveryPage{HasNextPage: len(rows) > limit, HasPrevious: after != "", TotalCount: total}
	for _, r := range rows[:min(len(rows), limit)] {
		p.Edges = append(p.Edges, DeliveryEdge{Cursor: encodeCursor("delivery:", r.Seq), Node: r.delivery()})
	}
	return p, nil
}

func pageArgs(first *int, after, prefix string) (limit int, beforeSeq int64, err error) {
	limit = DefaultPageSize
	if first != nil {
		limit = *first
	}
	if limit < 0 || limit > MaxPageSize {
		return 0, 0, apperr.InvalidField([]string{"first"}, "must be between 0 and %d", MaxPageSize)
	}
	if after != "" {
		var ok bool
		if beforeSeq, ok = decodeCursor(prefix, after); !ok {
			return 0, 0, apperr.InvalidField([]string{"after"}, "is not a valid cursor")
		}
	}
	return limit, beforeSeq, nil
}

func encodeCursor(prefix string, seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(prefix + strconv.FormatInt(seq, 10)))
}

func decodeCursor(prefix, c string) (int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	s, ok := strings.CutPrefix(string(b), prefix)
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseInt(s, 10, 64)
	return seq, err == nil && seq > 0
}

// Pending returns how many deliveries wait to be sent (PENDING), the
// webhook outbox's backlog for the metrics; a partial index makes it
// cheap. It returns database errors as they come.
func (s *Service) Pending(ctx context.Context) (int, error) {
	var n int
	err := s.db.Bun.QueryRowContext(ctx, `SELECT count(*) FROM webhook_deliveries WHERE status = 'PENDING'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pending webhook deliveries: %w", err)
	}
	return n, nil
}
