package store

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// migrationLock is the PostgreSQL advisory lock that serialises
// migrations when several replicas start at once.
const migrationLock = 7_463_112_001

type migration struct {
	version int
	name    string
	sql     string
}

func (db *DB) migrations() ([]migration, error) {
	dir := "migrations/" + db.dialect.name
	entries, err := fs.ReadDir(migrationsFS, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		v, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", name)
		}
		b, err := fs.ReadFile(migrationsFS, dir+"/"+name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		// Applied versions are recorded by number: a second migration
		// with the same number would be skipped as applied, silently.
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share the number %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// Migrate applies the embedded migrations that have not been applied yet,
// each in its own transaction, and returns the names of those it applied.
// It is safe to run from several processes at once.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	ms, err := db.migrations()
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return nil, wrapErr("migrate", err)
	}
	defer conn.Close()
	if db.dialect.name == "postgres" {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
			return nil, wrapErr("migrate: lock", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock) //nolint:errcheck // released with the session anyway
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at TEXT NOT NULL)`); err != nil {
		return nil, wrapErr("migrate: create schema_migrations", err)
	}
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return nil, wrapErr("migrate: read schema_migrations", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, wrapErr("migrate: read schema_migrations", err)
		}
		applied[v] = true
	}
	rows.Close()
	var done []string
	for _, m := range ms {
		if applied[m.version] {
			continue
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return done, wrapErr("migrate: begin", err)
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			_ = tx.Rollback()
			return done, fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
			m.version, m.name, db.now().UTC().Format(sqliteTime)); err != nil {
			_ = tx.Rollback()
			return done, fmt.Errorf("migration %s: record: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return done, fmt.Errorf("migration %s: commit: %w", m.name, err)
		}
		done = append(done, m.name)
	}
	return done, nil
}
