// Package notifysmtp sends notification emails over SMTP with go-mail.
package notifysmtp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/wneessen/go-mail"

	"commerce/internal/notify"
)

// Sender is a notify.EmailSender that dials the SMTP server for every
// message; it is safe for concurrent use.
type Sender struct {
	client *mail.Client
}

var _ notify.EmailSender = (*Sender)(nil)

// New returns a Sender for smtpURL (SMTP_URL):
//
//	smtp://[user:pass@]host[:port]   STARTTLS when the server offers it (port 587 by default)
//	smtps://[user:pass@]host[:port]  implicit TLS (port 465 by default)
//	...?tls=required                 refuse to send unless STARTTLS succeeds
//
// With user info the client authenticates with the best mechanism the
// server offers; go-mail never sends PLAIN or LOGIN credentials over an
// unencrypted connection. timeout bounds dialling and each SMTP command.
// New returns an error, without the URL (it may hold a password), when the
// URL is malformed.
func New(smtpURL string, timeout time.Duration) (*Sender, error) {
	u, err := url.Parse(smtpURL)
	if err != nil {
		return nil, errors.New("notifysmtp: SMTP_URL is not a valid URL")
	}
	opts, err := options(u)
	if err != nil {
		return nil, err
	}
	opts = append(opts, mail.WithTimeout(timeout))
	c, err := mail.NewClient(u.Hostname(), opts...)
	if err != nil {
		return nil, fmt.Errorf("notifysmtp: %w", err)
	}
	return &Sender{client: c}, nil
}

func options(u *url.URL) ([]mail.Option, error) {
	if u.Hostname() == "" {
		return nil, errors.New("notifysmtp: SMTP_URL has no host")
	}
	var opts []mail.Option
	port := 587
	switch u.Scheme {
	case "smtp":
		policy := mail.TLSOpportunistic
		switch tls := u.Query().Get("tls"); tls {
		case "":
		case "required":
			policy = mail.TLSMandatory
		default:
			return nil, fmt.Errorf("notifysmtp: SMTP_URL: unknown tls=%q (want tls=required)", tls)
		}
		opts = append(opts, mail.WithTLSPolicy(policy))
	case "smtps":
		port = 465
		opts = append(opts, mail.WithSSL())
	default:
		return nil, fmt.Errorf("notifysmtp: SMTP_URL scheme must be smtp or smtps, got %q", u.Scheme)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, errors.New("notifysmtp: SMTP_URL has an invalid port")
		}
		port = n
	}
	opts = append(opts, mail.WithPort(port))
	if u.User != nil {
		pass, _ := u.User.Password()
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(u.User.Username()), mail.WithPassword(pass))
	}
	return opts, nil
}

// SendEmail sends e. It returns an error wrapping notify.ErrPermanent when
// an address is malformed or the server answers 5xx to the message (such as
// an unknown recipient), and a plain error, worth retrying, when the server
// cannot be reached, answers 4xx, or refuses the connection or the
// credentials (a configuration problem an operator can fix in time).
func (s *Sender) SendEmail(ctx context.Context, e notify.OutgoingEmail) error {
	m := mail.NewMsg()
	if err := m.From(e.From); err != nil {
		return notify.Permanent(fmt.Errorf("smtp: from address: %w", err))
	}
	if err := m.To(e.To); err != nil {
		return notify.Permanent(fmt.Errorf("smtp: recipient address: %w", err))
	}
	m.Subject(e.Subject)
	for _, k := range slices.Sorted(maps.Keys(e.Headers)) {
		m.SetGenHeader(mail.Header(k), e.Headers[k])
	}
	m.SetBodyString(mail.TypeTextPlain, e.Text)
	if e.HTML != "" {
		m.AddAlternativeString(mail.TypeTextHTML, e.HTML)
	}
	if err := s.client.DialAndSendWithContext(ctx, m); err != nil {
		return classify(err)
	}
	return nil
}

// classify marks the server's 5xx answers to the message as permanent.
func classify(err error) error {
	var se *mail.SendError
	if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
		return notify.Permanent(fmt.Errorf("smtp: %w", err))
	}
	return fmt.Errorf("smtp: %w", err)
}
