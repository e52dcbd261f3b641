package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// stmtCounter counts the SQL statements the service runs.
type stmtCounter interface {
	// Count returns the statements counted since the start.
	Count(ctx context.Context) (int64, error)
	// Top returns the statements counted since the last Top call, most
	// frequent first (empty when the counter cannot tell them apart).
	Top(ctx context.Context, n int) []stmtCount
	Name() string
}

type stmtCount struct {
	SQL   string
	Calls int64
}

// sqlProxy is a TCP proxy between the service and Postgres that reads the
// frontend half of the wire protocol and counts every statement executed:
// one per simple Query ('Q') and one per extended-protocol Execute ('E'),
// except BEGIN/COMMIT/ROLLBACK/SAVEPOINT — the same rule as the service's
// pgx StatementCounter, but for every connection of the pool (so River's
// background polling is counted too; main.go subtracts the idle rate).
type sqlProxy struct {
	ln       net.Listener
	upstream string
	total    atomic.Int64

	mu    sync.Mutex
	bySQL map[string]int64
	last  map[string]int64
}

func startSQLProxy(upstream string) (*sqlProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &sqlProxy{ln: ln, upstream: upstream, bySQL: map[string]int64{}, last: map[string]int64{}}
	go p.acceptLoop()
	return p, nil
}

func (p *sqlProxy) Addr() string { return p.ln.Addr().String() }
func (p *sqlProxy) Close()       { _ = p.ln.Close() }
func (p *sqlProxy) Name() string { return "wire-protocol proxy" }

func (p *sqlProxy) Count(context.Context) (int64, error) { return p.total.Load(), nil }

func (p *sqlProxy) Top(_ context.Context, n int) []stmtCount {
	p.mu.Lock()
	var out []stmtCount
	for k, v := range p.bySQL {
		if d := v - p.last[k]; d > 0 {
			out = append(out, stmtCount{k, d})
		}
		p.last[k] = v
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Calls > out[j].Calls })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func (p *sqlProxy) acceptLoop() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *sqlProxy) handle(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer server.Close()
	go func() {
		_, _ = io.Copy(client, server)
		_ = client.Close()
	}()
	r := bufio.NewReaderSize(client, 64<<10)
	w := bufio.NewWriterSize(server, 64<<10)
	// Startup: length-prefixed, no type byte. Refuse SSL/GSS encryption so
	// that the rest is readable (the bench uses sslmode=disable anyway).
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:4]))
		code := binary.BigEndian.Uint32(hdr[4:])
		if n < 8 || n > 1<<20 {
			return
		}
		rest := make([]byte, n-8)
		if _, err := io.ReadFull(r, rest); err != nil {
			return
		}
		if code == 80877103 || code == 80877104 { // SSLRequest, GSSENCRequest
			if _, err := client.Write([]byte{'N'}); err != nil {
				return
			}
			continue
		}
		_, _ = w.Write(hdr[:])
		_, _ = w.Write(rest)
		if err := w.Flush(); err != nil {
			return
		}
		break
	}
	stmts := map[string]string{}   // prepared statement name -> SQL
	portals := map[string]string{} // portal name -> SQL
	var hdr [5]byte
	var body []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
		if n < 0 {
			return
		}
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		switch hdr[0] {
		case 'Q':
			p.count(cstring(body, 0))
		case 'P':
			name, i := cstr(body, 0)
			sql, _ := cstr(body, i)
			stmts[name] = sql
		case 'B':
			portal, i := cstr(body, 0)
			stmt, _ := cstr(body, i)
			portals[portal] = stmts[stmt]
		case 'E':
			portal, _ := cstr(body, 0)
			p.count(portals[portal])
		case 'C': // Close statement or portal
			if len(body) > 1 {
				name, _ := cstr(body, 1)
				if body[0] == 'S' {
					delete(stmts, name)
				} else {
					delete(portals, name)
				}
			}
		}
		_, _ = w.Write(hdr[:])
		_, _ = w.Write(body)
		if r.Buffered() == 0 || hdr[0] == 'X' {
			if err := w.Flush(); err != nil {
				return
			}
		}
		if hdr[0] == 'X' {
			return
		}
	}
}

func cstr(b []byte, i int) (string, int) {
	if i >= len(b) {
		return "", i
	}
	j := i
	for j < len(b) && b[j] != 0 {
		j++
	}
	return string(b[i:j]), j + 1
}

func cstring(b []byte, i int) string { s, _ := cstr(b, i); return s }

var spaces = regexp.MustCompile(`\s+`)

func (p *sqlProxy) count(sql string) {
	if isTxControl(sql) {
		return
	}
	p.total.Add(1)
	key := strings.TrimSpace(spaces.ReplaceAllString(sql, " "))
	if len(key) > 240 {
		key = key[:240] + "…"
	}
	p.mu.Lock()
	p.bySQL[key]++
	p.mu.Unlock()
}

func isTxControl(sql string) bool {
	// River's own bookkeeping around an insert (its debounced NOTIFY and its
	// version check) is not counted, as in the service's tracer; nor is
	// pgx's liveness check of a connection idle for over a second.
	if strings.HasPrefix(sql, "-- name: PGNotifyMany ") || strings.HasPrefix(sql, "-- name: PGGetProductAndVersion ") ||
		sql == "-- ping" {
		return true
	}
	s := strings.ToLower(strings.TrimSpace(sql))
	for _, pre := range []string{"begin", "commit", "rollback", "start transaction", "savepoint", "release savepoint"} {
		if strings.HasPrefix(s, pre) {
			return true
		}
	}
	return false
}

// pgssCounter reads pg_stat_statements (only when the server preloads it)
// through its own connection to the bench database; its own queries (which
// name pg_stat_statements) are left out of the count.
type pgssCounter struct {
	conn   *pgx.Conn
	dbName string
	mu     sync.Mutex
	last   map[string]int64
}

func (c *pgssCounter) Name() string { return "pg_stat_statements" }

const pgssWhere = `dbid = (SELECT oid FROM pg_database WHERE datname = $1)
	AND query !~* '^\s*(begin|commit|rollback|start transaction|savepoint|release)'
	AND query NOT LIKE '%pg_stat_statements%'`

func (c *pgssCounter) Count(ctx context.Context) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	err := c.conn.QueryRow(ctx, `SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE `+pgssWhere, c.dbName).Scan(&n)
	return n, err
}

func (c *pgssCounter) Top(ctx context.Context, n int) []stmtCount {
	c.mu.Lock()
	defer c.mu.Unlock()
	rows, err := c.conn.Query(ctx, `SELECT left(regexp_replace(query, '\s+', ' ', 'g'), 160), sum(calls)::bigint
		FROM pg_stat_statements WHERE `+pgssWhere+` GROUP BY 1`, c.dbName)
	if err != nil {
		return nil
	}
	var out []stmtCount
	for rows.Next() {
		var s stmtCount
		if rows.Scan(&s.SQL, &s.Calls) == nil {
			d := s.Calls - c.last[s.SQL]
			c.last[s.SQL] = s.Calls
			if d > 0 {
				out = append(out, stmtCount{s.SQL, d})
			}
		}
	}
	rows.Close()
	sort.Slice(out, func(i, j int) bool { return out[i].Calls > out[j].Calls })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func (c *pgssCounter) Close() { _ = c.conn.Close(context.Background()) }

// tryPGSS returns a pg_stat_statements counter when the extension can be
// created in the bench database and its view answers (it needs
// shared_preload_libraries = 'pg_stat_statements').
func tryPGSS(ctx context.Context, benchURL, dbName string) (*pgssCounter, error) {
	conn, err := pgx.Connect(ctx, benchURL)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	if _, err := conn.Exec(ctx, `SELECT 1 FROM pg_stat_statements LIMIT 1`); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	return &pgssCounter{conn: conn, dbName: dbName, last: map[string]int64{}}, nil
}
