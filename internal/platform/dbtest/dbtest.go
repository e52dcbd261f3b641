// Package dbtest gives each test package its own PostgreSQL database,
// cloned from a template that is migrated once per set of migrations, and
// its own Redis key prefix, so packages run in parallel without seeing each
// other's rows, keys or channels.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(dbtest.Run(m)) }
//
// and call dbtest.DB(t) in tests.
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"commerce/internal/platform/db"
	"commerce/migrations"
)

// templateLockKey serialises template builds and clones across packages.
const templateLockKey = 7_301_966_413

// pkg is the test package's database; set by Run. Test helpers are the one
// place a package-level variable is the simplest honest design: Run owns its
// lifetime for the whole test binary.
var pkg struct {
	url    string
	db     *db.DB
	prefix string
}

// AdminURL is the server the test databases live on: TEST_DATABASE_URL, or
// the local Postgres that `make services` provides.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisURL is the Redis the tests use: TEST_REDIS_URL or the local one.
func RedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Run creates the package database, runs the tests and drops it.
func Run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	name, err := create(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dbtest:", err)
		return 1
	}
	pkg.url = withDatabase(AdminURL(), name)
	pkg.prefix = "test:" + name + ":"
	code := m.Run()
	if pkg.db != nil {
		pkg.db.Close()
	}
	if err := drop(name); err != nil {
		fmt.Fprintln(os.Stderr, "dbtest:", err)
	}
	return code
}

// URL is the connection string of the package database.
func URL(t testing.TB) string {
	t.Helper()
	if pkg.url == "" {
		t.Fatal("dbtest: call dbtest.Run from TestMain")
	}
	return pkg.url
}

// FreshURL is the connection string of a new, empty migrated database of
// the test's own, dropped when the test ends: for a test that needs what no
// other test of the package has written (an empty catalog for the demo
// seed, for example).
func FreshURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name, err := create(ctx)
	if err != nil {
		t.Fatalf("dbtest: fresh database: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(name); err != nil {
			t.Errorf("dbtest: drop %s: %v", name, err)
		}
	})
	return withDatabase(AdminURL(), name)
}

// EmptyURL is the connection string of a new database without any
// migration, dropped when the test ends: for a test of the migrations
// themselves.
func EmptyURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("dbtest: connect to %s: %v", redactedHost(), err)
	}
	defer admin.Close(context.Background())
	name := "t_" + packageName() + "_empty_" + randomHex(4)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("dbtest: empty database: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(name); err != nil {
			t.Errorf("dbtest: drop %s: %v", name, err)
		}
	})
	return withDatabase(AdminURL(), name)
}

// DB returns the shared handle on the package database.
func DB(t testing.TB) *db.DB {
	t.Helper()
	u := URL(t)
	if pkg.db == nil {
		d, err := db.Open(context.Background(), u, 20)
		if err != nil {
			t.Fatalf("dbtest: open: %v", err)
		}
		pkg.db = d
	}
	return pkg.db
}

// RedisPrefix is the package's own REDIS_PREFIX.
func RedisPrefix() string { return pkg.prefix }

func create(ctx context.Context) (string, error) {
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		return "", fmt.Errorf("connect to %s (is Postgres running? try `make services`): %w", redactedHost(), err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		return "", err
	}
	defer admin.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", templateLockKey)

	tmpl, err := templateName()
	if err != nil {
		return "", err
	}
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", tmpl).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if err := buildTemplate(ctx, admin, tmpl); err != nil {
			return "", fmt.Errorf("build template: %w", err)
		}
	}
	name := "t_" + packageName() + "_" + randomHex(4)
	if _, err := admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, tmpl)); err != nil {
		return "", fmt.Errorf("clone template: %w", err)
	}
	return name, nil
}

func buildTemplate(ctx context.Context, admin *pgx.Conn, tmpl string) error {
	building := tmpl + "_building"
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return err
	}
	d, err := db.Open(ctx, withDatabase(AdminURL(), building), 4)
	if err != nil {
		return err
	}
	err = d.Migrate(ctx, slog.New(slog.DiscardHandler))
	d.Close()
	if err != nil {
		return err
	}
	_, err = admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, tmpl))
	return err
}

func drop(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	return err
}

// templateName changes whenever a migration file changes, so a stale
// template is never cloned.
func templateName() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.Files(), ".", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.Files(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%s\x00", path, b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return "commerce_tmpl_" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

var nonIdent = regexp.MustCompile(`[^a-z0-9]+`)

func packageName() string {
	wd, _ := os.Getwd()
	n := nonIdent.ReplaceAllString(strings.ToLower(filepath.Base(wd)), "")
	if len(n) > 20 {
		n = n[:20]
	}
	return n
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	return u.String()
}

func redactedHost() string {
	if u, err := url.Parse(AdminURL()); err == nil {
		return u.Host
	}
	return "the test database"
}
