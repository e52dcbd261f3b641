package mailtest_test

import (
	"net/smtp"
	"os"
	"strings"
	"testing"
	"time"

	"commerce/internal/platform/dbtest"
	"commerce/internal/platform/mailtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }

func TestServerReceivesAndClears(t *testing.T) {
	srv := mailtest.Start(t)
	if !strings.HasPrefix(srv.SMTPURL(), "smtp://127.0.0.1:") {
		t.Fatalf("SMTPURL = %q", srv.SMTPURL())
	}
	addr := strings.TrimPrefix(srv.SMTPURL(), "smtp://")
	msg := "From: shop@example.com\r\nTo: buyer@example.com\r\nSubject: Receipt 42\r\nX-Test: yes\r\n\r\nThanks!\r\n"
	if err := smtp.SendMail(addr, nil, "shop@example.com", []string{"buyer@example.com"}, []byte(msg)); err != nil {
		t.Fatalf("send: %v", err)
	}

	got := srv.WaitForMessages(t, 1, 5*time.Second)
	if len(got) != 1 || got[0].Subject != "Receipt 42" || got[0].From != "shop@example.com" ||
		len(got[0].To) != 1 || got[0].To[0] != "buyer@example.com" {
		t.Fatalf("messages = %+v", got)
	}
	full := srv.Message(t, got[0].ID)
	if strings.TrimSpace(full.Text) != "Thanks!" || full.Header("x-test") != "yes" || full.Headers["X-Test"][0] != "yes" {
		t.Fatalf("message = %+v", full)
	}
	if n := len(srv.Search(t, "to:buyer@example.com subject:receipt")); n != 1 {
		t.Fatalf("search found %d, want 1", n)
	}
	if n := len(srv.Search(t, "to:nobody@example.com")); n != 0 {
		t.Fatalf("search for another recipient found %d, want 0", n)
	}

	srv.Clear(t)
	if n := len(srv.Messages(t)); n != 0 {
		t.Fatalf("%d messages after Clear", n)
	}
}
