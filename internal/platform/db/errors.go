package db

import (
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// SQLSTATE codes the domain packages react to.
const (
	codeUniqueViolation = "23505"
	codeCheckViolation  = "23514"
)

// IsUniqueViolation reports whether err is a unique violation, of the named
// constraint when constraint is not empty.
func IsUniqueViolation(err error, constraint string) bool {
	return isCode(err, codeUniqueViolation, constraint)
}

// IsCheckViolation reports whether err is a check-constraint violation, of
// the named constraint when constraint is not empty.
func IsCheckViolation(err error, constraint string) bool {
	return isCode(err, codeCheckViolation, constraint)
}

func isCode(err error, code, constraint string) bool {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) || pg.Code != code {
		return false
	}
	return constraint == "" || pg.ConstraintName == constraint
}

// IsNoRows reports whether err means a query found nothing.
func IsNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
