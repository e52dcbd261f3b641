// Command commerce is the GraphQL commerce service: catalog and inventory,
// carts and checkout, payments, the order workflow, notifications and live
// order status. Sub-commands: serve (default), migrate, seed, create-staff,
// healthcheck.
package main

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	_ "time/tzdata" // STORE_TIMEZONE works where the machine has no zone database

	"github.com/99designs/gqlgen/graphql"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"commerce/graph"
	"commerce/internal/admin"
	"commerce/internal/auth"
	"commerce/internal/carts"
	"commerce/internal/catalog"
	"commerce/internal/catalogcache"
	"commerce/internal/config"
	"commerce/internal/customers"
	"commerce/internal/inventory"
	"commerce/internal/jobs"
	"commerce/internal/notify"
	"commerce/internal/notify/notifysms"
	"commerce/internal/notify/notifysmtp"
	"commerce/internal/orders"
	"commerce/internal/payments"
	"commerce/internal/payments/paymentdummy"
	"commerce/internal/payments/paymentstripe"
	"commerce/internal/platform/db"
	"commerce/internal/platform/metrics"
	"commerce/internal/platform/redisguard"
	"commerce/internal/platform/tracing"
	"commerce/internal/platform/web"
	"commerce/internal/playground"
	"commerce/internal/pricing"
	"commerce/internal/promotions"
	"commerce/internal/quota"
	"commerce/internal/realtime"
	"commerce/internal/shipping"
	"commerce/internal/shop"
	"commerce/internal/storage"
	"commerce/internal/webhooks"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "commerce:", err)
		os.Exit(1)
	}
}

// run is the whole program, with its environment passed in so that tests
// can start it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		usage(stdout)
		return nil
	}
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	getenv, err := config.WithDotEnv(getenv, ".env")
	if err != nil {
		return err
	}
	log := newLogger(stdout, getenv("LOG_LEVEL"))
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, log, stdout)
	case "migrate":
		return withDB(ctx, getenv, log, func(a *app) error { return nil })
	case "seed":
		return withDB(ctx, getenv, log, func(a *app) error {
			n, err := a.catalog.SeedDemo(ctx)
			if err != nil {
				return err
			}
			log.Info("seed: demo catalog", "products_created", n)
			if n, err = a.shipping.SeedDemo(ctx); err == nil {
				log.Info("seed: demo shipping zones, methods and tax rates", "created", n)
			}
			return err
		})
	case "create-staff":
		return createStaff(ctx, args, getenv, log, stdout)
	case "healthcheck":
		return healthcheck(ctx, getenv, stdout)
	}
	return fmt.Errorf("unknown command %q (commerce -h lists the commands)", cmd)
}

func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "-help" || arg == "--help"
}

// usage lists the commands and their flags: commerce help, -h or --help.
func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: commerce [command] [flags]

The GraphQL commerce service. It reads its configuration from the
environment and from a .env file in the working directory.

Commands:
  serve         serve the API (/graphql, /playground, /admin) and work the jobs; the default
`)
	printFlags(w, (&serveOptions{}).flagSet())
	fmt.Fprint(w, `  migrate       apply pending database migrations, then exit
  seed          apply migrations, add the demo catalog to an empty store, then exit
  create-staff  apply migrations, create a staff account, then exit
`)
	printFlags(w, (&staffOptions{}).flagSet())
	fmt.Fprint(w, `  healthcheck   exit 0 if the server on HTTP_ADDR answers /readyz with 200, else 1 (for container health checks)
  help          print this help (also -h, --help)
`)
}

// printFlags lists a command's flags under it.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		fmt.Fprintf(w, "      --%-11s %s", f.Name, f.Usage)
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// parseFlags parses a command's flags; -h prints them and is not an error
// (help is false then and the command does nothing).
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (help bool, err error) {
	fs.SetOutput(stdout)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, err
	}
	return false, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil || level == "" {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// withDB loads the configuration, connects, migrates and runs fn on the
// assembled services without serving anything.
func withDB(ctx context.Context, getenv func(string) string, log *slog.Logger, fn func(*app) error) error {
	cfg, err := config.Load(getenv, log)
	if err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, log, nil, true)
	if err != nil {
		return err
	}
	defer a.close()
	return fn(a)
}

// resetAnswerTime is the least time a password-reset request takes, so
// that an email with an account (a link to create, an email to queue)
// answers in the same time as one without: well above that work.
const resetAnswerTime = 300 * time.Millisecond

// staffOptions are the flags of create-staff.
type staffOptions struct{ email, password, role string }

func (o *staffOptions) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("create-staff", flag.ContinueOnError)
	fs.StringVar(&o.email, "email", "", "staff email")
	fs.StringVar(&o.password, "password", "", "password (10..128 characters, not a common one)")
	fs.StringVar(&o.role, "role", "STAFF", "ADMIN or STAFF")
	return fs
}

func createStaff(ctx context.Context, args []string, getenv func(string) string, log *slog.Logger, stdout io.Writer) error {
	var o staffOptions
	if help, err := parseFlags(o.flagSet(), args, stdout); help || err != nil {
		return err
	}
	return withDB(ctx, getenv, log, func(a *app) error {
		id, err := a.staff.Create(ctx, o.email, o.password, auth.Role(o.role))
		if err != nil {
			return fmt.Errorf("create-staff: %w", err)
		}
		fmt.Fprintf(stdout, "created %s %s (%s)\n", o.role, o.email, id)
		return nil
	})
}

// serveOptions are the flags of serve.
type serveOptions struct {
	noMigrate bool
	role      string
}

func (o *serveOptions) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.BoolVar(&o.noMigrate, "no-migrate", false, "do not apply pending migrations at start")
	fs.StringVar(&o.role, "role", "all", "all, api (HTTP only) or worker (jobs only, plus health and metrics)")
	return fs
}

// serve runs the HTTP server and, for the worker role, River's workers,
// until ctx is cancelled; then it drains in-flight requests and jobs.
func serve(ctx context.Context, args []string, getenv func(string) string, log *slog.Logger, stdout io.Writer) error {
	var o serveOptions
	if help, err := parseFlags(o.flagSet(), args, stdout); help || err != nil {
		return err
	}
	if o.role != "all" && o.role != "api" && o.role != "worker" {
		return fmt.Errorf("--role must be all, api or worker, got %q", o.role)
	}
	cfg, err := config.Load(getenv, log)
	if err != nil {
		return err
	}
	tr, err := tracing.Setup(ctx, getenv, log)
	if err != nil {
		return err
	}
	// Registered first, so it runs last: the spans of the drained requests
	// and jobs are exported too.
	defer shutdownTracing(tr, log)
	a, err := newApp(ctx, cfg, log, tr, !o.noMigrate)
	if err != nil {
		return err
	}
	defer a.close()
	if cfg.AdminEmail != "" {
		if err := a.staff.EnsureAdmin(ctx, cfg.AdminEmail, cfg.AdminPassword); err != nil {
			return err
		}
	}
	if o.role != "worker" {
		a.hub.Start(ctx)
		defer a.hub.Close()
		if cfg.CatalogCacheBytes > 0 {
			a.catalogCache = catalogcache.New(catalogcache.Postgres{DB: a.db.Bun}, catalogcache.Config{Budget: cfg.CatalogCacheBytes, MaxEntryAge: cfg.ImageURLTTL / 2},
				a.metrics.Registry, log)
			pollCtx, stopPolling := context.WithCancel(ctx)
			defer stopPolling()
			go a.catalogCache.Run(pollCtx)
		}
	}
	if o.role != "api" {
		if err := a.startWorkers(ctx); err != nil {
			return err
		}
		defer a.stopWorkers()
	}

	srv := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           a.routes(o.role != "worker"),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http server: %w", err)
	}
	errc := make(chan error, 3) // the server's, the metrics' and the profiler's
	go func() { errc <- srv.Serve(ln) }()
	if cfg.MetricsAddr != "" {
		// Its own listener, so that the public address does not expose it
		// (the routes leave /metrics out when METRICS_ADDR is set).
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.metrics.Handler())
		metricsSrv := &http.Server{Addr: cfg.MetricsAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- metricsSrv.ListenAndServe() }()
		defer metricsSrv.Close()
		log.Info("metrics", "addr", cfg.MetricsAddr)
	}
	if cfg.PprofAddr != "" {
		profiler := &http.Server{Addr: cfg.PprofAddr, Handler: pprofRoutes(), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- profiler.ListenAndServe() }()
		defer profiler.Close()
		log.Info("profiling", "addr", cfg.PprofAddr)
	}

	// The last line of the start-up says where to go (`make run` shows it).
	if o.role == "worker" {
		log.Info("serving", "addr", cfg.HTTPAddr, "role", o.role)
	} else {
		where := []any{"addr", cfg.HTTPAddr, "role", o.role, "playground", cfg.PublicBaseURL + "/playground"}
		if cfg.ShopEnabled {
			where = append(where, "shop", cfg.PublicBaseURL+"/shop")
		}
		log.Info("serving", append(where, "admin", cfg.PublicBaseURL+"/admin")...)
	}

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	// Drain first: /readyz answers 503 at once while the listener keeps
	// serving, so load balancers stop sending traffic here before any
	// connection is refused; keep-alive connections are closed after their
	// next response, so their clients come back through the balancer.
	log.Info("shutting down: /readyz answers 503, still serving", "drain", cfg.ShutdownDrain.String())
	a.draining.Store(true)
	srv.SetKeepAlivesEnabled(false)
	select {
	case <-time.After(cfg.ShutdownDrain):
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("shutting down: closing the listener, finishing in-flight requests")
	a.hub.Close() // ends live subscriptions, which Shutdown does not wait for
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http shutdown: %w", err)
	}
	return nil
}

// shutdownTracing exports the spans still buffered, within a bound: a
// collector that is down must not hold up the exit.
func shutdownTracing(tr *tracing.Tracing, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		log.Warn("traces not flushed", "error", err)
	}
}

// openDB connects and, when migrate is set, applies pending migrations.
// The statements of the service's pool are traced; River's own pool
// (startWorkers) polls and is not. Behind PgBouncer the migrations run on
// DATABASE_DIRECT_URL: they hold a session-level advisory lock, which a
// pooler in transaction mode cannot carry.
func openDB(ctx context.Context, cfg *config.Config, log *slog.Logger, tr *tracing.Tracing, migrate bool) (*db.DB, error) {
	d, err := db.Open(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns, tr.QueryTracer())
	if err != nil {
		return nil, err
	}
	if migrate {
		if err := migrateDB(ctx, cfg, d, log); err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

func migrateDB(ctx context.Context, cfg *config.Config, d *db.DB, log *slog.Logger) error {
	if cfg.DatabaseDirectURL == "" {
		return d.Migrate(ctx, log)
	}
	direct, err := db.OpenDirect(ctx, cfg.DatabaseDirectURL)
	if err != nil {
		return err
	}
	defer direct.Close()
	return direct.Migrate(ctx, log)
}

// app is the assembled service: configuration, connections and every
// domain service, wired through constructors.
type app struct {
	cfg      *config.Config
	log      *slog.Logger
	db       *db.DB
	metrics  *metrics.Metrics
	tracing  *tracing.Tracing // off (nil or without endpoint): no instrumentation
	sessions *auth.Sessions
	redis    *redis.Client     // nil without REDIS_URL
	guard    *redisguard.Guard // bounds and, while Redis fails, skips the calls to it; nil without REDIS_URL
	hub      *realtime.Hub     // live events: through Redis, or in process without it
	// catalogCache answers anonymous catalog reads; nil with
	// CATALOG_CACHE_BYTES=0. Its version poller runs with the API.
	catalogCache *catalogcache.Cache

	draining atomic.Bool // set at SIGTERM: /readyz answers 503
	dbDown   atomic.Bool // /readyz's last view of Postgres, so that an outage is logged once

	inserter *river.Client[*sql.Tx] // enqueues jobs inside business transactions
	workers  *river.Workers
	river    *river.Client[*sql.Tx] // works jobs (roles all and worker)
	riverDB  *db.DB                 // River's own small pool (see startWorkers)

	staff     *auth.StaffService
	customers *customers.Service
	catalog   *catalog.Service
	inventory *inventory.Service
	notify    *notify.Service
	carts     *carts.Service
	shipping  *shipping.Service
	orders    *orders.Service
	webhooks  *webhooks.Service
	storage   *storage.Store // product images
	// promotions is shared by carts, checkout and the staff API, so that
	// a promotion written is priced at once.
	promotions *promotions.Service
}

// newApp assembles the service; tr may be nil (commands that serve
// nothing trace nothing).
func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger, tr *tracing.Tracing, migrate bool) (*app, error) {
	d, err := openDB(ctx, cfg, log, tr, migrate)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, db: d, metrics: metrics.New(d.Pool), tracing: tr}
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			d.Close()
			return nil, errors.New("REDIS_URL is not a valid redis URL")
		}
		// go-redis logs through a process-wide logger, a line per failed
		// dial; the guard logs an outage once, so those go to debug.
		redis.SetLogger(redisguard.Logger{Log: log})
		a.redis = redis.NewClient(opts)
		if err := tr.InstrumentRedis(a.redis); err != nil {
			a.close()
			return nil, fmt.Errorf("trace redis: %w", err)
		}
		a.guard = redisguard.New(a.redis, cfg.RedisTimeout, log, a.metrics.Registry)
	}
	a.hub = realtime.New(a.guard, cfg.RedisPrefix, log, a.metrics.Registry)
	if err := a.wire(); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

// wire builds the services. Jobs are enqueued through an insert-only River
// client, so the services exist before the workers that call them.
func (a *app) wire() error {
	cfg := a.cfg
	inserter, err := jobs.NewInserter(a.db, a.tracing.RiverMiddleware()...)
	if err != nil {
		return err
	}
	a.inserter = inserter
	email, err := emailSender(cfg, a.tracing, a.log)
	if err != nil {
		return err
	}
	sms, err := smsSender(cfg, a.tracing, a.log)
	if err != nil {
		return err
	}
	a.sessions = auth.NewSessions(a.db, auth.NewTokens(cfg.AuthSecret, cfg.CustomerTokenTTL, cfg.StaffTokenTTL, time.Now))
	a.notify, err = notify.NewService(a.db, inserter, email, sms, notify.Config{
		From: cfg.EmailFrom, MaxAttempts: cfg.NotifyMaxAttempts, RetryBase: cfg.NotifyRetryBase, StorefrontURL: cfg.StorefrontURL,
		PublicBaseURL: cfg.PublicBaseURL, UnsubscribeSecret: cfg.AuthSecret,
		RecordTimeout: cfg.JobTimeout / 3, Metrics: a.metrics.Registry,
	}, a.log)
	if err != nil {
		return err
	}
	a.staff = auth.NewStaffService(a.db, a.sessions, a.notify, auth.StaffConfig{
		PublicBaseURL: cfg.PublicBaseURL, InviteTTL: cfg.StaffInviteTTL,
	})
	a.metrics.Backlog("notifications", a.notify.Pending)
	a.webhooks, err = webhooks.NewService(a.db, inserter, webhooks.Config{
		Timeout: cfg.WebhookTimeout, MaxAttempts: cfg.WebhookMaxAttempts, RetryBase: cfg.WebhookRetryBase,
		DisableAfter: cfg.WebhookDisableAfter, AllowPrivate: cfg.WebhookAllowPrivate, RecordTimeout: cfg.JobTimeout / 3,
		Observe: a.metrics.WebhookDelivery, Instrument: a.tracing.Transport,
	}, a.log)
	if err != nil {
		return err
	}
	a.metrics.Backlog("webhooks", a.webhooks.Pending)
	a.customers = customers.NewService(a.db, a.sessions, cfg.StoreCurrency).WithWebhooks(a.webhooks).
		WithAccounts(a.notify, customers.AccountConfig{
			StorefrontURL: cmp.Or(cfg.StorefrontURL, cfg.PublicBaseURL), PasswordResetTTL: cfg.PasswordResetTTL,
			EmailVerifyTTL: cfg.EmailVerifyTTL, ResetAnswerTime: resetAnswerTime,
		})
	a.inventory = inventory.NewService(a.db, a.notify, inventory.Config{
		LowStockEmail: cfg.LowStockEmail, Live: a.hub, Webhooks: a.webhooks,
	})
	// Open bounds its own check of an s3 bucket, so wire needs no context.
	a.storage, err = storage.Open(context.Background(), storage.Config{
		URL: cfg.StorageURL, PublicBaseURL: cfg.PublicBaseURL, Secret: cfg.AuthSecret, TTL: cfg.ImageURLTTL,
	})
	if err != nil {
		return fmt.Errorf("image storage: %w", err)
	}
	a.catalog = catalog.NewService(a.db, a.inventory.Ledger(), catalog.Config{StoreCurrency: cfg.StoreCurrency, Log: a.log}).
		WithImages(a.storage, cfg.MaxUploadBytes).WithWebhooks(a.webhooks)
	a.shipping = shipping.NewService(a.db, shipping.Config{Currency: cfg.StoreCurrency, StoreCountry: cfg.StoreCountry})
	a.promotions = promotions.NewService(a.db, cfg.StoreCurrency)
	a.carts = carts.NewService(a.db, a.catalog, a.notify, inserter, carts.Config{
		Currency: cfg.StoreCurrency, AbandonedCartWait: cfg.AbandonedCartWait, StorefrontURL: cfg.StorefrontURL,
		Promotions: a.promotions,
	}).WithShipping(a.shipping)
	a.orders = orders.NewService(orders.Deps{
		DB: a.db, Ledger: a.inventory.Ledger(), Carts: a.carts, Provider: paymentProvider(cfg, inserter, a.tracing, a.log),
		Notify: a.notify, Jobs: inserter, Live: a.hub, Webhooks: a.webhooks, Log: a.log, Promotions: a.promotions,
	}, orders.Config{
		Currency: cfg.StoreCurrency, Pricing: a.pricing(), PaymentTimeout: cfg.PaymentTimeout,
		FulfillmentReminder: cfg.FulfillmentDelay, ReviewRequest: cfg.ReviewRequestWait,
		DeliveryFollowup: cfg.DeliveryFollowup, TrackingURLs: cfg.TrackingURLs,
		WarehouseEmail: cfg.WarehouseEmail, StorefrontURL: cfg.StorefrontURL, AccessSecret: cfg.AuthSecret,
		MaxUnitsPerOrder: cfg.MaxUnitsPerOrder, MaxUnpaidUnits: cfg.MaxUnpaidUnits, ReturnWindow: cfg.ReturnWindow,
	})

	a.workers = river.NewWorkers()
	return jobs.Register(a.workers, jobs.Deps{
		Notify: a.notify, Orders: a.orders, Carts: a.carts, Inventory: a.inventory, Webhooks: a.webhooks,
		Sessions: a.sessions, JobTimeout: cfg.JobTimeout,
	})
}

// quotas are the API's rate limits: global in Redis when configured (in
// this process while Redis is unavailable), else in this process.
func (a *app) quotas() graph.Quotas {
	lim := quota.NewMemory(time.Now, a.log)
	if a.guard != nil {
		lim = quota.NewRedis(a.guard, a.cfg.RedisPrefix, time.Now, a.log)
	}
	return graph.Quotas{
		Limiter: lim, GraphQL: a.cfg.QuotaGraphQL, CreateOrder: a.cfg.QuotaCreateOrder,
		CreateOrderIP: a.cfg.QuotaCreateOrderIP, Search: a.cfg.QuotaSearch, Login: a.cfg.QuotaLogin,
		LoginIP: a.cfg.QuotaLoginIP, LoginAttemptsIP: a.cfg.QuotaLoginAttemptsIP, LoginAccount: a.cfg.QuotaLoginAccount, Register: a.cfg.QuotaRegister,
		CartCreate: a.cfg.QuotaCartCreate, OrderLookup: a.cfg.QuotaOrderLookup, OrderLookupNumber: a.cfg.QuotaOrderLookupNumber,
	}
}

// pricing is the store's pricing configuration.
func (a *app) pricing() pricing.Config {
	return pricing.Config{
		TaxRate:               pricing.Rate{Num: a.cfg.TaxRate.Num, Den: a.cfg.TaxRate.Den},
		FreeShippingThreshold: a.cfg.FreeShippingThreshold,
		FlatShippingRate:      a.cfg.FlatShippingRate,
		PricesIncludeTax:      a.cfg.PricesIncludeTax,
	}
}

// paymentProvider is Stripe when configured, else the dummy provider that
// confirms payments by itself through a durable job. In production the
// dummy provider runs only by the operator's explicit choice (config
// checks that), and every start says so loudly.
func paymentProvider(cfg *config.Config, inserter *river.Client[*sql.Tx], tr *tracing.Tracing, log *slog.Logger) payments.Provider {
	if cfg.PaymentProvider == "stripe" {
		return paymentstripe.New(paymentstripe.Config{
			SecretKey: cfg.StripeSecretKey, APIBase: cfg.StripeAPIBase, Log: log, Transport: tr.Transport(nil),
		})
	}
	if !cfg.Development {
		log.Warn("PAYMENT_PROVIDER=dummy in production (ALLOW_DUMMY_PAYMENTS=true): every order is marked PAID without taking any money")
	}
	return paymentdummy.New(inserter, paymentdummy.Config{})
}

// sendTimeout bounds one send to the email or SMS provider: two thirds of
// the delivery job's timeout, so that a hung provider fails the attempt
// with its own error rather than the job, and the last third is left for
// rendering and the bookkeeping.
func sendTimeout(cfg *config.Config) time.Duration { return cfg.JobTimeout * 2 / 3 }

func emailSender(cfg *config.Config, tr *tracing.Tracing, log *slog.Logger) (notify.EmailSender, error) {
	if cfg.EmailSender == "smtp" {
		s, err := notifysmtp.New(cfg.SMTPURL, sendTimeout(cfg))
		if err != nil || !tr.Enabled() {
			return s, err
		}
		return tracedEmail{EmailSender: s, tracing: tr}, nil
	}
	return notify.LogSender{Log: log}, nil
}

// tracedEmail records a span per SMTP send: no maintained library
// instruments go-mail.
type tracedEmail struct {
	notify.EmailSender
	tracing *tracing.Tracing
}

func (t tracedEmail) SendEmail(ctx context.Context, e notify.OutgoingEmail) error {
	return t.tracing.Run(ctx, "smtp send", func(ctx context.Context) error { return t.EmailSender.SendEmail(ctx, e) })
}

func smsSender(cfg *config.Config, tr *tracing.Tracing, log *slog.Logger) (notify.SMSSender, error) {
	if cfg.SMSSender == "twilio" {
		return notifysms.New(notifysms.Config{
			AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken, From: cfg.TwilioFrom,
			APIBase: cfg.TwilioAPIBase, Timeout: sendTimeout(cfg), Transport: tr.Transport(nil),
		})
	}
	return notify.LogSender{Log: log}, nil
}

// startWorkers starts River's workers and its leader-elected periodic jobs:
// the daily report and the outbox sweepers.
func (a *app) startWorkers(ctx context.Context) error {
	report, err := jobs.DailyReport(a.cfg.DailyReportCron, a.cfg.StoreLocation, nil)
	if err != nil {
		return err
	}
	periodic := []*river.PeriodicJob{report, jobs.NotifySweep(a.cfg.NotifySweepInterval, nil),
		jobs.WebhookSweep(a.cfg.NotifySweepInterval, nil), jobs.AuthSweep(nil)}
	// River fetches, completes and elects its leader on a pool of its own
	// (its listener holds one of these connections), so that a burst of
	// requests queueing for the service's pool, as in a flash sale, cannot
	// starve it into timeouts. The jobs themselves run the services' code
	// on the service's pool. Behind PgBouncer (DATABASE_DIRECT_URL set) the
	// pool goes through it too, and only the listener's connection is
	// direct (see db.OpenForRiver, docs/scaling.md).
	riverDB, err := db.OpenForRiver(ctx, a.cfg.DatabaseURL, a.cfg.DatabaseDirectURL, riverPoolConns)
	if err != nil {
		return fmt.Errorf("river pool: %w", err)
	}
	client, err := jobs.NewClient(riverDB, a.workers, periodic, a.cfg.JobTimeout, a.log, a.tracing.RiverMiddleware()...)
	if err != nil {
		riverDB.Close()
		return err
	}
	jobs.Observe(client, a.metrics.Job)
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		riverDB.Close()
		return fmt.Errorf("start river: %w", err)
	}
	a.river, a.riverDB = client, riverDB
	return nil
}

// riverPoolConns is the size of River's pool: its listener and three
// connections for fetching, completing and leadership. (The workers of
// each queue are set in package jobs.)
const riverPoolConns = 4

// stopWorkers lets running jobs finish (up to a limit) and stops River.
func (a *app) stopWorkers() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.river.Stop(ctx); err != nil {
		a.log.Warn("river did not stop cleanly", "error", err)
	}
	a.riverDB.Close()
}

func (a *app) close() {
	if a.guard != nil {
		a.guard.Close()
	}
	if a.redis != nil {
		_ = a.redis.Close()
	}
	if a.storage != nil {
		_ = a.storage.Close()
	}
	a.db.Close()
}

// routes returns the HTTP handler. The worker role serves only health and
// metrics.
func (a *app) routes(api bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", a.ready)
	if a.cfg.MetricsAddr == "" {
		mux.Handle("GET /metrics", a.metrics.Handler())
	}
	if api {
		quotas := a.quotas()
		resolver := graph.NewResolver(graph.Services{
			Staff: a.staff, Customers: a.customers, Catalog: a.catalog, Inventory: a.inventory, Notify: a.notify,
			Carts: a.carts, Orders: a.orders, Webhooks: a.webhooks, Shipping: a.shipping, Pricing: a.pricing(), Live: a.hub, Quotas: quotas, Images: a.storage,
			Promotions: a.promotions,
		}, a.log)
		gql := graph.NewHandler(resolver, graph.HandlerConfig{
			Sessions: a.sessions, AllowedOrigins: a.cfg.CORSAllowedOrigins, MaxUploadBytes: a.cfg.MaxUploadBytes,
			Log: a.log, AroundOperations: a.observeOperation, Quotas: quotas, Metrics: a.metrics.Registry,
			WSMaxSubscriptions: a.cfg.WSMaxSubscriptions, WSMaxConnections: a.cfg.WSMaxConnections,
			CatalogCache: a.catalogCache, ObserveCached: a.observeCached,
		})
		// Traced from the first byte, continuing a client's traceparent.
		mux.Handle("/graphql", a.tracing.Handler(cors(a.cfg.CORSAllowedOrigins, gql), "/graphql"))
		// GraphiQL and every file it loads, from the binary: it works offline.
		pg := playground.Handler()
		mux.Handle(playground.Path, pg)
		mux.Handle(playground.Path+"/", pg)
		mux.Handle("/webhooks/stripe", payments.NewWebhookHandler(a.cfg.StripeWebhookSecret, a.orders, a.log))
		mux.Handle(notify.UnsubscribePath, notify.NewUnsubscribeHandler(a.cfg.AuthSecret, a.customers, a.log))
		mux.Handle("GET /{$}", http.RedirectHandler("/playground", http.StatusFound))
		mux.Handle("GET /admin/", admin.Handler()) // the live view; the mux redirects /admin to /admin/
		if a.cfg.ShopEnabled {
			// The demo storefront; the mux redirects /shop to /shop/. The
			// dummy provider's client secrets mean nothing to Stripe.js, so
			// the key is passed only when Stripe takes the payments.
			shopCfg := shop.Config{PublicBaseURL: a.cfg.PublicBaseURL}
			if a.cfg.PaymentProvider == "stripe" {
				shopCfg.StripePublishableKey = a.cfg.StripePublishableKey
			}
			mux.Handle("GET /shop/", shop.Handler(shopCfg))
		}
		if a.storage.ServesFiles() {
			// Signed image URLs of file storage; any method, so that the
			// handler answers a wrong one with 403. S3 URLs point at the bucket.
			mux.Handle(storage.FilesPath, a.storage.Handler())
		}
	}
	return web.WithRequest(a.log, web.WithClientIP(a.cfg.TrustedProxies, mux))
}

// ready answers whether this replica can take traffic: 200 when Postgres
// answers and the process is not shutting down, else 503. Redis's state is
// reported in the body (and in redis_up) but never fails readiness: every
// replica shares one Redis, and each serves without it (rate limits in
// process, live events marked as possibly missed), so failing them all
// at once would turn a degraded feature into an outage.
func (a *app) ready(w http.ResponseWriter, r *http.Request) {
	if a.draining.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.db.Pool.Ping(ctx); err != nil {
		if !a.dbDown.Swap(true) {
			web.Logger(ctx, a.log).Warn("readyz: database unavailable", "error", err)
		}
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	if a.dbDown.Swap(false) {
		web.Logger(ctx, a.log).Info("readyz: database available again")
	}
	redisState := "not configured"
	if a.guard != nil {
		redisState = "down"
		// A guarded ping: it opens the guard of an idle replica whose Redis
		// went away, and costs nothing while the guard is open.
		if a.guard.Do(ctx, func(ctx context.Context) error { return a.redis.Ping(ctx).Err() }) == nil {
			redisState = "up"
		}
	}
	_, _ = io.WriteString(w, "ready\nredis: "+redisState+"\n")
}

// observeCached records an operation answered from the catalog cache as
// observeOperation records an executed one: no statements, no errors.
func (a *app) observeCached(ctx context.Context, rootFields []string, name string, d time.Duration) {
	web.SetOperation(ctx, name)
	a.metrics.ObserveOperation(rootFields, name, string(ast.Query), d, 0, false)
}

// observeOperation records each GraphQL operation in the metrics, with the
// SQL statements its resolvers ran (counted by the pgx tracer), names it
// for the request's access-log line, and, when tracing, records it in a
// span of its own (operationSpan). The name is the executed operation's:
// the request's operationName, else the document's one operation's name.
func (a *app) observeOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation != nil {
		web.SetOperation(ctx, oc.Operation.Name)
	}
	start := time.Now()
	ctx, statements := db.WithStatementCounter(ctx)
	ctx, span := a.operationSpan(ctx, oc)
	h := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := h(ctx)
		if resp != nil && oc.Operation != nil {
			a.metrics.ObserveOperation(graph.RootFieldNames(oc), oc.Operation.Name, string(oc.Operation.Operation), time.Since(start),
				statements.Count(), len(resp.Errors) > 0)
			if len(resp.Errors) > 0 {
				span.SetStatus(codes.Error, "the response has errors")
			}
		}
		span.End()
		return resp
	}
}

// operationSpan starts the span of a query or mutation while tracing: its
// resolvers' statements, Redis calls and jobs become its children. It is
// named after the operation, or after its root fields when it has no name;
// the variables and the document stay out of it. A subscription, which
// lives as long as its connection, gets none (a no-op span), as does every
// operation when tracing is off.
func (a *app) operationSpan(ctx context.Context, oc *graphql.OperationContext) (context.Context, trace.Span) {
	if !a.tracing.Enabled() || oc.Operation == nil || oc.Operation.Operation == ast.Subscription {
		return ctx, noop.Span{}
	}
	kind := string(oc.Operation.Operation)
	name := oc.Operation.Name
	if name == "" {
		name = strings.Join(graph.RootFieldNames(oc), ",")
	}
	return a.tracing.Start(ctx, kind+" "+name,
		attribute.String("graphql.operation.type", kind), attribute.String("graphql.operation.name", name))
}

// cors answers preflight requests and sets CORS headers for the allowed
// origins (CORS_ALLOWED_ORIGINS); "*" allows any origin.
func cors(origins []string, next http.Handler) http.Handler {
	allowed := make(map[string]bool, len(origins))
	for _, o := range origins {
		allowed[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin != "" && (allowed[origin] || allowed["*"]) {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id")
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Max-Age", "600")
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// pprofRoutes serves the Go profiler under /debug/pprof/, on a listener of
// its own so that it is never reachable through the public address.
func pprofRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
