// Package notifysms sends notification text messages through Twilio's
// Messages API (form-encoded To, From and Body, HTTP basic auth with the
// account SID and auth token).
package notifysms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"commerce/internal/contact"
	"commerce/internal/notify"
)

// DefaultAPIBase is Twilio's API.
const DefaultAPIBase = "https://api.twilio.com"

// defaultTimeout bounds one request when Config.Timeout is zero.
const defaultTimeout = 15 * time.Second

// maxResponse bounds how much of an answer is read.
const maxResponse = 64 << 10

// Config is the Twilio account to send from.
type Config struct {
	AccountSID string // TWILIO_ACCOUNT_SID
	AuthToken  string // TWILIO_AUTH_TOKEN
	From       string // TWILIO_FROM: a number, or an alphanumeric sender ID
	// APIBase (TWILIO_API_BASE) is scheme and host, DefaultAPIBase when
	// empty; tests point it at a local server that speaks the same API.
	APIBase string
	Timeout time.Duration // per request; 15 s when zero
	// Transport carries the HTTP requests (the tracing transport); nil:
	// http.DefaultTransport.
	Transport http.RoundTripper
}

// Sender is a notify.SMSSender for Twilio; it is safe for concurrent use.
type Sender struct {
	endpoint string
	sid      string
	token    string
	from     string
	client   *http.Client
}

var _ notify.SMSSender = (*Sender)(nil)

// New returns a Sender for cfg. It returns an error, which never holds the
// auth token, when the SID, token or sender is missing or APIBase is not an
// http(s) URL.
func New(cfg Config) (*Sender, error) {
	if cfg.AccountSID == "" || cfg.AuthToken == "" || cfg.From == "" {
		return nil, errors.New("notifysms: TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM are required")
	}
	base := cfg.APIBase
	if base == "" {
		base = DefaultAPIBase
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("notifysms: TWILIO_API_BASE must be an http:// or https:// URL")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	return &Sender{
		endpoint: strings.TrimRight(base, "/") + "/2010-04-01/Accounts/" + url.PathEscape(cfg.AccountSID) + "/Messages.json",
		sid:      cfg.AccountSID,
		token:    cfg.AuthToken,
		from:     cfg.From,
		client:   &http.Client{Timeout: timeout, Transport: cfg.Transport},
	}, nil
}

// SendSMS sends body to the phone number to, normalised to E.164 first.
// It returns an error wrapping notify.ErrPermanent when the number is not a
// valid phone number (nothing is sent then) or Twilio answers 4xx (other
// than 408 and 429), with Twilio's message and error code; and a plain
// error, worth retrying, when Twilio cannot be reached, times out, limits
// the rate or answers 5xx.
func (s *Sender) SendSMS(ctx context.Context, to, body string) error {
	number, err := contact.NormalizePhone(to, nil)
	if err != nil {
		return notify.Permanent(fmt.Errorf("twilio: invalid phone number %q: %v", to, err))
	}
	form := url.Values{"To": {number}, "From": {s.from}, "Body": {body}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return notify.Permanent(fmt.Errorf("twilio: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(s.sid, s.token)
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL adds nothing the operator does not know
		}
		return fmt.Errorf("twilio: send: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	return classify(resp.StatusCode, raw)
}

// apiError is the body of a Twilio error answer.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// classify turns Twilio's answer into nil, a permanent error or a
// temporary one.
func classify(status int, body []byte) error {
	if status >= 200 && status < 300 {
		return nil
	}
	msg := http.StatusText(status)
	var e apiError
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		msg = e.Message
		if e.Code != 0 {
			msg = fmt.Sprintf("%s (Twilio error %d)", e.Message, e.Code)
		}
	}
	err := fmt.Errorf("twilio: %d: %s", status, msg)
	if status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests {
		return notify.Permanent(err)
	}
	return err
}
