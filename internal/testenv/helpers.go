package testenv

import (
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Clock is a settable clock for tests whose rules depend on time
// (expiry, retries): it starts at a fixed moment and moves only when
// told. Safe for concurrent use.
type Clock struct{ t atomic.Pointer[time.Time] }

// NewClock returns a Clock at 2026-03-01 12:00 UTC.
func NewClock() *Clock {
	c := &Clock{}
	c.Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	return c
}

func (c *Clock) Now() time.Time          { return *c.t.Load() }
func (c *Clock) Set(t time.Time)         { c.t.Store(&t) }
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// RowsContain reports whether any column of any row of table holds
// needle, read straight from the database behind the store's back (to
// prove a secret is not stored in the clear). An empty table fails the
// test: nothing would have been checked.
func RowsContain(tb testing.TB, raw *sql.DB, table, needle string) bool {
	tb.Helper()
	rows, err := raw.Query("SELECT * FROM " + table)
	if err != nil {
		tb.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		for _, v := range vals {
			s := fmt.Sprint(v)
			if b, ok := v.([]byte); ok {
				s = string(b)
			}
			if strings.Contains(s, needle) {
				return true
			}
		}
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	if n == 0 {
		tb.Fatalf("table %s is empty: nothing was checked", table)
	}
	return false
}
