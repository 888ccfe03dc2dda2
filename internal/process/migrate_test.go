package process

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fluxhook/fluxhook/internal/config"
	"github.com/fluxhook/fluxhook/internal/testenv"
)

// TestMigrateWaitsForTheDatabase: `migrate` started before PostgreSQL
// answers waits for it, says so, and migrates once it is there; a URL
// that cannot work ends it at once.
func TestMigrateWaitsForTheDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	real, err := url.Parse(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	// PostgreSQL behind an address that answers only after a while.
	addr := testenv.FreeAddr(t)
	go func() {
		time.Sleep(1500 * time.Millisecond)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen: %v", err)
			return
		}
		t.Cleanup(func() { ln.Close() })
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				pg, err := net.Dial("tcp", real.Host)
				if err != nil {
					return
				}
				defer pg.Close()
				go io.Copy(pg, c)
				io.Copy(c, pg)
			}()
		}
	}()
	late := *real
	late.Host = addr
	var out bytes.Buffer
	start := time.Now()
	if err := Migrate(testenv.Context(t, time.Minute), config.Config{DatabaseURL: late.String()}, &out); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "waiting for the database") || !strings.Contains(out.String(), "applied 0001") {
		t.Fatalf("migrate printed %q: want the waits, then the migrations applied", out.String())
	}
	t.Logf("migrated after %v:\n%s", time.Since(start).Round(time.Millisecond), out.String())

	out.Reset()
	start = time.Now()
	err = Migrate(context.Background(), config.Config{DatabaseURL: "postgres://u@127.0.0.1:5432/db?sslmode=bogus"}, &out)
	if err == nil || time.Since(start) > 5*time.Second || strings.Contains(out.String(), "waiting") {
		t.Fatalf("a URL that cannot parse: err %v after %v, printed %q; want an error at once", err, time.Since(start), out.String())
	}
}
