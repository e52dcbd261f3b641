package notify

import (
	"context"
	"html/template"
	"log/slog"
	"net/http"
)

// Unsubscriber records that an address wants no more marketing email.
// *customers.Service satisfies it.
type Unsubscriber interface {
	Unsubscribe(ctx context.Context, email string) error
}

// unsubscribePage is the one page of the handler: a confirmation form
// (GET), the result (POST), or a refusal of a bad link.
var unsubscribePage = template.Must(template.New("unsubscribe").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>Unsubscribe</title></head>
<body style="font-family:Helvetica,Arial,sans-serif;color:#18181b;max-width:480px;margin:48px auto;padding:0 16px;">
{{- if .Invalid}}
<h1 style="font-size:20px;">This unsubscribe link is not valid</h1>
<p>It may have been cut short by your mail program. Please use the link of a recent email.</p>
{{- else if .Done}}
<h1 style="font-size:20px;">You are unsubscribed</h1>
<p>{{.Email}} will receive no more marketing emails from us. Order and shipping emails still reach you.</p>
{{- else}}
<h1 style="font-size:20px;">Unsubscribe</h1>
<p>Stop marketing emails, such as cart reminders and review requests, to {{.Email}}?</p>
<form method="post" action="?token={{.Token}}"><button type="submit" style="font-size:15px;padding:8px 16px;">Unsubscribe</button></form>
{{- end}}
</body>
</html>
`))

type unsubscribeView struct {
	Email, Token  string
	Invalid, Done bool
}

// NewUnsubscribeHandler serves the one-click unsubscribe link of marketing
// emails (?token=… made by UnsubscribeToken with secret). GET shows a
// confirmation page with a button, so that a link scanner following the
// link unsubscribes no one; POST, which the button and mail clients
// implementing RFC 8058 send, verifies the token and calls u.Unsubscribe.
// A bad token answers 400, another method 405, a failure of u 500 (logged).
func NewUnsubscribeHandler(secret []byte, u Unsubscriber, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, HEAD, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		token := r.URL.Query().Get("token")
		email, ok := ParseUnsubscribeToken(secret, token)
		if !ok {
			render(w, http.StatusBadRequest, unsubscribeView{Invalid: true}, log)
			return
		}
		v := unsubscribeView{Email: email, Token: token}
		if r.Method == http.MethodPost {
			if err := u.Unsubscribe(r.Context(), email); err != nil {
				log.ErrorContext(r.Context(), "unsubscribe", "error", err)
				http.Error(w, "internal error", http.StatusInternalServerError)
				return
			}
			v.Done = true
		}
		render(w, http.StatusOK, v, log)
	})
}

func render(w http.ResponseWriter, status int, v unsubscribeView, log *slog.Logger) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := unsubscribePage.Execute(w, v); err != nil {
		log.Warn("render unsubscribe page", "error", err)
	}
}
