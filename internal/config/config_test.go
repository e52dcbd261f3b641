package config

import (
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"commerce/internal/money"
)

// env is a fake environment, so that tests never depend on (or leak into)
// the process environment.
type env map[string]string

func (e env) getenv(name string) string { return e[name] }

// with returns a copy of e with the overrides applied; an empty value
// removes the variable.
func (e env) with(overrides env) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for k, v := range overrides {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// minimal is the smallest environment Load accepts: development lets
// AUTH_SECRET fall back to the built-in development secret.
var minimal = env{
	"DATABASE_URL": "postgres://app@localhost/commerce",
	"APP_ENV":      "development",
}

// productionSecret is exactly 32 bytes, the shortest AUTH_SECRET accepted.
const productionSecret = "0123456789abcdef0123456789abcdef"

func load(e env) (*Config, error) {
	return Load(e.getenv, slog.New(slog.DiscardHandler))
}

// problems splits Load's joined error into one line per problem.
func problems(err error) []string {
	return strings.Split(strings.TrimPrefix(err.Error(), "configuration: "), "\n")
}

// sameRate compares rates by value, so that reducing 10/100 to 1/10 is not
// a regression.
func sameRate(a, b Rate) bool { return a.Den != 0 && b.Den != 0 && a.Num*b.Den == b.Num*a.Den }

// TestLoadDefaults pins every default of the DESIGN.md "Running it" table:
// operators and tests rely on them, so changing one must fail here.
func TestLoadDefaults(t *testing.T) {
	c, err := load(minimal)
	if err != nil {
		t.Fatalf("Load(minimal) = %v", err)
	}
	if !sameRate(c.TaxRate, Rate{Num: 10, Den: 100}) {
		t.Errorf("TAX_RATE = %d/%d, want 0.10", c.TaxRate.Num, c.TaxRate.Den)
	}
	if len(c.AuthSecret) < 32 {
		t.Errorf("development AUTH_SECRET fallback is %d bytes, want >= 32", len(c.AuthSecret))
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"HTTP_ADDR", c.HTTPAddr, ":8080"},
		{"PPROF_ADDR", c.PprofAddr, ""},
		{"METRICS_ADDR", c.MetricsAddr, ""},
		{"APP_ENV", c.Development, true},
		{"DATABASE_URL", c.DatabaseURL, minimal["DATABASE_URL"]},
		{"DATABASE_MAX_CONNS", c.DatabaseMaxConns, int32(20)},
		{"REDIS_URL", c.RedisURL, ""},
		{"REDIS_PREFIX", c.RedisPrefix, "commerce:"},
		{"REDIS_TIMEOUT", c.RedisTimeout, 50 * time.Millisecond},
		{"SHUTDOWN_DRAIN", c.ShutdownDrain, 5 * time.Second},
		{"CUSTOMER_TOKEN_TTL", c.CustomerTokenTTL, 720 * time.Hour},
		{"STAFF_TOKEN_TTL", c.StaffTokenTTL, 12 * time.Hour},
		{"ADMIN_EMAIL", c.AdminEmail, ""},
		{"ADMIN_PASSWORD", c.AdminPassword, ""},
		{"STORE_CURRENCY", c.StoreCurrency, "USD"},
		{"FREE_SHIPPING_THRESHOLD", c.FreeShippingThreshold, money.New(100_00, "USD")},
		{"FLAT_SHIPPING_RATE", c.FlatShippingRate, money.New(10_00, "USD")},
		{"PRICES_INCLUDE_TAX", c.PricesIncludeTax, false},
		{"STORE_COUNTRY", c.StoreCountry, "US"},
		{"PAYMENT_PROVIDER", c.PaymentProvider, "dummy"},
		{"STRIPE_SECRET_KEY", c.StripeSecretKey, ""},
		{"STRIPE_WEBHOOK_SECRET", c.StripeWebhookSecret, ""},
		// Empty means Stripe's own API (see paymentstripe.Config.APIBase).
		{"STRIPE_API_BASE", c.StripeAPIBase, ""},
		{"PAYMENT_TIMEOUT", c.PaymentTimeout, time.Hour},
		{"ALLOW_DUMMY_PAYMENTS", c.AllowDummyPayments, false},
		{"MAX_UNITS_PER_ORDER", c.MaxUnitsPerOrder, 100},
		{"MAX_UNPAID_UNITS", c.MaxUnpaidUnits, 200},
		{"EMAIL_SENDER", c.EmailSender, "log"},
		{"SMTP_URL", c.SMTPURL, ""},
		// DESIGN.md says "empty", but go-mail refuses an empty From, so
		// Load substitutes a placeholder sender.
		{"EMAIL_FROM", c.EmailFrom, "shop@localhost"},
		{"NOTIFY_MAX_ATTEMPTS", c.NotifyMaxAttempts, 8},
		{"NOTIFY_RETRY_BASE", c.NotifyRetryBase, 5 * time.Second},
		{"NOTIFY_SWEEP_INTERVAL", c.NotifySweepInterval, time.Minute},
		{"JOB_TIMEOUT", c.JobTimeout, 30 * time.Second},
		{"WEBHOOK_TIMEOUT", c.WebhookTimeout, 10 * time.Second},
		{"WEBHOOK_MAX_ATTEMPTS", c.WebhookMaxAttempts, 12},
		{"WEBHOOK_RETRY_BASE", c.WebhookRetryBase, 10 * time.Second},
		{"WEBHOOK_DISABLE_AFTER", c.WebhookDisableAfter, 50},
		{"WEBHOOK_ALLOW_PRIVATE", c.WebhookAllowPrivate, false},
		{"SMS_SENDER", c.SMSSender, "log"},
		{"TWILIO_ACCOUNT_SID", c.TwilioAccountSID, ""},
		{"TWILIO_AUTH_TOKEN", c.TwilioAuthToken, ""},
		{"TWILIO_FROM", c.TwilioFrom, ""},
		{"TWILIO_API_BASE", c.TwilioAPIBase, "https://api.twilio.com"},
		{"LOW_STOCK_EMAIL", c.LowStockEmail, ""},
		{"WAREHOUSE_EMAIL", c.WarehouseEmail, ""},
		{"STOREFRONT_URL", c.StorefrontURL, ""},
		{"FULFILLMENT_REMINDER_DELAY", c.FulfillmentDelay, 2 * time.Hour},
		{"ABANDONED_CART_DELAY", c.AbandonedCartWait, 24 * time.Hour},
		{"REVIEW_REQUEST_DELAY", c.ReviewRequestWait, 168 * time.Hour},
		{"DELIVERY_FOLLOWUP_DELAY", c.DeliveryFollowup, 72 * time.Hour},
		// The built-in carriers live in the orders package; config adds none.
		{"TRACKING_URL_TEMPLATES", c.TrackingURLs, map[string]string{}},
		{"DAILY_REPORT_CRON", c.DailyReportCron, "0 9 * * *"},
		{"STORE_TIMEZONE", c.StoreLocation.String(), "UTC"},
		{"STORAGE_URL", c.StorageURL, "file://./data/uploads"},
		{"PUBLIC_BASE_URL", c.PublicBaseURL, "http://localhost:8080"},
		{"MAX_UPLOAD_BYTES", c.MaxUploadBytes, int64(10485760)},
		{"IMAGE_URL_TTL", c.ImageURLTTL, time.Hour},
		{"CATALOG_CACHE_BYTES", c.CatalogCacheBytes, int64(16 << 20)},
		{"QUOTA_CREATE_ORDER", c.QuotaCreateOrder, Quota{Limit: 100, Period: time.Hour}},
		{"QUOTA_CREATE_ORDER_IP", c.QuotaCreateOrderIP, Quota{Limit: 300, Period: time.Hour}},
		{"QUOTA_SEARCH_PRODUCTS", c.QuotaSearch, Quota{Limit: 1000, Period: time.Hour}},
		{"QUOTA_GRAPHQL", c.QuotaGraphQL, Quota{Limit: 6000, Period: time.Minute}},
		{"QUOTA_LOGIN", c.QuotaLogin, Quota{Limit: 10, Period: 15 * time.Minute}},
		{"QUOTA_LOGIN_IP", c.QuotaLoginIP, Quota{Limit: 30, Period: 15 * time.Minute}},
		{"QUOTA_LOGIN_ATTEMPTS_IP", c.QuotaLoginAttemptsIP, Quota{Limit: 60, Period: 15 * time.Minute}},
		{"QUOTA_LOGIN_ACCOUNT", c.QuotaLoginAccount, Quota{Limit: 20, Period: time.Hour}},
		{"QUOTA_REGISTER", c.QuotaRegister, Quota{Limit: 10, Period: time.Hour}},
		{"QUOTA_CART_CREATE", c.QuotaCartCreate, Quota{Limit: 100, Period: time.Hour}},
		{"QUOTA_ORDER_LOOKUP", c.QuotaOrderLookup, Quota{Limit: 20, Period: time.Hour}},
		{"QUOTA_ORDER_LOOKUP_NUMBER", c.QuotaOrderLookupNumber, Quota{Limit: 10, Period: time.Hour}},
		{"TRUSTED_PROXIES", len(c.TrustedProxies), 0},
		{"CORS_ALLOWED_ORIGINS", len(c.CORSAllowedOrigins), 0},
		{"WS_MAX_SUBSCRIPTIONS", c.WSMaxSubscriptions, 20},
		{"WS_MAX_CONNECTIONS", c.WSMaxConnections, 50},
		// minimal is development, where the demo shop is on.
		{"SHOP_ENABLED", c.ShopEnabled, true},
		{"STRIPE_PUBLISHABLE_KEY", c.StripePublishableKey, ""},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%s default = %#v, want %#v", f.name, f.got, f.want)
		}
	}
}

// TestLoadDefaultPaymentProvider checks that a Stripe key alone switches
// payments to Stripe, and that an explicit provider still wins.
func TestLoadDefaultPaymentProvider(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  env
		want string
	}{
		{"no key", env{}, "dummy"},
		{"key", env{"STRIPE_SECRET_KEY": "sk_test_x"}, "stripe"},
		{"key but dummy chosen", env{"STRIPE_SECRET_KEY": "sk_test_x", "PAYMENT_PROVIDER": "dummy"}, "dummy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(minimal.with(tc.env))
			if err != nil {
				t.Fatalf("Load = %v", err)
			}
			if c.PaymentProvider != tc.want {
				t.Errorf("PaymentProvider = %q, want %q", c.PaymentProvider, tc.want)
			}
		})
	}
}

// TestLoadProductionPayments checks that production never falls back to
// the dummy provider, which marks orders paid without taking money: it
// starts with Stripe, or with the dummy provider named explicitly and
// confirmed by ALLOW_DUMMY_PAYMENTS, and refuses anything else naming the
// variables to set. Development keeps the dummy default.
func TestLoadProductionPayments(t *testing.T) {
	prod := env{"APP_ENV": "production", "AUTH_SECRET": productionSecret}
	for _, tc := range []struct {
		name    string
		env     env
		want    string // the provider, when Load accepts
		refused []string
	}{
		{"Stripe key", env{"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_x"}, "stripe", nil},
		{"dummy named and allowed", env{"PAYMENT_PROVIDER": "dummy", "ALLOW_DUMMY_PAYMENTS": "true"}, "dummy", nil},
		{"dummy named and allowed despite a key", env{"STRIPE_SECRET_KEY": "sk_live_x", "PAYMENT_PROVIDER": "DUMMY", "ALLOW_DUMMY_PAYMENTS": "1"}, "dummy", nil},
		{"nothing set", env{}, "", []string{"PAYMENT_PROVIDER", "STRIPE_SECRET_KEY", "ALLOW_DUMMY_PAYMENTS"}},
		{"allowed but not named", env{"ALLOW_DUMMY_PAYMENTS": "true"}, "", []string{"PAYMENT_PROVIDER", "STRIPE_SECRET_KEY"}},
		{"named but not allowed", env{"PAYMENT_PROVIDER": "dummy"}, "", []string{"ALLOW_DUMMY_PAYMENTS"}},
		{"named, allowance false", env{"PAYMENT_PROVIDER": "dummy", "ALLOW_DUMMY_PAYMENTS": "false"}, "", []string{"ALLOW_DUMMY_PAYMENTS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(minimal.with(prod).with(tc.env))
			if tc.refused == nil {
				if err != nil {
					t.Fatalf("Load = %v", err)
				}
				if c.PaymentProvider != tc.want {
					t.Errorf("PaymentProvider = %q, want %q", c.PaymentProvider, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load accepted production with provider %q", c.PaymentProvider)
			}
			if got := problems(err); len(got) != 1 {
				t.Errorf("Load error = %q, want exactly one problem", err)
			}
			for _, name := range tc.refused {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("Load error does not name %s: %v", name, err)
				}
			}
		})
	}
	// Development keeps the dummy default without ALLOW_DUMMY_PAYMENTS.
	c, err := load(minimal)
	if err != nil {
		t.Fatalf("development: Load = %v", err)
	}
	if c.PaymentProvider != "dummy" || c.AllowDummyPayments {
		t.Errorf("development: provider %q, allowed %v; want dummy, false", c.PaymentProvider, c.AllowDummyPayments)
	}
}

// TestLoadValues checks that valid non-default values reach Config parsed
// and normalised the way the rest of the service expects.
func TestLoadValues(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   env
		check func(t *testing.T, c *Config)
	}{
		{"HTTP_ADDR", env{"HTTP_ADDR": "127.0.0.1:9090"}, func(t *testing.T, c *Config) {
			if c.HTTPAddr != "127.0.0.1:9090" || c.PublicBaseURL != "http://127.0.0.1:9090" {
				t.Errorf("HTTPAddr = %q, PublicBaseURL %q (its default follows HTTP_ADDR)", c.HTTPAddr, c.PublicBaseURL)
			}
		}},
		{"HTTP_ADDR on every interface", env{"HTTP_ADDR": ":8301"}, func(t *testing.T, c *Config) {
			if c.PublicBaseURL != "http://localhost:8301" {
				t.Errorf("PublicBaseURL = %q, want http://localhost:8301", c.PublicBaseURL)
			}
		}},
		{"HTTP_ADDR on IPv6 any", env{"HTTP_ADDR": "[::]:8302"}, func(t *testing.T, c *Config) {
			if c.PublicBaseURL != "http://localhost:8302" {
				t.Errorf("PublicBaseURL = %q, want http://localhost:8302", c.PublicBaseURL)
			}
		}},
		{"HTTP_ADDR on IPv6 loopback", env{"HTTP_ADDR": "[::1]:8303"}, func(t *testing.T, c *Config) {
			if c.PublicBaseURL != "http://[::1]:8303" {
				t.Errorf("PublicBaseURL = %q, want http://[::1]:8303", c.PublicBaseURL)
			}
		}},
		{"PUBLIC_BASE_URL wins over HTTP_ADDR", env{"HTTP_ADDR": "127.0.0.1:9090", "PUBLIC_BASE_URL": "https://shop.example.com/"}, func(t *testing.T, c *Config) {
			if c.PublicBaseURL != "https://shop.example.com" {
				t.Errorf("PublicBaseURL = %q", c.PublicBaseURL)
			}
		}},
		{"PPROF_ADDR IPv4", env{"PPROF_ADDR": "127.0.0.1:6060"}, func(t *testing.T, c *Config) {
			if c.PprofAddr != "127.0.0.1:6060" {
				t.Errorf("PprofAddr = %q", c.PprofAddr)
			}
		}},
		{"PPROF_ADDR IPv6", env{"PPROF_ADDR": "[::1]:6060"}, func(t *testing.T, c *Config) {
			if c.PprofAddr != "[::1]:6060" {
				t.Errorf("PprofAddr = %q", c.PprofAddr)
			}
		}},
		{"production with secret", env{"APP_ENV": "production", "AUTH_SECRET": productionSecret, "STRIPE_SECRET_KEY": "sk_test_x"}, func(t *testing.T, c *Config) {
			if c.Development || string(c.AuthSecret) != productionSecret {
				t.Errorf("Development = %v, AuthSecret = %q", c.Development, c.AuthSecret)
			}
		}},
		{"APP_ENV defaults to production", env{"APP_ENV": "", "AUTH_SECRET": productionSecret, "STRIPE_SECRET_KEY": "sk_test_x"}, func(t *testing.T, c *Config) {
			if c.Development {
				t.Error("Development = true without APP_ENV")
			}
		}},
		{"DATABASE_MAX_CONNS lowest", env{"DATABASE_MAX_CONNS": "2"}, func(t *testing.T, c *Config) {
			if c.DatabaseMaxConns != 2 {
				t.Errorf("DatabaseMaxConns = %d", c.DatabaseMaxConns)
			}
		}},
		{"DATABASE_MAX_CONNS highest", env{"DATABASE_MAX_CONNS": "1000"}, func(t *testing.T, c *Config) {
			if c.DatabaseMaxConns != 1000 {
				t.Errorf("DatabaseMaxConns = %d", c.DatabaseMaxConns)
			}
		}},
		{"Redis", env{"REDIS_URL": "rediss://:pw@cache:6380/1", "REDIS_PREFIX": "test-orders:"}, func(t *testing.T, c *Config) {
			if c.RedisURL != "rediss://:pw@cache:6380/1" || c.RedisPrefix != "test-orders:" {
				t.Errorf("RedisURL = %q, RedisPrefix = %q", c.RedisURL, c.RedisPrefix)
			}
		}},
		{"Redis timeout and shutdown drain", env{"REDIS_TIMEOUT": "20ms", "SHUTDOWN_DRAIN": "0s"}, func(t *testing.T, c *Config) {
			if c.RedisTimeout != 20*time.Millisecond || c.ShutdownDrain != 0 {
				t.Errorf("RedisTimeout = %v, ShutdownDrain = %v", c.RedisTimeout, c.ShutdownDrain)
			}
		}},
		{"token TTLs", env{"CUSTOMER_TOKEN_TTL": "90m", "STAFF_TOKEN_TTL": "1h30m"}, func(t *testing.T, c *Config) {
			if c.CustomerTokenTTL != 90*time.Minute || c.StaffTokenTTL != 90*time.Minute {
				t.Errorf("CustomerTokenTTL = %v, StaffTokenTTL = %v", c.CustomerTokenTTL, c.StaffTokenTTL)
			}
		}},
		{"admin email is normalised", env{"ADMIN_EMAIL": " Admin@Example.COM ", "ADMIN_PASSWORD": "pw"}, func(t *testing.T, c *Config) {
			if c.AdminEmail != "admin@example.com" || c.AdminPassword != "pw" {
				t.Errorf("AdminEmail = %q, AdminPassword = %q", c.AdminEmail, c.AdminPassword)
			}
		}},
		{"TAX_RATE", env{"TAX_RATE": "0.0825"}, func(t *testing.T, c *Config) {
			if !sameRate(c.TaxRate, Rate{Num: 825, Den: 10000}) {
				t.Errorf("TaxRate = %d/%d", c.TaxRate.Num, c.TaxRate.Den)
			}
		}},
		{"TAX_RATE zero", env{"TAX_RATE": "0"}, func(t *testing.T, c *Config) {
			if c.TaxRate.Num != 0 || c.TaxRate.Den == 0 {
				t.Errorf("TaxRate = %d/%d", c.TaxRate.Num, c.TaxRate.Den)
			}
		}},
		{"TAX_RATE one", env{"TAX_RATE": "1"}, func(t *testing.T, c *Config) {
			if !sameRate(c.TaxRate, Rate{Num: 1, Den: 1}) {
				t.Errorf("TaxRate = %d/%d", c.TaxRate.Num, c.TaxRate.Den)
			}
		}},
		// JPY has no minor digits: the defaults 100.00 and 10.00 must still
		// parse, as 100 and 10 yen.
		{"JPY defaults", env{"STORE_CURRENCY": "jpy"}, func(t *testing.T, c *Config) {
			if c.StoreCurrency != "JPY" || c.FreeShippingThreshold != money.New(100, "JPY") || c.FlatShippingRate != money.New(10, "JPY") {
				t.Errorf("StoreCurrency = %q, FreeShippingThreshold = %v, FlatShippingRate = %v", c.StoreCurrency, c.FreeShippingThreshold, c.FlatShippingRate)
			}
		}},
		{"prices include tax, store country", env{"PRICES_INCLUDE_TAX": "true", "STORE_COUNTRY": " de "}, func(t *testing.T, c *Config) {
			if !c.PricesIncludeTax || c.StoreCountry != "DE" {
				t.Errorf("PricesIncludeTax = %v, StoreCountry = %q", c.PricesIncludeTax, c.StoreCountry)
			}
		}},
		{"JPY amounts", env{"STORE_CURRENCY": "JPY", "FREE_SHIPPING_THRESHOLD": "5000", "FLAT_SHIPPING_RATE": "500"}, func(t *testing.T, c *Config) {
			if c.FreeShippingThreshold != money.New(5000, "JPY") || c.FlatShippingRate != money.New(500, "JPY") {
				t.Errorf("FreeShippingThreshold = %v, FlatShippingRate = %v", c.FreeShippingThreshold, c.FlatShippingRate)
			}
		}},
		{"KWD has three digits", env{"STORE_CURRENCY": "KWD", "FLAT_SHIPPING_RATE": "1.250"}, func(t *testing.T, c *Config) {
			if c.FlatShippingRate != money.New(1250, "KWD") || c.FreeShippingThreshold != money.New(100_000, "KWD") {
				t.Errorf("FlatShippingRate = %v, FreeShippingThreshold = %v", c.FlatShippingRate, c.FreeShippingThreshold)
			}
		}},
		{"EUR amounts", env{"STORE_CURRENCY": "EUR", "FREE_SHIPPING_THRESHOLD": "49.99", "FLAT_SHIPPING_RATE": "0"}, func(t *testing.T, c *Config) {
			if c.FreeShippingThreshold != money.New(4999, "EUR") || c.FlatShippingRate != money.New(0, "EUR") {
				t.Errorf("FreeShippingThreshold = %v, FlatShippingRate = %v", c.FreeShippingThreshold, c.FlatShippingRate)
			}
		}},
		{"Stripe", env{"PAYMENT_PROVIDER": "Stripe", "STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x", "STRIPE_API_BASE": "http://localhost:12111", "PAYMENT_TIMEOUT": "15m"}, func(t *testing.T, c *Config) {
			if c.PaymentProvider != "stripe" || c.StripeSecretKey != "sk_test_x" || c.StripeWebhookSecret != "whsec_x" || c.StripeAPIBase != "http://localhost:12111" || c.PaymentTimeout != 15*time.Minute {
				t.Errorf("payment config = %q %q %q %q %v", c.PaymentProvider, c.StripeSecretKey, c.StripeWebhookSecret, c.StripeAPIBase, c.PaymentTimeout)
			}
		}},
		{"reservation limits", env{"MAX_UNITS_PER_ORDER": "5", "MAX_UNPAID_UNITS": "7"}, func(t *testing.T, c *Config) {
			if c.MaxUnitsPerOrder != 5 || c.MaxUnpaidUnits != 7 {
				t.Errorf("MaxUnitsPerOrder = %d, MaxUnpaidUnits = %d", c.MaxUnitsPerOrder, c.MaxUnpaidUnits)
			}
		}},
		{"SMTP", env{"EMAIL_SENDER": "smtp", "SMTP_URL": "smtps://user:pw@mail.example.com:465", "EMAIL_FROM": "shop@example.com"}, func(t *testing.T, c *Config) {
			if c.EmailSender != "smtp" || c.SMTPURL != "smtps://user:pw@mail.example.com:465" || c.EmailFrom != "shop@example.com" {
				t.Errorf("EmailSender = %q, SMTPURL = %q, EmailFrom = %q", c.EmailSender, c.SMTPURL, c.EmailFrom)
			}
		}},
		{"webhooks", env{"WEBHOOK_TIMEOUT": "2s", "WEBHOOK_MAX_ATTEMPTS": "3", "WEBHOOK_RETRY_BASE": "200ms",
			"WEBHOOK_DISABLE_AFTER": "5", "WEBHOOK_ALLOW_PRIVATE": "true"}, func(t *testing.T, c *Config) {
			if c.WebhookTimeout != 2*time.Second || c.WebhookMaxAttempts != 3 || c.WebhookRetryBase != 200*time.Millisecond ||
				c.WebhookDisableAfter != 5 || !c.WebhookAllowPrivate {
				t.Errorf("webhook config = %v %d %v %d %v", c.WebhookTimeout, c.WebhookMaxAttempts, c.WebhookRetryBase,
					c.WebhookDisableAfter, c.WebhookAllowPrivate)
			}
		}},
		{"notify retries", env{"NOTIFY_MAX_ATTEMPTS": "1", "NOTIFY_RETRY_BASE": "250ms"}, func(t *testing.T, c *Config) {
			if c.NotifyMaxAttempts != 1 || c.NotifyRetryBase != 250*time.Millisecond {
				t.Errorf("NotifyMaxAttempts = %d, NotifyRetryBase = %v", c.NotifyMaxAttempts, c.NotifyRetryBase)
			}
		}},
		{"job timeout and sweeps", env{"JOB_TIMEOUT": "3s", "NOTIFY_SWEEP_INTERVAL": "1s"}, func(t *testing.T, c *Config) {
			if c.JobTimeout != 3*time.Second || c.NotifySweepInterval != time.Second {
				t.Errorf("JobTimeout = %v, NotifySweepInterval = %v", c.JobTimeout, c.NotifySweepInterval)
			}
		}},
		{"NOTIFY_MAX_ATTEMPTS highest", env{"NOTIFY_MAX_ATTEMPTS": "100"}, func(t *testing.T, c *Config) {
			if c.NotifyMaxAttempts != 100 {
				t.Errorf("NotifyMaxAttempts = %d", c.NotifyMaxAttempts)
			}
		}},
		{"Twilio", env{"SMS_SENDER": "twilio", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "tok", "TWILIO_FROM": "+15550100", "TWILIO_API_BASE": "http://127.0.0.1:4010"}, func(t *testing.T, c *Config) {
			if c.SMSSender != "twilio" || c.TwilioAccountSID != "AC1" || c.TwilioAuthToken != "tok" || c.TwilioFrom != "+15550100" || c.TwilioAPIBase != "http://127.0.0.1:4010" {
				t.Errorf("Twilio config = %q %q %q %q %q", c.SMSSender, c.TwilioAccountSID, c.TwilioAuthToken, c.TwilioFrom, c.TwilioAPIBase)
			}
		}},
		{"internal recipients are normalised", env{"LOW_STOCK_EMAIL": " Stock@Example.com", "WAREHOUSE_EMAIL": "WAREHOUSE@example.com ", "STOREFRONT_URL": "https://shop.example.com"}, func(t *testing.T, c *Config) {
			if c.LowStockEmail != "stock@example.com" || c.WarehouseEmail != "warehouse@example.com" || c.StorefrontURL != "https://shop.example.com" {
				t.Errorf("LowStockEmail = %q, WarehouseEmail = %q, StorefrontURL = %q", c.LowStockEmail, c.WarehouseEmail, c.StorefrontURL)
			}
		}},
		{"delays", env{"FULFILLMENT_REMINDER_DELAY": "30m", "ABANDONED_CART_DELAY": "1h", "REVIEW_REQUEST_DELAY": "48h", "DELIVERY_FOLLOWUP_DELAY": "90s"}, func(t *testing.T, c *Config) {
			if c.FulfillmentDelay != 30*time.Minute || c.AbandonedCartWait != time.Hour || c.ReviewRequestWait != 48*time.Hour || c.DeliveryFollowup != 90*time.Second {
				t.Errorf("delays = %v %v %v %v", c.FulfillmentDelay, c.AbandonedCartWait, c.ReviewRequestWait, c.DeliveryFollowup)
			}
		}},
		{"TRACKING_URL_TEMPLATES", env{"TRACKING_URL_TEMPLATES": "DPD=https://tracking.dpd.de/status/{tracking}, gls = https://gls.example/track?match={tracking} ,"}, func(t *testing.T, c *Config) {
			want := map[string]string{
				"dpd": "https://tracking.dpd.de/status/{tracking}",
				"gls": "https://gls.example/track?match={tracking}",
			}
			if !reflect.DeepEqual(c.TrackingURLs, want) {
				t.Errorf("TrackingURLs = %v, want %v", c.TrackingURLs, want)
			}
		}},
		{"report schedule", env{"DAILY_REPORT_CRON": "30 6 * * 1-5", "STORE_TIMEZONE": "Europe/Berlin"}, func(t *testing.T, c *Config) {
			if c.DailyReportCron != "30 6 * * 1-5" || c.StoreLocation.String() != "Europe/Berlin" {
				t.Errorf("DailyReportCron = %q, StoreLocation = %v", c.DailyReportCron, c.StoreLocation)
			}
		}},
		{"S3 storage", env{"STORAGE_URL": "s3://images?endpoint=http://minio:9000", "PUBLIC_BASE_URL": "https://cdn.example.com/", "MAX_UPLOAD_BYTES": "1048576", "IMAGE_URL_TTL": "10m"}, func(t *testing.T, c *Config) {
			// The trailing slash is dropped so that "/files/…" can be appended.
			if c.StorageURL != "s3://images?endpoint=http://minio:9000" || c.PublicBaseURL != "https://cdn.example.com" || c.MaxUploadBytes != 1<<20 || c.ImageURLTTL != 10*time.Minute {
				t.Errorf("storage config = %q %q %d %v", c.StorageURL, c.PublicBaseURL, c.MaxUploadBytes, c.ImageURLTTL)
			}
		}},
		{"quotas", env{
			"QUOTA_CREATE_ORDER":        "5/2s",
			"QUOTA_CREATE_ORDER_IP":     "100/h",
			"QUOTA_SEARCH_PRODUCTS":     " 20 / 15m ",
			"QUOTA_GRAPHQL":             "50/.5h",
			"QUOTA_LOGIN":               "3/1h30m",
			"QUOTA_LOGIN_IP":            "7/1m",
			"QUOTA_LOGIN_ATTEMPTS_IP":   "9/1m",
			"QUOTA_LOGIN_ACCOUNT":       "4/2h",
			"QUOTA_REGISTER":            "2/10s",
			"QUOTA_CART_CREATE":         "1000/1h",
			"QUOTA_ORDER_LOOKUP":        "5/5m",
			"QUOTA_ORDER_LOOKUP_NUMBER": "3/24h",
		}, func(t *testing.T, c *Config) {
			for _, q := range []struct {
				name      string
				got, want Quota
			}{
				{"QUOTA_CREATE_ORDER", c.QuotaCreateOrder, Quota{5, 2 * time.Second}},
				{"QUOTA_CREATE_ORDER_IP", c.QuotaCreateOrderIP, Quota{100, time.Hour}},
				{"QUOTA_SEARCH_PRODUCTS", c.QuotaSearch, Quota{20, 15 * time.Minute}},
				{"QUOTA_GRAPHQL", c.QuotaGraphQL, Quota{50, 30 * time.Minute}},
				{"QUOTA_LOGIN", c.QuotaLogin, Quota{3, 90 * time.Minute}},
				{"QUOTA_LOGIN_IP", c.QuotaLoginIP, Quota{7, time.Minute}},
				{"QUOTA_LOGIN_ATTEMPTS_IP", c.QuotaLoginAttemptsIP, Quota{9, time.Minute}},
				{"QUOTA_LOGIN_ACCOUNT", c.QuotaLoginAccount, Quota{4, 2 * time.Hour}},
				{"QUOTA_REGISTER", c.QuotaRegister, Quota{2, 10 * time.Second}},
				{"QUOTA_CART_CREATE", c.QuotaCartCreate, Quota{1000, time.Hour}},
				{"QUOTA_ORDER_LOOKUP", c.QuotaOrderLookup, Quota{5, 5 * time.Minute}},
				{"QUOTA_ORDER_LOOKUP_NUMBER", c.QuotaOrderLookupNumber, Quota{3, 24 * time.Hour}},
			} {
				if q.got != q.want {
					t.Errorf("%s = %v, want %v", q.name, q.got, q.want)
				}
			}
		}},
		{"TRUSTED_PROXIES", env{"TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7,2001:db8::/32, ::1, 172.16.5.4/12"}, func(t *testing.T, c *Config) {
			// Bare addresses become single-host prefixes; host bits are masked.
			want := []netip.Prefix{
				netip.MustParsePrefix("10.0.0.0/8"),
				netip.MustParsePrefix("192.168.1.7/32"),
				netip.MustParsePrefix("2001:db8::/32"),
				netip.MustParsePrefix("::1/128"),
				netip.MustParsePrefix("172.16.0.0/12"),
			}
			if !reflect.DeepEqual(c.TrustedProxies, want) {
				t.Errorf("TrustedProxies = %v, want %v", c.TrustedProxies, want)
			}
		}},
		{"METRICS_ADDR", env{"METRICS_ADDR": "127.0.0.1:9090"}, func(t *testing.T, c *Config) {
			if c.MetricsAddr != "127.0.0.1:9090" {
				t.Errorf("MetricsAddr = %q", c.MetricsAddr)
			}
		}},
		{"METRICS_ADDR on every interface", env{"METRICS_ADDR": ":9090"}, func(t *testing.T, c *Config) {
			if c.MetricsAddr != ":9090" {
				t.Errorf("MetricsAddr = %q", c.MetricsAddr)
			}
		}},
		{"websocket limits", env{"WS_MAX_SUBSCRIPTIONS": "5", "WS_MAX_CONNECTIONS": "200"}, func(t *testing.T, c *Config) {
			if c.WSMaxSubscriptions != 5 || c.WSMaxConnections != 200 {
				t.Errorf("WSMaxSubscriptions, WSMaxConnections = %d, %d", c.WSMaxSubscriptions, c.WSMaxConnections)
			}
		}},
		{"shop off by default in production", env{"APP_ENV": "production", "AUTH_SECRET": productionSecret, "STRIPE_SECRET_KEY": "sk_test_x"}, func(t *testing.T, c *Config) {
			if c.ShopEnabled {
				t.Error("ShopEnabled = true in production without SHOP_ENABLED")
			}
		}},
		{"shop on in production", env{"APP_ENV": "production", "AUTH_SECRET": productionSecret, "STRIPE_SECRET_KEY": "sk_test_x", "SHOP_ENABLED": "true"}, func(t *testing.T, c *Config) {
			if !c.ShopEnabled {
				t.Error("ShopEnabled = false with SHOP_ENABLED=true")
			}
		}},
		{"shop off in development", env{"SHOP_ENABLED": "false", "STRIPE_PUBLISHABLE_KEY": "pk_test_51abc"}, func(t *testing.T, c *Config) {
			if c.ShopEnabled || c.StripePublishableKey != "pk_test_51abc" {
				t.Errorf("ShopEnabled = %v, StripePublishableKey = %q", c.ShopEnabled, c.StripePublishableKey)
			}
		}},
		{"CORS_ALLOWED_ORIGINS", env{"CORS_ALLOWED_ORIGINS": "https://shop.example.com, http://localhost:3000,,"}, func(t *testing.T, c *Config) {
			want := []string{"https://shop.example.com", "http://localhost:3000"}
			if !reflect.DeepEqual(c.CORSAllowedOrigins, want) {
				t.Errorf("CORSAllowedOrigins = %q, want %q", c.CORSAllowedOrigins, want)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(minimal.with(tc.env))
			if err != nil {
				t.Fatalf("Load = %v", err)
			}
			tc.check(t, c)
		})
	}
}

// TestLoadRejects checks that each malformed value is refused with exactly
// one problem, naming the variable the operator must fix (and no knock-on
// complaints about other variables).
func TestLoadRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  env
		want string // the variable the error must name
	}{
		{"PPROF_ADDR without port", env{"PPROF_ADDR": "localhost"}, "PPROF_ADDR"},
		{"PPROF_ADDR port only", env{"PPROF_ADDR": "6060"}, "PPROF_ADDR"},
		{"PPROF_ADDR empty port", env{"PPROF_ADDR": "127.0.0.1:"}, "PPROF_ADDR"},
		{"PPROF_ADDR on every interface", env{"PPROF_ADDR": ":6060"}, "PPROF_ADDR"},
		{"PPROF_ADDR on a public address", env{"PPROF_ADDR": "10.1.2.3:6060"}, "PPROF_ADDR"},
		{"HTTP_ADDR without port", env{"HTTP_ADDR": "localhost"}, "HTTP_ADDR"},
		{"HTTP_ADDR port out of range", env{"HTTP_ADDR": ":70000"}, "HTTP_ADDR"},
		{"APP_ENV unknown", env{"APP_ENV": "staging", "AUTH_SECRET": productionSecret}, "APP_ENV"},
		{"DATABASE_URL missing", env{"DATABASE_URL": ""}, "DATABASE_URL"},
		{"DATABASE_URL blank", env{"DATABASE_URL": "   "}, "DATABASE_URL"},
		{"DATABASE_MAX_CONNS too low", env{"DATABASE_MAX_CONNS": "1"}, "DATABASE_MAX_CONNS"},
		{"DATABASE_MAX_CONNS too high", env{"DATABASE_MAX_CONNS": "1001"}, "DATABASE_MAX_CONNS"},
		{"DATABASE_MAX_CONNS not a number", env{"DATABASE_MAX_CONNS": "twenty"}, "DATABASE_MAX_CONNS"},
		{"REDIS_URL wrong scheme", env{"REDIS_URL": "http://cache:6379"}, "REDIS_URL"},
		{"REDIS_TIMEOUT zero", env{"REDIS_TIMEOUT": "0s"}, "REDIS_TIMEOUT"},
		{"REDIS_TIMEOUT too long", env{"REDIS_TIMEOUT": "10s"}, "REDIS_TIMEOUT"},
		{"REDIS_TIMEOUT without unit", env{"REDIS_TIMEOUT": "50"}, "REDIS_TIMEOUT"},
		{"SHUTDOWN_DRAIN negative", env{"SHUTDOWN_DRAIN": "-1s"}, "SHUTDOWN_DRAIN"},
		{"SHUTDOWN_DRAIN too long", env{"SHUTDOWN_DRAIN": "1h"}, "SHUTDOWN_DRAIN"},
		{"AUTH_SECRET missing in production", env{"APP_ENV": "production", "STRIPE_SECRET_KEY": "sk_test_x"}, "AUTH_SECRET"},
		{"AUTH_SECRET short in production", env{"APP_ENV": "production", "AUTH_SECRET": productionSecret[:31], "STRIPE_SECRET_KEY": "sk_test_x"}, "AUTH_SECRET"},
		{"AUTH_SECRET short in development", env{"AUTH_SECRET": "short"}, "AUTH_SECRET"},
		{"CUSTOMER_TOKEN_TTL without unit", env{"CUSTOMER_TOKEN_TTL": "720"}, "CUSTOMER_TOKEN_TTL"},
		{"STAFF_TOKEN_TTL zero", env{"STAFF_TOKEN_TTL": "0s"}, "STAFF_TOKEN_TTL"},
		{"ADMIN_EMAIL without ADMIN_PASSWORD", env{"ADMIN_EMAIL": "admin@example.com"}, "ADMIN_PASSWORD"},
		{"ADMIN_PASSWORD without ADMIN_EMAIL", env{"ADMIN_PASSWORD": "pw"}, "ADMIN_EMAIL"},
		{"STORE_CURRENCY unknown", env{"STORE_CURRENCY": "XYZ"}, "STORE_CURRENCY"},
		{"TAX_RATE percent", env{"TAX_RATE": "10%"}, "TAX_RATE"},
		{"TAX_RATE above one", env{"TAX_RATE": "1.5"}, "TAX_RATE"},
		{"TAX_RATE negative", env{"TAX_RATE": "-0.1"}, "TAX_RATE"},
		{"FREE_SHIPPING_THRESHOLD negative", env{"FREE_SHIPPING_THRESHOLD": "-1"}, "FREE_SHIPPING_THRESHOLD"},
		{"FREE_SHIPPING_THRESHOLD separator", env{"FREE_SHIPPING_THRESHOLD": "1,000.00"}, "FREE_SHIPPING_THRESHOLD"},
		{"FLAT_SHIPPING_RATE too precise", env{"FLAT_SHIPPING_RATE": "9.999"}, "FLAT_SHIPPING_RATE"},
		{"FLAT_SHIPPING_RATE decimals in JPY", env{"STORE_CURRENCY": "JPY", "FLAT_SHIPPING_RATE": "10.50"}, "FLAT_SHIPPING_RATE"},
		{"PRICES_INCLUDE_TAX not a boolean", env{"PRICES_INCLUDE_TAX": "sometimes"}, "PRICES_INCLUDE_TAX"},
		{"STORE_COUNTRY unknown", env{"STORE_COUNTRY": "XX"}, "STORE_COUNTRY"},
		{"STORE_COUNTRY alpha-3", env{"STORE_COUNTRY": "USA"}, "STORE_COUNTRY"},
		{"PAYMENT_PROVIDER unknown", env{"PAYMENT_PROVIDER": "paypal"}, "PAYMENT_PROVIDER"},
		{"stripe without key", env{"PAYMENT_PROVIDER": "stripe"}, "STRIPE_SECRET_KEY"},
		{"STRIPE_API_BASE without scheme", env{"STRIPE_API_BASE": "localhost:12111"}, "STRIPE_API_BASE"},
		{"PAYMENT_TIMEOUT in days", env{"PAYMENT_TIMEOUT": "1d"}, "PAYMENT_TIMEOUT"},
		{"ALLOW_DUMMY_PAYMENTS not a boolean", env{"ALLOW_DUMMY_PAYMENTS": "sure"}, "ALLOW_DUMMY_PAYMENTS"},
		{"MAX_UNITS_PER_ORDER zero", env{"MAX_UNITS_PER_ORDER": "0"}, "MAX_UNITS_PER_ORDER"},
		{"MAX_UNITS_PER_ORDER not a number", env{"MAX_UNITS_PER_ORDER": "many"}, "MAX_UNITS_PER_ORDER"},
		{"MAX_UNPAID_UNITS negative", env{"MAX_UNPAID_UNITS": "-1"}, "MAX_UNPAID_UNITS"},
		{"EMAIL_SENDER unknown", env{"EMAIL_SENDER": "sendgrid"}, "EMAIL_SENDER"},
		{"smtp without SMTP_URL", env{"EMAIL_SENDER": "smtp"}, "SMTP_URL"},
		{"SMTP_URL wrong scheme", env{"EMAIL_SENDER": "smtp", "SMTP_URL": "http://mail:25"}, "SMTP_URL"},
		{"SMTP_URL without host", env{"EMAIL_SENDER": "smtp", "SMTP_URL": "smtp://"}, "SMTP_URL"},
		{"NOTIFY_MAX_ATTEMPTS zero", env{"NOTIFY_MAX_ATTEMPTS": "0"}, "NOTIFY_MAX_ATTEMPTS"},
		{"NOTIFY_MAX_ATTEMPTS too high", env{"NOTIFY_MAX_ATTEMPTS": "101"}, "NOTIFY_MAX_ATTEMPTS"},
		{"NOTIFY_RETRY_BASE negative", env{"NOTIFY_RETRY_BASE": "-5s"}, "NOTIFY_RETRY_BASE"},
		{"NOTIFY_SWEEP_INTERVAL too short", env{"NOTIFY_SWEEP_INTERVAL": "500ms"}, "NOTIFY_SWEEP_INTERVAL"},
		{"NOTIFY_SWEEP_INTERVAL without unit", env{"NOTIFY_SWEEP_INTERVAL": "60"}, "NOTIFY_SWEEP_INTERVAL"},
		{"JOB_TIMEOUT too short", env{"JOB_TIMEOUT": "1s"}, "JOB_TIMEOUT"},
		{"JOB_TIMEOUT too long", env{"JOB_TIMEOUT": "2h"}, "JOB_TIMEOUT"},
		{"SMS_SENDER unknown", env{"SMS_SENDER": "sns"}, "SMS_SENDER"},
		{"twilio without TWILIO_ACCOUNT_SID", env{"SMS_SENDER": "twilio", "TWILIO_AUTH_TOKEN": "tok", "TWILIO_FROM": "+15550100"}, "TWILIO_ACCOUNT_SID"},
		{"twilio without TWILIO_AUTH_TOKEN", env{"SMS_SENDER": "twilio", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_FROM": "+15550100"}, "TWILIO_AUTH_TOKEN"},
		{"twilio with blank TWILIO_AUTH_TOKEN", env{"SMS_SENDER": "twilio", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "  ", "TWILIO_FROM": "+15550100"}, "TWILIO_AUTH_TOKEN"},
		{"twilio without TWILIO_FROM", env{"SMS_SENDER": "twilio", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "tok"}, "TWILIO_FROM"},
		{"TWILIO_API_BASE wrong scheme", env{"TWILIO_API_BASE": "ftp://api.twilio.com"}, "TWILIO_API_BASE"},
		{"STOREFRONT_URL without scheme", env{"STOREFRONT_URL": "shop.example.com"}, "STOREFRONT_URL"},
		{"FULFILLMENT_REMINDER_DELAY without unit", env{"FULFILLMENT_REMINDER_DELAY": "2"}, "FULFILLMENT_REMINDER_DELAY"},
		{"ABANDONED_CART_DELAY zero", env{"ABANDONED_CART_DELAY": "0h"}, "ABANDONED_CART_DELAY"},
		{"REVIEW_REQUEST_DELAY negative", env{"REVIEW_REQUEST_DELAY": "-168h"}, "REVIEW_REQUEST_DELAY"},
		{"DELIVERY_FOLLOWUP_DELAY words", env{"DELIVERY_FOLLOWUP_DELAY": "3 days"}, "DELIVERY_FOLLOWUP_DELAY"},
		{"TRACKING_URL_TEMPLATES without URL", env{"TRACKING_URL_TEMPLATES": "dpd"}, "TRACKING_URL_TEMPLATES"},
		{"TRACKING_URL_TEMPLATES without placeholder", env{"TRACKING_URL_TEMPLATES": "dpd=https://dpd.example/track"}, "TRACKING_URL_TEMPLATES"},
		{"TRACKING_URL_TEMPLATES without carrier", env{"TRACKING_URL_TEMPLATES": "=https://dpd.example/{tracking}"}, "TRACKING_URL_TEMPLATES"},
		{"DAILY_REPORT_CRON words", env{"DAILY_REPORT_CRON": "every morning"}, "DAILY_REPORT_CRON"},
		{"DAILY_REPORT_CRON out of range", env{"DAILY_REPORT_CRON": "0 25 * * *"}, "DAILY_REPORT_CRON"},
		{"STORE_TIMEZONE unknown", env{"STORE_TIMEZONE": "Europe/Atlantis"}, "STORE_TIMEZONE"},
		{"STORAGE_URL plain path", env{"STORAGE_URL": "/var/uploads"}, "STORAGE_URL"},
		{"STORAGE_URL unknown scheme", env{"STORAGE_URL": "gs://bucket"}, "STORAGE_URL"},
		{"STORAGE_URL s3 without bucket", env{"STORAGE_URL": "s3://"}, "STORAGE_URL"},
		{"PUBLIC_BASE_URL without scheme", env{"PUBLIC_BASE_URL": "cdn.example.com"}, "PUBLIC_BASE_URL"},
		{"MAX_UPLOAD_BYTES zero", env{"MAX_UPLOAD_BYTES": "0"}, "MAX_UPLOAD_BYTES"},
		{"METRICS_ADDR without port", env{"METRICS_ADDR": "localhost"}, "METRICS_ADDR"},
		{"WS_MAX_SUBSCRIPTIONS zero", env{"WS_MAX_SUBSCRIPTIONS": "0"}, "WS_MAX_SUBSCRIPTIONS"},
		{"WS_MAX_SUBSCRIPTIONS not a number", env{"WS_MAX_SUBSCRIPTIONS": "many"}, "WS_MAX_SUBSCRIPTIONS"},
		{"WS_MAX_CONNECTIONS zero", env{"WS_MAX_CONNECTIONS": "0"}, "WS_MAX_CONNECTIONS"},
		{"WS_MAX_CONNECTIONS negative", env{"WS_MAX_CONNECTIONS": "-1"}, "WS_MAX_CONNECTIONS"},
		{"MAX_UPLOAD_BYTES above 1 GiB", env{"MAX_UPLOAD_BYTES": "1073741825"}, "MAX_UPLOAD_BYTES"},
		{"MAX_UPLOAD_BYTES with unit", env{"MAX_UPLOAD_BYTES": "10MB"}, "MAX_UPLOAD_BYTES"},
		{"IMAGE_URL_TTL zero", env{"IMAGE_URL_TTL": "0"}, "IMAGE_URL_TTL"},
		{"QUOTA_CREATE_ORDER without period", env{"QUOTA_CREATE_ORDER": "100"}, "QUOTA_CREATE_ORDER"},
		{"QUOTA_CREATE_ORDER_IP zero limit", env{"QUOTA_CREATE_ORDER_IP": "0/1h"}, "QUOTA_CREATE_ORDER_IP"},
		{"QUOTA_SEARCH_PRODUCTS zero period", env{"QUOTA_SEARCH_PRODUCTS": "100/0s"}, "QUOTA_SEARCH_PRODUCTS"},
		{"QUOTA_GRAPHQL bad period", env{"QUOTA_GRAPHQL": "6000/minute"}, "QUOTA_GRAPHQL"},
		{"QUOTA_LOGIN negative limit", env{"QUOTA_LOGIN": "-10/15m"}, "QUOTA_LOGIN"},
		{"QUOTA_LOGIN_IP without limit", env{"QUOTA_LOGIN_IP": "/15m"}, "QUOTA_LOGIN_IP"},
		{"QUOTA_LOGIN_ACCOUNT zero limit", env{"QUOTA_LOGIN_ACCOUNT": "0/1h"}, "QUOTA_LOGIN_ACCOUNT"},
		{"QUOTA_REGISTER without period", env{"QUOTA_REGISTER": "10"}, "QUOTA_REGISTER"},
		{"QUOTA_CART_CREATE bad period", env{"QUOTA_CART_CREATE": "100/hour"}, "QUOTA_CART_CREATE"},
		{"QUOTA_ORDER_LOOKUP zero period", env{"QUOTA_ORDER_LOOKUP": "20/0s"}, "QUOTA_ORDER_LOOKUP"},
		{"QUOTA_ORDER_LOOKUP_NUMBER fraction", env{"QUOTA_ORDER_LOOKUP_NUMBER": "1.5/1h"}, "QUOTA_ORDER_LOOKUP_NUMBER"},
		{"WEBHOOK_TIMEOUT not a duration", env{"WEBHOOK_TIMEOUT": "ten"}, "WEBHOOK_TIMEOUT"},
		{"WEBHOOK_TIMEOUT not below JOB_TIMEOUT", env{"WEBHOOK_TIMEOUT": "30s"}, "WEBHOOK_TIMEOUT"},
		{"WEBHOOK_MAX_ATTEMPTS zero", env{"WEBHOOK_MAX_ATTEMPTS": "0"}, "WEBHOOK_MAX_ATTEMPTS"},
		{"WEBHOOK_RETRY_BASE negative", env{"WEBHOOK_RETRY_BASE": "-1s"}, "WEBHOOK_RETRY_BASE"},
		{"WEBHOOK_DISABLE_AFTER zero", env{"WEBHOOK_DISABLE_AFTER": "0"}, "WEBHOOK_DISABLE_AFTER"},
		{"WEBHOOK_ALLOW_PRIVATE not a boolean", env{"WEBHOOK_ALLOW_PRIVATE": "maybe"}, "WEBHOOK_ALLOW_PRIVATE"},
		{"TRUSTED_PROXIES bad prefix length", env{"TRUSTED_PROXIES": "10.0.0.0/8,10.0.0.0/33"}, "TRUSTED_PROXIES"},
		{"TRUSTED_PROXIES host name", env{"TRUSTED_PROXIES": "proxy.internal"}, "TRUSTED_PROXIES"},
		{"SHOP_ENABLED not a boolean", env{"SHOP_ENABLED": "maybe"}, "SHOP_ENABLED"},
		{"STRIPE_PUBLISHABLE_KEY is a secret key", env{"STRIPE_PUBLISHABLE_KEY": "sk_test_x"}, "STRIPE_PUBLISHABLE_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(minimal.with(tc.env))
			if err == nil {
				t.Fatal("Load accepted the configuration")
			}
			if c != nil {
				t.Errorf("Load returned a Config with its error")
			}
			got := problems(err)
			if len(got) != 1 || !strings.Contains(got[0], tc.want) {
				t.Errorf("Load error = %q, want exactly one problem naming %s", err, tc.want)
			}
		})
	}
}

// TestLoadReportsEveryProblem checks that one start reports all problems at
// once, so an operator does not fix them one restart at a time.
func TestLoadReportsEveryProblem(t *testing.T) {
	bad := env{
		"DATABASE_URL":       "",
		"APP_ENV":            "staging",
		"DATABASE_MAX_CONNS": "0",
		"PAYMENT_TIMEOUT":    "soon",
		"SMS_SENDER":         "twilio",
		"QUOTA_LOGIN":        "10",
		"TRUSTED_PROXIES":    "10.0.0.0/99",
		"STORE_TIMEZONE":     "Nowhere/Town",
	}
	_, err := load(minimal.with(bad))
	if err == nil {
		t.Fatal("Load accepted the configuration")
	}
	want := []string{
		"DATABASE_URL", "APP_ENV", "DATABASE_MAX_CONNS", "PAYMENT_TIMEOUT",
		"TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM",
		"QUOTA_LOGIN", "TRUSTED_PROXIES", "STORE_TIMEZONE",
		// An unknown APP_ENV does not relax secrets, so the missing
		// AUTH_SECRET is one more problem.
		"AUTH_SECRET",
	}
	for _, name := range want {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("Load error does not name %s:\n%v", name, err)
		}
	}
	if got := problems(err); len(got) != len(want) {
		t.Errorf("Load reported %d problems, want %d:\n%v", len(got), len(want), err)
	}
}

// TestLoadErrorsDoNotLeakSecrets checks that the error, which ends up in
// logs and crash reports, never echoes a secret, neither of a variable that
// is itself malformed nor of one that is fine.
func TestLoadErrorsDoNotLeakSecrets(t *testing.T) {
	secrets := env{
		"AUTH_SECRET":           "short-auth-canary",
		"STRIPE_SECRET_KEY":     "sk_live_stripe-key-canary",
		"STRIPE_WEBHOOK_SECRET": "whsec_webhook-canary",
		"TWILIO_AUTH_TOKEN":     "twilio-token-canary",
		"ADMIN_PASSWORD":        "admin-password-canary",
		// A secret key pasted where the publishable one belongs.
		"STRIPE_PUBLISHABLE_KEY": "sk_live_publishable-canary",
	}
	// Passwords inside URLs, besides the secret variables themselves.
	leaks := []string{"db-password-canary", "redis-password-canary", "smtp-password-canary"}
	e := secrets.with(env{
		"APP_ENV":      "production",
		"DATABASE_URL": "postgres://app:db-password-canary@db:5432/commerce",
		// Malformed variables whose values carry credentials.
		"REDIS_URL":    "http://:redis-password-canary@cache:6379",
		"EMAIL_SENDER": "smtp",
		"SMTP_URL":     "http://mailer:smtp-password-canary@mail:587",
		// The password without ADMIN_EMAIL, and Twilio without TWILIO_FROM.
		"SMS_SENDER":         "twilio",
		"TWILIO_ACCOUNT_SID": "AC1",
		// Unrelated failures.
		"PAYMENT_PROVIDER":   "paypal",
		"DATABASE_MAX_CONNS": "-1",
	})
	_, err := load(e)
	if err == nil {
		t.Fatal("Load accepted the configuration")
	}
	// Guard against a vacuous pass: the secret-bearing variables did fail.
	for _, name := range []string{"AUTH_SECRET", "REDIS_URL", "SMTP_URL", "ADMIN_EMAIL", "TWILIO_FROM", "PAYMENT_PROVIDER", "DATABASE_MAX_CONNS", "STRIPE_PUBLISHABLE_KEY"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("Load error does not name %s:\n%v", name, err)
		}
	}
	for _, s := range secrets {
		leaks = append(leaks, s)
	}
	for _, s := range leaks {
		if strings.Contains(err.Error(), s) {
			t.Errorf("Load error leaks %q:\n%v", s, err)
		}
	}
}
