package config

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var (
	key32    = bytes.Repeat([]byte{0xfb}, 32) // 0xfb makes std and url alphabets differ
	secret32 = strings.Repeat("s", 32)
)

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		DatabaseURL:       "sqlite://./data/fluxhook.db",
		HTTPAddr:          ":8080",
		AdminAddr:         ":9090",
		PublicURL:         "http://localhost:8080",
		DataDir:           "./data",
		RetrySchedule:     []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour},
		LogLevel:          slog.LevelInfo,
		LogFormat:         "json",
		ShutdownTimeout:   25 * time.Second,
		AccessTokenTTL:    15 * time.Minute,
		RefreshTokenTTL:   720 * time.Hour,
		DeliveryTimeout:   15 * time.Second,
		DisableAfter:      120 * time.Hour,
		DeliveryRetention: 720 * time.Hour,
		EventRetention:    168 * time.Hour,
		ReplayRate:        100,
		AuthRateLimit:     20,
		MinPasswordLength: 12,
		MaxBodyBytes:      1 << 20,
		WorkerConcurrency: 64,
		WorkerAckWait:     30 * time.Second,
		StreamReplicas:    1,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if p, ok := c.SQLitePath(); !ok || p != "./data/fluxhook.db" {
		t.Errorf("SQLitePath() = %q, %v", p, ok)
	}
	if c.IsPostgres() {
		t.Error("IsPostgres() = true for the default SQLite URL")
	}
}

func TestLoadGood(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c Config)
	}{
		{"postgres", map[string]string{"FLUXHOOK_DATABASE_URL": "postgres://u:p@db:5432/fluxhook?sslmode=disable"}, func(t *testing.T, c Config) {
			if !c.IsPostgres() {
				t.Error("IsPostgres() = false")
			}
			if _, ok := c.SQLitePath(); ok {
				t.Error("SQLitePath() ok for a postgres URL")
			}
		}},
		{"postgresql", map[string]string{"FLUXHOOK_DATABASE_URL": "postgresql://db/fluxhook"}, func(t *testing.T, c Config) {
			if !c.IsPostgres() {
				t.Error("IsPostgres() = false")
			}
		}},
		{"sqlite relative", map[string]string{"FLUXHOOK_DATABASE_URL": "sqlite://var/f.db"}, sqliteIs("var/f.db")},
		{"sync interval", map[string]string{"FLUXHOOK_NATS_SYNC_INTERVAL": "100ms"}, func(t *testing.T, c Config) {
			if c.NATSSyncInterval != 100*time.Millisecond {
				t.Errorf("NATSSyncInterval = %v", c.NATSSyncInterval)
			}
		}},
		{"sync always", map[string]string{"FLUXHOOK_NATS_SYNC_INTERVAL": "always"}, func(t *testing.T, c Config) {
			if c.NATSSyncInterval != 0 {
				t.Errorf("NATSSyncInterval = %v", c.NATSSyncInterval)
			}
		}},
		{"sqlite opaque", map[string]string{"FLUXHOOK_DATABASE_URL": "sqlite:f.db"}, sqliteIs("f.db")},
		{"sqlite absolute", map[string]string{"FLUXHOOK_DATABASE_URL": "sqlite:///srv/f.db"}, sqliteIs("/srv/f.db")},
		{"nats list", map[string]string{"FLUXHOOK_NATS_URL": "nats://a:4222, nats://user:pw@b:4222,tls://c"}, func(t *testing.T, c Config) {
			if c.NATSURL != "nats://a:4222, nats://user:pw@b:4222,tls://c" {
				t.Errorf("NATSURL = %q", c.NATSURL)
			}
		}},
		{"redis", map[string]string{"FLUXHOOK_REDIS_URL": "rediss://:pw@redis:6380/2"}, func(t *testing.T, c Config) {
			if c.RedisURL != "rediss://:pw@redis:6380/2" {
				t.Errorf("RedisURL = %q", c.RedisURL)
			}
		}},
		{"addresses and public URL default", map[string]string{"FLUXHOOK_HTTP_ADDR": "127.0.0.1:0", "FLUXHOOK_ADMIN_ADDR": "[::1]:65535"}, func(t *testing.T, c Config) {
			if c.HTTPAddr != "127.0.0.1:0" || c.AdminAddr != "[::1]:65535" || c.PublicURL != "http://localhost:0" {
				t.Errorf("HTTPAddr %q AdminAddr %q PublicURL %q", c.HTTPAddr, c.AdminAddr, c.PublicURL)
			}
		}},
		{"public URL trailing slash", map[string]string{"FLUXHOOK_PUBLIC_URL": "https://hooks.example.com/base/"}, func(t *testing.T, c Config) {
			if c.PublicURL != "https://hooks.example.com/base" {
				t.Errorf("PublicURL = %q", c.PublicURL)
			}
		}},
		{"secrets", map[string]string{"FLUXHOOK_JWT_SECRET": secret32 + "\n", "FLUXHOOK_ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(key32)}, func(t *testing.T, c Config) {
			if string(c.JWTSecret) != secret32 || !bytes.Equal(c.EncryptionKey, key32) {
				t.Errorf("JWTSecret %q EncryptionKey %x", c.JWTSecret, c.EncryptionKey)
			}
			if err := c.RequireProductionSecrets(); err != nil {
				t.Errorf("RequireProductionSecrets: %v", err)
			}
		}},
		{"key url raw", map[string]string{"FLUXHOOK_ENCRYPTION_KEY": base64.RawURLEncoding.EncodeToString(key32)}, keyIs(key32)},
		{"key url padded", map[string]string{"FLUXHOOK_ENCRYPTION_KEY": base64.URLEncoding.EncodeToString(key32)}, keyIs(key32)},
		{"key std raw", map[string]string{"FLUXHOOK_ENCRYPTION_KEY": base64.RawStdEncoding.EncodeToString(key32)}, keyIs(key32)},
		{"admin", map[string]string{"FLUXHOOK_ADMIN_EMAIL": "ops@example.com", "FLUXHOOK_ADMIN_PASSWORD": " twelve chars"}, func(t *testing.T, c Config) {
			if c.AdminEmail != "ops@example.com" || c.AdminPassword != " twelve chars" {
				t.Errorf("admin %q %q", c.AdminEmail, c.AdminPassword)
			}
		}},
		{"min password length lets the admin password follow it", map[string]string{"FLUXHOOK_MIN_PASSWORD_LENGTH": "8",
			"FLUXHOOK_ADMIN_EMAIL": "ops@example.com", "FLUXHOOK_ADMIN_PASSWORD": "password"}, func(t *testing.T, c Config) {
			if c.MinPasswordLength != 8 || c.AdminPassword != "password" {
				t.Errorf("MinPasswordLength %d, AdminPassword %q", c.MinPasswordLength, c.AdminPassword)
			}
		}},
		{"min password length upper bound", map[string]string{"FLUXHOOK_MIN_PASSWORD_LENGTH": "256"}, func(t *testing.T, c Config) {
			if c.MinPasswordLength != 256 {
				t.Errorf("MinPasswordLength = %d", c.MinPasswordLength)
			}
		}},
		{"smtp", map[string]string{"FLUXHOOK_SMTP_URL": "smtps://u:p@mail.example.com:465"}, func(t *testing.T, c Config) {
			if c.SMTPURL == nil || c.SMTPURL.Hostname() != "mail.example.com" || c.SMTPURL.Port() != "465" {
				t.Errorf("SMTPURL = %v", c.SMTPURL)
			}
		}},
		{"bools", map[string]string{"FLUXHOOK_ALLOW_INSECURE_TARGETS": "true", "FLUXHOOK_ALLOW_PRIVATE_TARGETS": "1"}, func(t *testing.T, c Config) {
			if !c.AllowInsecureTargets || !c.AllowPrivateTargets {
				t.Errorf("insecure %v private %v", c.AllowInsecureTargets, c.AllowPrivateTargets)
			}
		}},
		{"retry schedule", map[string]string{"FLUXHOOK_RETRY_SCHEDULE": "1s, 2s,500ms"}, func(t *testing.T, c Config) {
			want := []time.Duration{time.Second, 2 * time.Second, 500 * time.Millisecond}
			if !reflect.DeepEqual(c.RetrySchedule, want) {
				t.Errorf("RetrySchedule = %v", c.RetrySchedule)
			}
		}},
		{"logging", map[string]string{"FLUXHOOK_LOG_LEVEL": "DEBUG", "FLUXHOOK_LOG_FORMAT": "text"}, func(t *testing.T, c Config) {
			if c.LogLevel != slog.LevelDebug || c.LogFormat != "text" {
				t.Errorf("LogLevel %v LogFormat %q", c.LogLevel, c.LogFormat)
			}
		}},
		{"durations and numbers", map[string]string{
			"FLUXHOOK_SHUTDOWN_TIMEOUT": "5s", "FLUXHOOK_DELIVERY_TIMEOUT": "1m",
			"FLUXHOOK_AUTH_RATE_LIMIT": "1", "FLUXHOOK_MAX_BODY_BYTES": "67108864", "FLUXHOOK_WORKER_CONCURRENCY": "4096",
		}, func(t *testing.T, c Config) {
			if c.ShutdownTimeout != 5*time.Second || c.DeliveryTimeout != time.Minute || c.AuthRateLimit != 1 || c.MaxBodyBytes != 64<<20 || c.WorkerConcurrency != 4096 {
				t.Errorf("got %v %v %d %d %d", c.ShutdownTimeout, c.DeliveryTimeout, c.AuthRateLimit, c.MaxBodyBytes, c.WorkerConcurrency)
			}
		}},
		{"trusted proxies", map[string]string{"FLUXHOOK_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7,::ffff:172.16.0.1, fd00::1/64"}, func(t *testing.T, c Config) {
			want := []netip.Prefix{
				netip.MustParsePrefix("10.0.0.0/8"),
				netip.MustParsePrefix("192.168.1.7/32"),
				netip.MustParsePrefix("172.16.0.1/32"),
				netip.MustParsePrefix("fd00::/64"),
			}
			if !reflect.DeepEqual(c.TrustedProxies, want) {
				t.Errorf("TrustedProxies = %v", c.TrustedProxies)
			}
		}},
		{"allowed target networks", map[string]string{"FLUXHOOK_ALLOWED_TARGET_CIDRS": "10.20.0.0/16, 192.168.5.9, fd12::/16"}, func(t *testing.T, c Config) {
			want := []netip.Prefix{
				netip.MustParsePrefix("10.20.0.0/16"),
				netip.MustParsePrefix("192.168.5.9/32"),
				netip.MustParsePrefix("fd12::/16"),
			}
			if !reflect.DeepEqual(c.AllowedTargetCIDRs, want) || c.AllowPrivateTargets {
				t.Errorf("AllowedTargetCIDRs = %v, AllowPrivateTargets = %v", c.AllowedTargetCIDRs, c.AllowPrivateTargets)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func sqliteIs(want string) func(*testing.T, Config) {
	return func(t *testing.T, c Config) {
		t.Helper()
		if p, ok := c.SQLitePath(); !ok || p != want {
			t.Errorf("SQLitePath() = %q, %v; want %q", p, ok, want)
		}
	}
}

func keyIs(want []byte) func(*testing.T, Config) {
	return func(t *testing.T, c Config) {
		t.Helper()
		if !bytes.Equal(c.EncryptionKey, want) {
			t.Errorf("EncryptionKey = %x, want %x", c.EncryptionKey, want)
		}
	}
}

func TestLoadBad(t *testing.T) {
	tests := []struct {
		name, value string
		// wantIn must appear in the message; the variable name is checked
		// for every case.
		wantIn string
		// secret must not appear in the message.
		secret string
	}{
		{"FLUXHOOK_DATABASE_URL", "mysql://db/x", "neither a postgres", ""},
		{"FLUXHOOK_DATABASE_URL", "sqlite://", "no file path", ""},
		{"FLUXHOOK_DATABASE_URL", "sqlite:x.db?_pragma=foo", "query parameters", ""},
		{"FLUXHOOK_DATABASE_URL", "mysql://root:hunter2hunter2@db/x", "neither", "hunter2hunter2"},
		{"FLUXHOOK_NATS_URL", "nats:4222", "not a nats:// URL", ""},
		{"FLUXHOOK_NATS_URL", "nats://a:4222,http://b", `"http://b"`, ""},
		{"FLUXHOOK_NATS_URL", "nats://a:99999", "invalid port", ""},
		{"FLUXHOOK_REDIS_URL", "http://redis:6379", "not a redis://", ""},
		{"FLUXHOOK_REDIS_URL", "redis://redis:6379/x", "database number", ""},
		{"FLUXHOOK_REDIS_URL", "memcache://u:topsecretpw@h", "not a redis://", "topsecretpw"},
		{"FLUXHOOK_HTTP_ADDR", "abc", `"abc" is not a host:port address`, ""},
		{"FLUXHOOK_HTTP_ADDR", ":70000", "between 0 and 65535", ""},
		{"FLUXHOOK_ADMIN_ADDR", "localhost:http", "not a number", ""},
		{"FLUXHOOK_JWT_SECRET", "tooshortsecret", "at least 32", "tooshortsecret"},
		{"FLUXHOOK_ENCRYPTION_KEY", "not base64 at all!", "not valid base64", "not base64 at all!"},
		{"FLUXHOOK_ENCRYPTION_KEY", base64.StdEncoding.EncodeToString(make([]byte, 16)), "decodes to 16 bytes", base64.StdEncoding.EncodeToString(make([]byte, 16))},
		{"FLUXHOOK_ADMIN_PASSWORD", "only the password", "required when FLUXHOOK_ADMIN_PASSWORD", "only the password"},
		{"FLUXHOOK_ADMIN_EMAIL", "ops@example.com", "FLUXHOOK_ADMIN_PASSWORD: required", ""},
		{"FLUXHOOK_PUBLIC_URL", "hooks.example.com", "absolute http", ""},
		{"FLUXHOOK_PUBLIC_URL", "ftp://hooks.example.com", "absolute http", ""},
		{"FLUXHOOK_PUBLIC_URL", "https://hooks.example.com/?a=b", "query", ""},
		{"FLUXHOOK_SMTP_URL", "mail.example.com:25", "not an smtp://", ""},
		{"FLUXHOOK_SMTP_URL", "http://u:mailpassword1@mail", "not an smtp://", "mailpassword1"},
		{"FLUXHOOK_ALLOW_INSECURE_TARGETS", "yes", "not a boolean", ""},
		{"FLUXHOOK_ALLOW_PRIVATE_TARGETS", "on", "not a boolean", ""},
		{"FLUXHOOK_RETRY_SCHEDULE", "5s,,1m", "entry 2", ""},
		{"FLUXHOOK_RETRY_SCHEDULE", "5s,0s", "entry 2", ""},
		{"FLUXHOOK_RETRY_SCHEDULE", "5x", "entry 1", ""},
		{"FLUXHOOK_RETRY_SCHEDULE", strings.Repeat("1s,", 50) + "1s", "51 entries", ""},
		{"FLUXHOOK_LOG_LEVEL", "verbose", "not one of debug", ""},
		{"FLUXHOOK_LOG_FORMAT", "xml", "not one of json, text", ""},
		{"FLUXHOOK_SHUTDOWN_TIMEOUT", "-1s", "positive", ""},
		{"FLUXHOOK_ACCESS_TOKEN_TTL", "0", "positive", ""},
		{"FLUXHOOK_REFRESH_TOKEN_TTL", "30d", "positive", ""},
		{"FLUXHOOK_DELIVERY_TIMEOUT", "15", "positive", ""},
		{"FLUXHOOK_DISABLE_AFTER", "soon", "positive", ""},
		{"FLUXHOOK_DELIVERY_RETENTION", "-720h", "positive", ""},
		{"FLUXHOOK_AUTH_RATE_LIMIT", "0", "between 1 and", ""},
		{"FLUXHOOK_MIN_PASSWORD_LENGTH", "7", "between 8 and 256", ""},
		{"FLUXHOOK_MIN_PASSWORD_LENGTH", "257", "between 8 and 256", ""},
		{"FLUXHOOK_MIN_PASSWORD_LENGTH", "twelve", "between 8 and 256", ""},
		{"FLUXHOOK_TRUSTED_PROXIES", "10.0.0.0/33", `"10.0.0.0/33"`, ""},
		{"FLUXHOOK_TRUSTED_PROXIES", "10.0.0.1,proxy.local", `"proxy.local"`, ""},
		{"FLUXHOOK_ALLOWED_TARGET_CIDRS", "10.0.0.0/8,receivers.internal", `"receivers.internal"`, ""},
		{"FLUXHOOK_MAX_BODY_BYTES", "1023", "between 1024 and 67108864", ""},
		{"FLUXHOOK_MAX_BODY_BYTES", "67108865", "between 1024 and 67108864", ""},
		{"FLUXHOOK_WORKER_CONCURRENCY", "4097", "between 1 and 4096", ""},
		{"FLUXHOOK_WORKER_CONCURRENCY", "many", "between 1 and 4096", ""},
		{"FLUXHOOK_NATS_SYNC_INTERVAL", "often", "not a positive Go duration", ""},
		{"FLUXHOOK_WORKER_ACK_WAIT", "-1s", "not a positive Go duration", ""},
		{"FLUXHOOK_STREAM_REPLICAS", "7", "between 1 and 5", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			_, err := Load(env(map[string]string{tt.name: tt.value}))
			if err == nil {
				t.Fatal("Load succeeded")
			}
			msg := err.Error()
			// Half of the admin pair is reported against the missing
			// half; every other message starts with its own variable.
			wantVar := tt.name
			switch tt.name {
			case "FLUXHOOK_ADMIN_PASSWORD":
				wantVar = "FLUXHOOK_ADMIN_EMAIL"
			case "FLUXHOOK_ADMIN_EMAIL":
				wantVar = "FLUXHOOK_ADMIN_PASSWORD"
			}
			if !strings.HasPrefix(msg, wantVar+": ") {
				t.Errorf("message does not start with %s: %q", wantVar, msg)
			}
			if !strings.Contains(msg, tt.wantIn) {
				t.Errorf("message %q does not contain %q", msg, tt.wantIn)
			}
			if tt.secret != "" && strings.Contains(msg, tt.secret) {
				t.Errorf("message %q reveals the secret", msg)
			}
		})
	}
}

func TestLoadBadAdminFields(t *testing.T) {
	_, err := Load(env(map[string]string{
		"FLUXHOOK_ADMIN_EMAIL":    "Ops <ops@example.com>",
		"FLUXHOOK_ADMIN_PASSWORD": "short",
	}))
	if err == nil {
		t.Fatal("Load succeeded")
	}
	for _, want := range []string{
		`FLUXHOOK_ADMIN_EMAIL: "Ops <ops@example.com>" is not an email address`,
		"FLUXHOOK_ADMIN_PASSWORD: is 5 characters long; it must be at least 12",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// A raised minimum applies to the bootstrap admin's password too, so a
// deployment cannot start with an admin weaker than its users.
func TestLoadAdminPasswordFollowsMinimum(t *testing.T) {
	_, err := Load(env(map[string]string{
		"FLUXHOOK_MIN_PASSWORD_LENGTH": "20",
		"FLUXHOOK_ADMIN_EMAIL":         "ops@example.com",
		"FLUXHOOK_ADMIN_PASSWORD":      "fourteen chars",
	}))
	want := "FLUXHOOK_ADMIN_PASSWORD: is 14 characters long; it must be at least 20"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Load error = %v, want it to contain %q", err, want)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := Load(env(map[string]string{
		"FLUXHOOK_HTTP_ADDR":          "abc",
		"FLUXHOOK_LOG_LEVEL":          "loud",
		"FLUXHOOK_WORKER_CONCURRENCY": "0",
	}))
	if err == nil {
		t.Fatal("Load succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 problems, one per line, got %d: %q", len(lines), err)
	}
	for i, name := range []string{"FLUXHOOK_HTTP_ADDR", "FLUXHOOK_LOG_LEVEL", "FLUXHOOK_WORKER_CONCURRENCY"} {
		if !strings.HasPrefix(lines[i], name+": ") {
			t.Errorf("line %d = %q, want it to name %s", i, lines[i], name)
		}
	}
}

func TestRequireProductionSecrets(t *testing.T) {
	tests := []struct {
		name    string
		c       Config
		wantErr []string
	}{
		{"both missing", Config{}, []string{"FLUXHOOK_JWT_SECRET", "FLUXHOOK_ENCRYPTION_KEY"}},
		{"key missing", Config{JWTSecret: []byte(secret32)}, []string{"FLUXHOOK_ENCRYPTION_KEY"}},
		{"secret missing", Config{EncryptionKey: key32}, []string{"FLUXHOOK_JWT_SECRET"}},
		{"both set", Config{JWTSecret: []byte(secret32), EncryptionKey: key32}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.RequireProductionSecrets()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if got := len(strings.Split(err.Error(), "\n")); got != len(tt.wantErr) {
				t.Errorf("got %d problems, want %d: %v", got, len(tt.wantErr), err)
			}
			for _, name := range tt.wantErr {
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error %q does not name %s", err, name)
				}
			}
		})
	}
}

func TestEnsureLocalSecrets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	c, err := Load(env(map[string]string{"FLUXHOOK_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	generated, err := c.EnsureLocalSecrets()
	if err != nil {
		t.Fatalf("first EnsureLocalSecrets: %v", err)
	}
	wantFiles := []string{filepath.Join(dir, JWTSecretFile), filepath.Join(dir, EncryptionKeyFile)}
	if !reflect.DeepEqual(generated, wantFiles) {
		t.Errorf("generated = %v, want %v", generated, wantFiles)
	}
	if len(c.JWTSecret) < MinJWTSecretBytes || len(c.EncryptionKey) != EncryptionKeyBytes {
		t.Fatalf("JWTSecret %d bytes, EncryptionKey %d bytes", len(c.JWTSecret), len(c.EncryptionKey))
	}
	if err := c.RequireProductionSecrets(); err != nil {
		t.Errorf("after EnsureLocalSecrets: %v", err)
	}

	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
	for _, f := range wantFiles {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("data dir holds %d entries, want only the 2 secrets (no temporary files left)", len(entries))
	}

	// A restart reads the same values back.
	again, err := Load(env(map[string]string{"FLUXHOOK_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	generated, err = again.EnsureLocalSecrets()
	if err != nil {
		t.Fatalf("second EnsureLocalSecrets: %v", err)
	}
	if len(generated) != 0 {
		t.Errorf("second call generated %v", generated)
	}
	if !bytes.Equal(again.JWTSecret, c.JWTSecret) || !bytes.Equal(again.EncryptionKey, c.EncryptionKey) {
		t.Error("second call read different secrets")
	}

	// The files hold values in the form their variables take, so they can
	// be copied into a production configuration.
	jwt, _ := os.ReadFile(wantFiles[0])
	key, _ := os.ReadFile(wantFiles[1])
	prod, err := Load(env(map[string]string{"FLUXHOOK_JWT_SECRET": string(jwt), "FLUXHOOK_ENCRYPTION_KEY": string(key)}))
	if err != nil {
		t.Fatalf("files' contents as variables: %v", err)
	}
	if !bytes.Equal(prod.JWTSecret, c.JWTSecret) || !bytes.Equal(prod.EncryptionKey, c.EncryptionKey) {
		t.Error("files' contents as variables give different secrets")
	}
}

func TestEnsureLocalSecretsKeepsConfigured(t *testing.T) {
	dir := t.TempDir()
	c := Config{DataDir: dir, JWTSecret: []byte(secret32)}
	generated, err := c.EnsureLocalSecrets()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(dir, EncryptionKeyFile)}; !reflect.DeepEqual(generated, want) {
		t.Errorf("generated = %v, want %v", generated, want)
	}
	if string(c.JWTSecret) != secret32 {
		t.Errorf("configured JWTSecret replaced")
	}
	if _, err := os.Stat(filepath.Join(dir, JWTSecretFile)); !os.IsNotExist(err) {
		t.Errorf("jwt-secret written although configured (stat: %v)", err)
	}
}

func TestEnsureLocalSecretsRefusesBadKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, EncryptionKeyFile)
	if err := os.WriteFile(path, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{DataDir: dir, JWTSecret: []byte(secret32)}
	_, err := c.EnsureLocalSecrets()
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want one naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "c2hvcnQ=\n" {
		t.Errorf("bad key file overwritten: %q", b)
	}
}
