package config

import (
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// configurationDoc is the operators' table of every variable.
const configurationDoc = "../../docs/configuration.md"

// readOutsideLoad are the variables the service reads somewhere other than
// Load, which the recording below cannot see.
var readOutsideLoad = []string{
	"LOG_LEVEL", // server.go: the logger exists before the configuration is loaded
	// Traces: the standard OpenTelemetry variables, read by
	// internal/platform/tracing.Setup (endpoints, protocol, service name)
	// and by the OpenTelemetry SDK itself from the process environment
	// (the others).
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_HEADERS",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_BSP_SCHEDULE_DELAY",
	"OTEL_SDK_DISABLED",
}

// TestConfigurationDocListsEveryVariable keeps docs/configuration.md and
// Load in step: a variable Load reads that the document does not list, or
// one the document lists that nothing reads, fails here.
func TestConfigurationDocListsEveryVariable(t *testing.T) {
	read := variablesRead(t)
	for _, name := range readOutsideLoad {
		read[name] = true
	}
	text, err := os.ReadFile(configurationDoc)
	if err != nil {
		t.Fatalf("read the configuration document: %v", err)
	}
	documented := documentedVariables(string(text))
	if len(documented) == 0 {
		t.Fatalf("%s lists no variable: is its table still `| `NAME` | default | meaning |`?", configurationDoc)
	}
	for _, name := range sortedKeys(read) {
		if !documented[name] {
			t.Errorf("the service reads %s, but %s does not list it: add a row (name, default, meaning)", name, configurationDoc)
		}
	}
	for _, name := range sortedKeys(documented) {
		if !read[name] {
			t.Errorf("%s lists %s, but the service does not read it: remove the row, or add it to readOutsideLoad if it is read outside config.Load", configurationDoc, name)
		}
	}
}

// variablesRead runs Load with a getenv that records every name asked for,
// over environments that take each of its branches (development and
// production, each payment provider, SMTP, Twilio, S3, an admin account),
// so that a variable read only on one branch is still seen.
func variablesRead(t *testing.T) map[string]bool {
	t.Helper()
	read := map[string]bool{}
	production := env{
		"APP_ENV":      "production",
		"DATABASE_URL": "postgres://app@localhost/commerce",
		"AUTH_SECRET":  productionSecret,
	}
	for _, e := range []env{
		minimal,
		minimal.with(env{"APP_ENV": "bogus", "DATABASE_URL": ""}),
		production.with(env{
			"PAYMENT_PROVIDER":      "stripe",
			"STRIPE_SECRET_KEY":     "sk_test_123",
			"STRIPE_WEBHOOK_SECRET": "whsec_123",
		}),
		production.with(env{"PAYMENT_PROVIDER": "dummy", "ALLOW_DUMMY_PAYMENTS": "true"}),
		production,
		minimal.with(env{
			"EMAIL_SENDER":       "smtp",
			"SMTP_URL":           "smtp://mail.example.com:587",
			"SMS_SENDER":         "twilio",
			"TWILIO_ACCOUNT_SID": "AC123",
			"TWILIO_AUTH_TOKEN":  "token",
			"TWILIO_FROM":        "+15550100",
			"STORAGE_URL":        "s3://products?region=us-east-1",
			"ADMIN_EMAIL":        "admin@example.com",
			"ADMIN_PASSWORD":     "admin-password",
			"REDIS_URL":          "redis://localhost:6379/0",
		}),
	} {
		getenv := func(name string) string {
			read[name] = true
			return e.getenv(name)
		}
		// Some environments are refused on purpose; only the names matter.
		_, _ = Load(getenv, slog.New(slog.DiscardHandler))
	}
	if len(read) == 0 {
		t.Fatal("Load read no variable through getenv")
	}
	return read
}

// docVariable is a variable name in backticks: `HTTP_ADDR`.
var docVariable = regexp.MustCompile("`([A-Z][A-Z0-9_]*)`")

// documentedVariables returns the names in the first column of every
// table of the document; a row may name several (`ADMIN_EMAIL`,
// `ADMIN_PASSWORD`).
func documentedVariables(markdown string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(markdown, "\n") {
		cells := strings.Split(strings.TrimSpace(line), "|")
		if len(cells) < 3 || cells[0] != "" {
			continue // not a table row
		}
		for _, m := range docVariable.FindAllStringSubmatch(cells[1], -1) {
			out[m[1]] = true
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestDocumentedVariables pins how the document's tables are read.
func TestDocumentedVariables(t *testing.T) {
	got := documentedVariables(strings.Join([]string{
		"Prose naming `NOT_A_ROW` is ignored.",
		"| variable | default | meaning |",
		"| --- | --- | --- |",
		"| `HTTP_ADDR` | `:8080` | listen address |",
		"| `ADMIN_EMAIL`, `ADMIN_PASSWORD` | empty | see `NOT_FIRST_COLUMN` |",
	}, "\n"))
	want := []string{"ADMIN_EMAIL", "ADMIN_PASSWORD", "HTTP_ADDR"}
	if keys := sortedKeys(got); !slices.Equal(keys, want) {
		t.Errorf("documentedVariables = %v, want %v", keys, want)
	}
}
