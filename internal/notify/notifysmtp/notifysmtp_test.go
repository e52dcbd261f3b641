package notifysmtp_test

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"commerce/internal/notify"
	"commerce/internal/notify/notifysmtp"
	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/mailtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

func email(to string) notify.OutgoingEmail {
	return notify.OutgoingEmail{
		From: "shop@example.com", To: to, Subject: "Your order ORD-1",
		Text: "Plain body", HTML: "<p>HTML <b>body</b></p>",
		Headers: map[string]string{"X-Notification-ID": "n-1", "X-Template": "order-shipped"},
	}
}

func send(t *testing.T, smtpURL string, e notify.OutgoingEmail) error {
	t.Helper()
	s, err := notifysmtp.New(smtpURL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.SendEmail(ctx, e)
}

func TestNewParsesURLs(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"smtp://mail.example.com", true},
		{"smtp://mail.example.com:2525", true},
		{"smtp://user:s3cret@mail.example.com:587", true},
		{"smtp://mail.example.com:587?tls=required", true},
		{"smtps://user:s3cret@mail.example.com", true},
		{"smtp://mail.example.com?tls=maybe", false},
		{"http://mail.example.com", false},
		{"smtp://", false},
		{"smtp://user:s3cret@mail.example.com:99999", false},
		{"smtp://user:s3cret@mail.example.com:%zz", false},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			_, err := notifysmtp.New(tc.url, time.Second)
			if (err == nil) != tc.ok {
				t.Fatalf("New = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestSendEmailDeliversBothBodiesAndHeaders(t *testing.T) {
	mail := mailtest.Start(t)
	if err := send(t, mail.SMTPURL(), email("buyer@example.com")); err != nil {
		t.Fatal(err)
	}
	msgs := mail.WaitForMessages(t, 1, 5*time.Second)
	m := mail.Message(t, msgs[0].ID)
	if m.Subject != "Your order ORD-1" || m.From != "shop@example.com" || m.To[0] != "buyer@example.com" ||
		strings.TrimSpace(m.Text) != "Plain body" || !strings.Contains(m.HTML, "<b>body</b>") ||
		m.Header("X-Notification-ID") != "n-1" || m.Header("X-Template") != "order-shipped" {
		t.Errorf("message = %+v", m)
	}
}

func TestSendEmailClassifiesErrors(t *testing.T) {
	mail := mailtest.Start(t, "--smtp-allowed-recipients", "^allowed@")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "smtp://" + l.Addr().String()
	l.Close()

	tests := []struct {
		name      string
		url       string
		to        string
		ok        bool
		permanent bool
	}{
		{"accepted recipient", mail.SMTPURL(), "allowed@example.com", true, false},
		{"rejected recipient (550)", mail.SMTPURL(), "someone@example.com", false, true},
		{"malformed address", mail.SMTPURL(), "not an address", false, true},
		{"nobody listening", closed, "allowed@example.com", false, false},
		{"STARTTLS required but not offered", mail.SMTPURL() + "?tls=required", "allowed@example.com", false, false},
		// go-mail does not send PLAIN or LOGIN credentials in clear text.
		{"credentials over plain text", strings.Replace(mail.SMTPURL(), "//", "//user:s3cret@", 1), "allowed@example.com", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := send(t, tc.url, email(tc.to))
			if (err == nil) != tc.ok || errors.Is(err, notify.ErrPermanent) != tc.permanent {
				t.Fatalf("SendEmail = %v, want ok=%v permanent=%v", err, tc.ok, tc.permanent)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
	if n := len(mail.Messages(t)); n != 1 {
		t.Errorf("mailpit holds %d messages, want 1", n)
	}
}

func TestSendEmailHonoursContext(t *testing.T) {
	mail := mailtest.Start(t)
	s, err := notifysmtp.New(mail.SMTPURL(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.SendEmail(ctx, email("buyer@example.com")); err == nil || errors.Is(err, notify.ErrPermanent) {
		t.Fatalf("SendEmail with a cancelled context = %v, want a temporary error", err)
	}
}
