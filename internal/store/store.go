// Package store keeps Fluxhook's state in PostgreSQL (pgx) or SQLite
// (modernc.org/sqlite, pure Go), behind one API. Both drivers run the same
// queries through database/sql; the differences (DDL, time encoding, row
// locking, SQLite's single writer) live in a small dialect, and one
// conformance suite runs every test against both.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fluxhook/fluxhook/internal/wire"
	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

//go:embed migrations
var migrationsFS embed.FS

// DB is an open store. It is safe for concurrent use.
type DB struct {
	Queries
	write   *sql.DB
	read    *sql.DB // == write for PostgreSQL
	dialect dialect
	now     func() time.Time
}

// Queries runs the store's statements against the database or inside one
// transaction. Reads go to r, writes to w; inside a transaction both are
// the transaction.
type Queries struct {
	r, w querier
	d    *dialect
	now  func() time.Time
}

type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Options tune Open. The zero value is fine.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxConns caps PostgreSQL connections (default 20).
	MaxConns int
}

// Open connects to the database named by rawURL — postgres://… or
// sqlite://path — but does not migrate it (see Migrate).
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	var db *DB
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		conn, err := sql.Open("pgx", rawURL)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		maxConns := opts.MaxConns
		if maxConns <= 0 {
			maxConns = 20
		}
		conn.SetMaxOpenConns(maxConns)
		conn.SetMaxIdleConns(maxConns)
		conn.SetConnMaxIdleTime(5 * time.Minute)
		db = &DB{write: conn, read: conn, dialect: postgresDialect}
	case strings.HasPrefix(rawURL, "sqlite:"):
		path, err := SQLitePath(rawURL)
		if err != nil {
			return nil, err
		}
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("create database directory: %w", err)
			}
		}
		// SQLite allows one writer at a time: funnel every write through a
		// single connection (BEGIN IMMEDIATE, so a transaction never has to
		// upgrade its lock and fail) and read through a small pool in WAL mode.
		// The WAL is checkpointed every 10,000 pages rather than SQLite's
		// 1,000: the attempt log's index by webhook dirties one page per
		// webhook written, and a checkpoint copies each page once however
		// often it changed, so a tenth as many checkpoints do a third of the
		// work per row (BenchmarkInsertAttempts/sqlite/rows-45: 11-13k rows/s
		// at 1,000, 18-19k at 10,000). journal_size_limit gives the disk back
		// after a burst.
		common := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)" +
			"&_pragma=wal_autocheckpoint(10000)&_pragma=journal_size_limit(67108864)"
		w, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_txlock=immediate&"+common)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxIdleTime(0)
		w.SetConnMaxLifetime(0)
		r, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)&"+common)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		r.SetMaxOpenConns(4)
		r.SetMaxIdleConns(4)
		db = &DB{write: w, read: r, dialect: sqliteDialect}
	default:
		return nil, fmt.Errorf("unsupported database URL %q: want postgres://… or sqlite://path", redact(rawURL))
	}
	db.now = now
	db.Queries = Queries{r: db.read, w: db.write, d: &db.dialect, now: now}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.Ping(pctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// SQLitePath returns the file path of a sqlite:// URL.
func SQLitePath(rawURL string) (string, error) {
	p := strings.TrimPrefix(rawURL, "sqlite:")
	p = strings.TrimPrefix(p, "//")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if p == "" {
		return "", errors.New("sqlite URL has no path: want sqlite://path/to/file.db")
	}
	return p, nil
}

// redact hides a password in a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Driver names the database engine: "postgres" or "sqlite".
func (db *DB) Driver() string { return db.dialect.name }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return wrapErr("ping database", err)
	}
	if db.read != db.write {
		if err := db.read.PingContext(ctx); err != nil {
			return wrapErr("ping database", err)
		}
	}
	return nil
}

// Close closes the database.
func (db *DB) Close() error {
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Tx runs fn in one transaction, committed when fn returns nil and rolled
// back otherwise. Inside fn, use only q: on SQLite the one writer
// connection is held by the transaction.
func (db *DB) Tx(ctx context.Context, fn func(q *Queries) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return wrapErr("begin transaction", err)
	}
	q := &Queries{r: tx, w: tx, d: &db.dialect, now: db.now}
	if err := fn(q); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return wrapErr("commit", err)
	}
	return nil
}

// NewID returns a new row id: wire.NewID, the one rule for ids.
func NewID() string { return wire.NewID() }

// validID reports whether s is a UUID; a malformed id is simply not found,
// and must not reach PostgreSQL, which would reject it with an error.
func validID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// ts truncates t to what both databases keep (microseconds, UTC).
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
