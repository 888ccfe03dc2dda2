package store

import (
	"fmt"
	"time"
)

// dialect is what differs between PostgreSQL and SQLite for the same
// queries.
type dialect struct {
	name string
	// time encodes a time for a query argument.
	time func(t time.Time) any
	// skipLocked is appended to SELECT … FOR UPDATE claims where supported.
	skipLocked string
}

// sqliteTime is fixed-width, so that text comparison is time comparison.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

var (
	postgresDialect = dialect{
		name:       "postgres",
		time:       func(t time.Time) any { return ts(t) },
		skipLocked: " FOR UPDATE SKIP LOCKED",
	}
	sqliteDialect = dialect{
		name:       "sqlite",
		time:       func(t time.Time) any { return ts(t).Format(sqliteTime) },
		skipLocked: "",
	}
)

// t encodes a time argument; tp encodes an optional one.
func (d *dialect) t(t time.Time) any { return d.time(t) }

func (d *dialect) tp(t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.time(*t)
}

// timeCol scans a time column from either driver.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*c.t = ts(v)
	case string:
		return c.parse(v)
	case []byte:
		return c.parse(string(v))
	default:
		return fmt.Errorf("scan time: unsupported type %T", src)
	}
	return nil
}

func (c timeCol) parse(s string) error {
	for _, layout := range []string{sqliteTime, time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			*c.t = ts(t)
			return nil
		}
	}
	return fmt.Errorf("scan time: cannot parse %q", s)
}

// nullTimeCol scans a nullable time column into **time.Time.
type nullTimeCol struct{ t **time.Time }

func (c nullTimeCol) Scan(src any) error {
	if src == nil {
		*c.t = nil
		return nil
	}
	var t time.Time
	if err := (timeCol{&t}).Scan(src); err != nil {
		return err
	}
	*c.t = &t
	return nil
}
