package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// maxResponseBytes is how much of a receiver's answer is read: enough to
// reuse the connection after a short answer and keep an error's start, so a
// receiver that streams gigabytes costs us nothing.
const maxResponseBytes = 64 << 10

// maxErrorBody is how much of a refusing receiver's body lastError keeps.
const maxErrorBody = 200

// The headers of a delivery.
const (
	HeaderEventID   = "Commerce-Event-Id"
	HeaderTopic     = "Commerce-Topic"
	HeaderSignature = "Commerce-Signature"
)

// request is one attempt to send.
type request struct {
	URL       string
	EventID   string
	Topic     Topic
	Body      []byte
	Signature string
}

// response is what an attempt got back; Status is 0 when no answer came.
type response struct {
	Status int
}

// sender POSTs deliveries.
type sender struct {
	client *http.Client
}

// newSender returns a sender whose attempts last at most timeout, follow
// no redirect, use no proxy from the environment (which would bypass the
// guard), and, unless allowPrivate, connect only to addresses the guard
// allows, judged on the resolved address at connection time. instrument,
// when not nil, wraps the transport.
func newSender(timeout time.Duration, allowPrivate bool, instrument func(http.RoundTripper) http.RoundTripper) *sender {
	dialer := &net.Dialer{Timeout: timeout}
	if !allowPrivate {
		dialer.Control = guardControl
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: maxResponseBytes,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	var rt http.RoundTripper = transport
	if instrument != nil {
		rt = instrument(transport)
	}
	return &sender{client: &http.Client{
		Transport: rt,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// send makes one attempt. It returns nil for a 2xx answer; otherwise an
// error saying what happened (never the request), with the status when an
// answer came.
func (s *sender) send(ctx context.Context, r request) (response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return response{}, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "commerce-webhooks/1")
	req.Header.Set(HeaderEventID, r.EventID)
	req.Header.Set(HeaderTopic, string(r.Topic))
	req.Header.Set(HeaderSignature, r.Signature)
	res, err := s.client.Do(req)
	if err != nil {
		if errors.Is(err, errBlockedAddress) {
			return response{}, fmt.Errorf("refused: the endpoint resolves to a loopback, private, link-local or metadata address")
		}
		return response{}, fmt.Errorf("post: %w", err)
	}
	defer res.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
	out := response{Status: res.StatusCode}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return out, nil
	}
	return out, fmt.Errorf("receiver answered %d: %s", res.StatusCode, truncate(string(head), maxErrorBody))
}
