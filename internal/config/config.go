// Package config reads the service's configuration from the environment
// (and a .env file when present) into one typed, validated Config. The
// variable names are part of the public contract (see DESIGN.md).
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"
	"github.com/robfig/cron/v3"

	"commerce/internal/money"
	"commerce/internal/shipping"
)

// Quota is a rate limit: at most Limit events per Period.
type Quota struct {
	Limit  int
	Period time.Duration
}

// String prints "100/1h0m0s".
func (q Quota) String() string { return fmt.Sprintf("%d/%s", q.Limit, q.Period) }

// Rate is a non-negative fraction Num/Den, such as a tax rate of 10/100.
type Rate struct{ Num, Den int64 }

// DefaultHTTPAddr is HTTP_ADDR's default, which commerce healthcheck
// probes too.
const DefaultHTTPAddr = ":8080"

// Config is the whole configuration of the service.
type Config struct {
	HTTPAddr string
	// PprofAddr, when set, serves net/http/pprof on its own listener, for
	// profiling under load; keep it on loopback.
	PprofAddr string
	// MetricsAddr, when set, serves /metrics on its own listener instead of
	// HTTP_ADDR, so that the public address does not expose it.
	MetricsAddr      string
	Development      bool
	DatabaseURL      string
	DatabaseMaxConns int32
	// DatabaseDirectURL, when set, is a session connection to the database
	// of DatabaseURL, which is then a pooler in transaction mode
	// (PgBouncer): River's listener (LISTEN) and the migrations (a
	// session-level advisory lock) use it; everything else goes through
	// DatabaseURL.
	DatabaseDirectURL string
	RedisURL          string
	RedisPrefix       string
	// RedisTimeout bounds every Redis call made on a request's behalf
	// (rate limits, publishing): Redis is an accelerator, and a frozen one
	// must cost a request no more than this.
	RedisTimeout time.Duration
	// ShutdownDrain is how long /readyz answers 503 after SIGTERM while the
	// listener keeps serving, so that load balancers stop sending traffic
	// before connections are refused.
	ShutdownDrain time.Duration

	AuthSecret       []byte
	CustomerTokenTTL time.Duration
	StaffTokenTTL    time.Duration
	// Lifetimes of the emailed links: a password reset, an email
	// verification and a staff invite's set-password link.
	PasswordResetTTL time.Duration
	EmailVerifyTTL   time.Duration
	StaffInviteTTL   time.Duration
	AdminEmail       string
	AdminPassword    string

	StoreCurrency         string
	TaxRate               Rate
	FreeShippingThreshold money.Money
	FlatShippingRate      money.Money
	// PricesIncludeTax (PRICES_INCLUDE_TAX): catalog and shipping prices
	// hold the destination's tax, which is extracted rather than added.
	PricesIncludeTax bool
	// StoreCountry (STORE_COUNTRY) is where a cart without an address is
	// estimated to ship, for its tax and shipping.
	StoreCountry string

	PaymentProvider string // "stripe" or "dummy"
	// AllowDummyPayments (ALLOW_DUMMY_PAYMENTS) is the operator's explicit
	// consent to run the dummy provider in production, where it marks
	// every order paid without taking any money.
	AllowDummyPayments  bool
	StripeSecretKey     string
	StripeWebhookSecret string
	StripeAPIBase       string
	PaymentTimeout      time.Duration
	// MaxUnitsPerOrder (MAX_UNITS_PER_ORDER) bounds the units one checkout
	// reserves; MaxUnpaidUnits (MAX_UNPAID_UNITS) bounds the units held by
	// unpaid orders per email and per client IP, so that nobody can hold
	// the catalog out of stock without paying.
	MaxUnitsPerOrder int
	MaxUnpaidUnits   int

	EmailSender       string // "log" or "smtp"
	SMTPURL           string
	EmailFrom         string
	NotifyMaxAttempts int
	NotifyRetryBase   time.Duration
	// NotifySweepInterval is how often River's leader looks for
	// notifications PENDING without a delivery job (notify.Service.Sweep).
	NotifySweepInterval time.Duration
	// JobTimeout bounds one attempt of any River job; the senders' timeouts
	// and River's rescue window derive from it (see jobs.RescueAfter).
	JobTimeout time.Duration

	// Outbound webhooks (see package webhooks). WebhookTimeout bounds one
	// POST and must stay below JobTimeout, so that a hung receiver fails
	// the attempt with its own error before River cancels the job.
	WebhookTimeout      time.Duration
	WebhookMaxAttempts  int
	WebhookRetryBase    time.Duration
	WebhookDisableAfter int
	// WebhookAllowPrivate lifts the https and address rules of endpoint
	// URLs (tests and local development).
	WebhookAllowPrivate bool

	SMSSender         string // "log" or "twilio"
	TwilioAccountSID  string
	TwilioAuthToken   string
	TwilioFrom        string
	TwilioAPIBase     string
	LowStockEmail     string
	WarehouseEmail    string
	StorefrontURL     string
	FulfillmentDelay  time.Duration
	AbandonedCartWait time.Duration
	ReviewRequestWait time.Duration
	DeliveryFollowup  time.Duration
	// ReturnWindow is how long after they shipped units may be returned
	// (RETURN_WINDOW).
	ReturnWindow time.Duration
	// TrackingURLs maps a lower-case carrier to its tracking page template,
	// from TRACKING_URL_TEMPLATES ("dpd=https://…/{tracking},…").
	TrackingURLs    map[string]string
	DailyReportCron string
	StoreLocation   *time.Location

	StorageURL     string
	PublicBaseURL  string
	MaxUploadBytes int64
	ImageURLTTL    time.Duration

	// CatalogCacheBytes bounds the memory of the cache of anonymous
	// catalog reads; 0 turns the cache (and its HTTP caching headers) off.
	CatalogCacheBytes int64

	QuotaCreateOrder       Quota
	QuotaCreateOrderIP     Quota
	QuotaSearch            Quota
	QuotaGraphQL           Quota
	QuotaLogin             Quota // failed sign-ins per (email, IP)
	QuotaLoginIP           Quota // failed sign-ins per IP, any email
	QuotaLoginAttemptsIP   Quota // every sign-in per IP, successes too: each costs a bcrypt
	QuotaLoginAccount      Quota // failed sign-ins per email from every IP, before attempts are delayed
	QuotaRegister          Quota // customerRegister per IP
	QuotaCartCreate        Quota // cartCreate per IP
	QuotaOrderLookup       Quota // failed order lookups per IP
	QuotaOrderLookupNumber Quota // failed order lookups per order number
	TrustedProxies         []netip.Prefix
	CORSAllowedOrigins     []string
	// WSMaxSubscriptions bounds the operations open at once on one
	// websocket; WSMaxConnections the websockets open at once from one
	// client network (an IPv4 address or an IPv6 /64) on one process.
	WSMaxSubscriptions int
	WSMaxConnections   int

	// ShopEnabled serves the demo storefront at /shop (internal/shop).
	ShopEnabled bool
	// StripePublishableKey, when set, makes the storefront pay with Stripe
	// Elements; it is public by design (it reaches every browser).
	StripePublishableKey string
}

// devAuthSecret signs tokens in development when AUTH_SECRET is not set.
const devAuthSecret = "development-only-secret-do-not-use-in-production"

// Load reads the configuration through getenv. It returns one error that
// names every missing or malformed variable.
func Load(getenv func(string) string, log *slog.Logger) (*Config, error) {
	r := reader{getenv: getenv}
	c := &Config{}

	c.HTTPAddr = r.str("HTTP_ADDR", DefaultHTTPAddr)
	if !isListenAddr(c.HTTPAddr) {
		r.fail("HTTP_ADDR", "must be host:port or :port, such as :8080")
	}
	c.PprofAddr = r.str("PPROF_ADDR", "")
	if c.PprofAddr != "" && !isLoopbackAddr(c.PprofAddr) {
		r.fail("PPROF_ADDR", "must be a loopback host:port, such as 127.0.0.1:6060: the profiler must not be public")
	}
	c.MetricsAddr = r.str("METRICS_ADDR", "")
	if c.MetricsAddr != "" && !isListenAddr(c.MetricsAddr) {
		r.fail("METRICS_ADDR", "must be host:port or :port, such as 127.0.0.1:9090")
	}
	production := false
	switch env := r.str("APP_ENV", "production"); env {
	case "production":
		production = true
	case "development":
		c.Development = true
	default:
		r.fail("APP_ENV", "must be production or development, got %q", env)
	}
	c.DatabaseURL = r.required("DATABASE_URL")
	c.DatabaseMaxConns = int32(r.intRange("DATABASE_MAX_CONNS", 20, 2, 1000))
	c.DatabaseDirectURL = r.str("DATABASE_DIRECT_URL", "")
	c.RedisURL = r.str("REDIS_URL", "")
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			r.fail("REDIS_URL", "must be a redis:// or rediss:// URL")
		}
	}
	c.RedisPrefix = r.str("REDIS_PREFIX", "commerce:")
	c.RedisTimeout = r.durationRange("REDIS_TIMEOUT", 50*time.Millisecond, time.Millisecond, 5*time.Second)
	c.ShutdownDrain = r.durationRange("SHUTDOWN_DRAIN", 5*time.Second, 0, 5*time.Minute)

	secret := r.str("AUTH_SECRET", "")
	switch {
	case secret == "" && c.Development:
		log.Warn("AUTH_SECRET is not set: using a development-only secret")
		secret = devAuthSecret
	case secret == "":
		r.fail("AUTH_SECRET", "is required in production (at least 32 bytes)")
	case len(secret) < 32:
		r.fail("AUTH_SECRET", "must be at least 32 bytes, got %d", len(secret))
	}
	c.AuthSecret = []byte(secret)
	c.CustomerTokenTTL = r.duration("CUSTOMER_TOKEN_TTL", 720*time.Hour)
	c.StaffTokenTTL = r.duration("STAFF_TOKEN_TTL", 12*time.Hour)
	c.PasswordResetTTL = r.duration("PASSWORD_RESET_TTL", time.Hour)
	c.EmailVerifyTTL = r.duration("EMAIL_VERIFY_TTL", 72*time.Hour)
	c.StaffInviteTTL = r.duration("STAFF_INVITE_TTL", 72*time.Hour)
	c.AdminEmail = strings.ToLower(strings.TrimSpace(r.str("ADMIN_EMAIL", "")))
	c.AdminPassword = r.str("ADMIN_PASSWORD", "")
	if (c.AdminEmail == "") != (c.AdminPassword == "") {
		r.fail("ADMIN_EMAIL", "and ADMIN_PASSWORD must be set together")
	}

	cur, err := money.NormalizeCurrency(r.str("STORE_CURRENCY", "USD"))
	if err != nil {
		r.fail("STORE_CURRENCY", "must be an ISO 4217 currency code")
		cur = "USD"
	}
	c.StoreCurrency = cur
	if num, den, err := money.ParseRate(r.str("TAX_RATE", "0.10")); err != nil || num > den {
		r.fail("TAX_RATE", "must be a decimal between 0 and 1, such as 0.10")
	} else {
		c.TaxRate = Rate{Num: num, Den: den}
	}
	c.FreeShippingThreshold = r.money("FREE_SHIPPING_THRESHOLD", "100.00", cur)
	c.FlatShippingRate = r.money("FLAT_SHIPPING_RATE", "10.00", cur)
	c.PricesIncludeTax = r.boolean("PRICES_INCLUDE_TAX", false)
	c.StoreCountry = strings.ToUpper(r.str("STORE_COUNTRY", "US"))
	if !shipping.IsCountry(c.StoreCountry) {
		r.fail("STORE_COUNTRY", "must be an ISO 3166-1 alpha-2 country code such as US")
	}

	c.StripeSecretKey = r.str("STRIPE_SECRET_KEY", "")
	c.StripeWebhookSecret = r.str("STRIPE_WEBHOOK_SECRET", "")
	c.StripeAPIBase = r.url("STRIPE_API_BASE", "")
	defaultProvider := "dummy"
	if c.StripeSecretKey != "" {
		defaultProvider = "stripe"
	}
	c.PaymentProvider = r.oneOf("PAYMENT_PROVIDER", defaultProvider, "stripe", "dummy")
	if c.PaymentProvider == "stripe" && c.StripeSecretKey == "" {
		r.fail("STRIPE_SECRET_KEY", "is required when PAYMENT_PROVIDER=stripe")
	}
	c.AllowDummyPayments = r.boolean("ALLOW_DUMMY_PAYMENTS", false)
	if production {
		r.checkProductionPayments(c)
	}
	c.PaymentTimeout = r.duration("PAYMENT_TIMEOUT", time.Hour)
	c.MaxUnitsPerOrder = r.intRange("MAX_UNITS_PER_ORDER", 100, 1, 1_000_000)
	c.MaxUnpaidUnits = r.intRange("MAX_UNPAID_UNITS", 200, 1, 1_000_000_000)

	c.EmailSender = r.oneOf("EMAIL_SENDER", "log", "log", "smtp")
	c.SMTPURL = r.str("SMTP_URL", "")
	if c.EmailSender == "smtp" {
		if u, err := url.Parse(c.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			r.fail("SMTP_URL", "must be smtp://host:port or smtps://host:port when EMAIL_SENDER=smtp")
		}
	}
	c.EmailFrom = r.str("EMAIL_FROM", "")
	if c.EmailFrom == "" {
		c.EmailFrom = "shop@localhost"
	}
	c.NotifyMaxAttempts = r.intRange("NOTIFY_MAX_ATTEMPTS", 8, 1, 100)
	c.NotifyRetryBase = r.duration("NOTIFY_RETRY_BASE", 5*time.Second)
	c.NotifySweepInterval = r.durationRange("NOTIFY_SWEEP_INTERVAL", time.Minute, time.Second, 24*time.Hour)
	// Below 3s the bookkeeping share of an attempt (a third) gets too short
	// for a database write under load.
	c.JobTimeout = r.durationRange("JOB_TIMEOUT", 30*time.Second, 3*time.Second, time.Hour)
	// The default stays below a short JOB_TIMEOUT, as the senders' do.
	c.WebhookTimeout = r.durationRange("WEBHOOK_TIMEOUT", min(10*time.Second, c.JobTimeout*2/3), 100*time.Millisecond, time.Minute)
	if c.WebhookTimeout >= c.JobTimeout {
		r.fail("WEBHOOK_TIMEOUT", "must be shorter than JOB_TIMEOUT")
	}
	c.WebhookMaxAttempts = r.intRange("WEBHOOK_MAX_ATTEMPTS", 12, 1, 100)
	c.WebhookRetryBase = r.durationRange("WEBHOOK_RETRY_BASE", 10*time.Second, 10*time.Millisecond, 24*time.Hour)
	c.WebhookDisableAfter = r.intRange("WEBHOOK_DISABLE_AFTER", 50, 1, 100_000)
	c.WebhookAllowPrivate = r.boolean("WEBHOOK_ALLOW_PRIVATE", false)

	c.SMSSender = r.oneOf("SMS_SENDER", "log", "log", "twilio")
	c.TwilioAccountSID = r.str("TWILIO_ACCOUNT_SID", "")
	c.TwilioAuthToken = r.str("TWILIO_AUTH_TOKEN", "")
	c.TwilioFrom = r.str("TWILIO_FROM", "")
	c.TwilioAPIBase = r.url("TWILIO_API_BASE", "https://api.twilio.com")
	if c.SMSSender == "twilio" {
		// Judge the trimmed values that Config holds: a blank value is missing.
		for _, v := range []struct{ name, value string }{
			{"TWILIO_ACCOUNT_SID", c.TwilioAccountSID},
			{"TWILIO_AUTH_TOKEN", c.TwilioAuthToken},
			{"TWILIO_FROM", c.TwilioFrom},
		} {
			if v.value == "" {
				r.fail(v.name, "is required when SMS_SENDER=twilio")
			}
		}
	}
	c.LowStockEmail = strings.ToLower(strings.TrimSpace(r.str("LOW_STOCK_EMAIL", "")))
	c.WarehouseEmail = strings.ToLower(strings.TrimSpace(r.str("WAREHOUSE_EMAIL", "")))
	c.StorefrontURL = r.url("STOREFRONT_URL", "")
	c.FulfillmentDelay = r.duration("FULFILLMENT_REMINDER_DELAY", 2*time.Hour)
	c.AbandonedCartWait = r.duration("ABANDONED_CART_DELAY", 24*time.Hour)
	c.ReviewRequestWait = r.duration("REVIEW_REQUEST_DELAY", 168*time.Hour)
	c.DeliveryFollowup = r.duration("DELIVERY_FOLLOWUP_DELAY", 72*time.Hour)
	c.ReturnWindow = r.duration("RETURN_WINDOW", 720*time.Hour)
	c.TrackingURLs = r.trackingURLs("TRACKING_URL_TEMPLATES")
	c.DailyReportCron = r.str("DAILY_REPORT_CRON", "0 9 * * *")
	if _, err := cron.ParseStandard(c.DailyReportCron); err != nil {
		r.fail("DAILY_REPORT_CRON", "is not a cron expression: %v", err)
	}
	loc, err := time.LoadLocation(r.str("STORE_TIMEZONE", "UTC"))
	if err != nil {
		r.fail("STORE_TIMEZONE", "is not a known time zone")
		loc = time.UTC
	}
	c.StoreLocation = loc

	c.StorageURL = r.str("STORAGE_URL", "file://./data/uploads")
	if u, err := url.Parse(c.StorageURL); err != nil || (u.Scheme != "file" && u.Scheme != "s3") {
		r.fail("STORAGE_URL", "must be a file:// or s3:// URL")
	} else if u.Scheme == "s3" && u.Host == "" {
		r.fail("STORAGE_URL", "must name the bucket: s3://bucket?region=…")
	}
	c.PublicBaseURL = strings.TrimRight(r.url("PUBLIC_BASE_URL", listenURL(c.HTTPAddr)), "/")
	c.MaxUploadBytes = int64(r.intRange("MAX_UPLOAD_BYTES", 10<<20, 1, 1<<30))
	c.ImageURLTTL = r.duration("IMAGE_URL_TTL", time.Hour)
	c.CatalogCacheBytes = int64(r.intRange("CATALOG_CACHE_BYTES", 16<<20, 0, 16<<30))

	c.QuotaCreateOrder = r.quota("QUOTA_CREATE_ORDER", "100/1h")
	c.QuotaCreateOrderIP = r.quota("QUOTA_CREATE_ORDER_IP", "300/1h")
	c.QuotaSearch = r.quota("QUOTA_SEARCH_PRODUCTS", "1000/1h")
	c.QuotaGraphQL = r.quota("QUOTA_GRAPHQL", "6000/1m")
	c.QuotaLogin = r.quota("QUOTA_LOGIN", "10/15m")
	c.QuotaLoginIP = r.quota("QUOTA_LOGIN_IP", "30/15m")
	c.QuotaLoginAttemptsIP = r.quota("QUOTA_LOGIN_ATTEMPTS_IP", "60/15m")
	c.QuotaLoginAccount = r.quota("QUOTA_LOGIN_ACCOUNT", "20/1h")
	c.QuotaRegister = r.quota("QUOTA_REGISTER", "10/1h")
	c.QuotaCartCreate = r.quota("QUOTA_CART_CREATE", "100/1h")
	c.QuotaOrderLookup = r.quota("QUOTA_ORDER_LOOKUP", "20/1h")
	c.QuotaOrderLookupNumber = r.quota("QUOTA_ORDER_LOOKUP_NUMBER", "10/1h")
	for _, s := range r.list("TRUSTED_PROXIES") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			if a, aerr := netip.ParseAddr(s); aerr == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			} else {
				r.fail("TRUSTED_PROXIES", "%q is not a CIDR", s)
				continue
			}
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
	}
	c.CORSAllowedOrigins = r.list("CORS_ALLOWED_ORIGINS")
	c.WSMaxSubscriptions = r.intRange("WS_MAX_SUBSCRIPTIONS", 20, 1, 10_000)
	c.WSMaxConnections = r.intRange("WS_MAX_CONNECTIONS", 50, 1, 100_000)
	// The demo storefront is for trying the API out; production opts in.
	c.ShopEnabled = r.boolean("SHOP_ENABLED", c.Development)
	c.StripePublishableKey = r.str("STRIPE_PUBLISHABLE_KEY", "")
	if c.StripePublishableKey != "" && !strings.HasPrefix(c.StripePublishableKey, "pk_") {
		// The value is not echoed: it may be a secret key pasted by mistake.
		r.fail("STRIPE_PUBLISHABLE_KEY", "must be a publishable key (pk_test_… or pk_live_…); it is sent to every browser, so never put a secret key here")
	}

	if err := errors.Join(r.errs...); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// checkProductionPayments refuses the dummy provider in production unless
// the operator chose it by name and confirmed it with ALLOW_DUMMY_PAYMENTS:
// it marks every order paid without taking money, so a production service
// missing its Stripe keys must not start rather than give goods away.
func (r *reader) checkProductionPayments(c *Config) {
	if c.PaymentProvider != "dummy" {
		return
	}
	explicit := strings.EqualFold(r.str("PAYMENT_PROVIDER", ""), "dummy")
	switch {
	case !explicit:
		r.fail("PAYMENT_PROVIDER", "is not set and STRIPE_SECRET_KEY is empty: production needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET "+
			"(the dummy provider marks every order paid without taking money; to run it anyway set PAYMENT_PROVIDER=dummy and ALLOW_DUMMY_PAYMENTS=true)")
	case !c.AllowDummyPayments:
		r.fail("ALLOW_DUMMY_PAYMENTS", "must be true to run PAYMENT_PROVIDER=dummy in production: the dummy provider marks every order paid "+
			"without taking money (or set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET and PAYMENT_PROVIDER=stripe)")
	}
}

// isListenAddr reports whether addr is host:port with a numeric port (the
// host may be empty: all interfaces).
func isListenAddr(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 0 && n <= 65535
}

// listenURL is the URL of this machine's service listening on addr, the
// default of PUBLIC_BASE_URL: "127.0.0.1:8301" is http://127.0.0.1:8301,
// ":8080" (every interface) is http://localhost:8080.
func listenURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || !isListenAddr(addr) {
		return "http://localhost:8080"
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// isLoopbackAddr reports whether addr is a listen address on a loopback
// interface (127.0.0.0/8, ::1 or localhost).
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !isListenAddr(addr) {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// reader collects every configuration problem so that one start reports
// them all. Its messages name the variable and never echo a secret.
type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) fail(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s %s", name, fmt.Sprintf(format, args...)))
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) required(name string) string {
	v := r.str(name, "")
	if v == "" {
		r.fail(name, "is required")
	}
	return v
}

func (r *reader) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(r.str(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(name, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	return def
}

func (r *reader) intRange(name string, def, lo, hi int) int {
	s := r.str(name, "")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		r.fail(name, "must be a whole number from %d to %d", lo, hi)
		return def
	}
	return n
}

func (r *reader) boolean(name string, def bool) bool {
	s := r.str(name, "")
	if s == "" {
		return def
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		r.fail(name, "must be true or false, got %q", s)
		return def
	}
	return b
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	s := r.str(name, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		r.fail(name, "must be a positive Go duration such as 90s or 2h, got %q", s)
		return def
	}
	return d
}

// durationRange is a Go duration between lo and hi inclusive; "0" is
// accepted when lo is zero.
func (r *reader) durationRange(name string, def, lo, hi time.Duration) time.Duration {
	s := r.str(name, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < lo || d > hi {
		r.fail(name, "must be a Go duration between %s and %s, got %q", lo, hi, s)
		return def
	}
	return d
}

func (r *reader) money(name, def, currency string) money.Money {
	s := r.str(name, def)
	m, err := money.Parse(s, currency)
	if err != nil || m.Amount < 0 {
		r.fail(name, "must be a non-negative amount in %s, got %q", currency, s)
		return money.Zero(currency)
	}
	return m
}

func (r *reader) url(name, def string) string {
	s := r.str(name, def)
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail(name, "must be an http:// or https:// URL")
		return def
	}
	return s
}

// quota parses "100/1h" (also "100/h", "100/15m").
func (r *reader) quota(name, def string) Quota {
	s := r.str(name, def)
	n, per, ok := strings.Cut(s, "/")
	limit, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || limit <= 0 {
		r.fail(name, "must look like 100/1h, got %q", s)
		return Quota{}
	}
	per = strings.TrimSpace(per)
	// A bare unit ("h") means one of it; a digit or "." (".5h") already
	// starts a duration and must not gain a leading 1.
	if per != "" && (per[0] < '0' || per[0] > '9') && per[0] != '.' {
		per = "1" + per
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		r.fail(name, "must look like 100/1h, got %q", s)
		return Quota{}
	}
	return Quota{Limit: limit, Period: d}
}

// trackingURLs parses "carrier=template,…"; each template must be an
// http(s) URL containing {tracking}.
func (r *reader) trackingURLs(name string) map[string]string {
	out := map[string]string{}
	for _, item := range r.list(name) {
		carrier, tmpl, ok := strings.Cut(item, "=")
		carrier = strings.ToLower(strings.TrimSpace(carrier))
		u, err := url.Parse(strings.TrimSpace(tmpl))
		if !ok || carrier == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.Contains(tmpl, "{tracking}") {
			r.fail(name, "must look like carrier=https://…{tracking}, got %q", item)
			continue
		}
		out[carrier] = strings.TrimSpace(tmpl)
	}
	return out
}

func (r *reader) list(name string) []string {
	var out []string
	for _, part := range strings.Split(r.getenv(name), ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// WithDotEnv returns a getenv that reads the process environment first and
// then the file at path (a .env file), when it exists. A variable set in the
// environment always wins, so operators can override a checked-in default.
func WithDotEnv(getenv func(string) string, path string) (func(string) string, error) {
	values, err := godotenv.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return getenv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return values[name]
	}, nil
}
