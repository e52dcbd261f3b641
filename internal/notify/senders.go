package notify

import (
	"context"
	"log/slog"
)

// OutgoingEmail is one rendered email.
type OutgoingEmail struct {
	From    string
	To      string
	Subject string
	Text    string
	HTML    string
	// Headers are extra headers, such as X-Notification-ID.
	Headers map[string]string
}

// EmailSender delivers emails. An error wrapped with Permanent is final;
// any other error is retried.
type EmailSender interface {
	SendEmail(ctx context.Context, e OutgoingEmail) error
}

// SMSSender delivers text messages. An error wrapped with Permanent is
// final; any other error is retried.
type SMSSender interface {
	SendSMS(ctx context.Context, to, body string) error
}

// LogSender writes notifications to Log instead of sending them: the
// default for local runs. It logs the recipient and subject, never a body,
// which may carry links with tokens.
type LogSender struct {
	Log *slog.Logger
}

var (
	_ EmailSender = LogSender{}
	_ SMSSender   = LogSender{}
)

// SendEmail logs the email's recipient and subject. It never fails.
func (s LogSender) SendEmail(ctx context.Context, e OutgoingEmail) error {
	s.Log.InfoContext(ctx, "email not sent (EMAIL_SENDER=log)",
		"to", e.To, "subject", e.Subject, "notification_id", e.Headers[HeaderNotificationID])
	return nil
}

// SendSMS logs the recipient and the length of the message. It never fails.
func (s LogSender) SendSMS(ctx context.Context, to, body string) error {
	s.Log.InfoContext(ctx, "sms not sent (SMS_SENDER=log)", "to", to, "chars", len([]rune(body)))
	return nil
}
