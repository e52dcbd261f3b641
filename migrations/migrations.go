// Package migrations embeds the service's SQL migrations.
package migrations

import (
	"embed"
	"fmt"

	"github.com/uptrace/bun/migrate"
)

//go:embed *.sql
var files embed.FS

// Load returns the migrations found in the embedded SQL files.
func Load() (*migrate.Migrations, error) {
	m := migrate.NewMigrations()
	if err := m.Discover(files); err != nil {
		return nil, fmt.Errorf("discover migrations: %w", err)
	}
	return m, nil
}

// Files returns the embedded migration files, so that tests can tell when
// a cached migrated template is out of date.
func Files() embed.FS { return files }
