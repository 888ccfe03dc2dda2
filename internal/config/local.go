package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Files in DataDir that keep the all-in-one's generated secrets.
const (
	JWTSecretFile     = "jwt-secret"
	EncryptionKeyFile = "encryption-key"
	AdminPasswordFile = "admin-password"
)

// LocalAdminEmail is the all-in-one's dashboard admin when
// FLUXHOOK_ADMIN_EMAIL is not set.
const LocalAdminEmail = "admin@fluxhook.local"

// EnsureLocalAdmin fills in the all-in-one's dashboard admin when
// FLUXHOOK_ADMIN_EMAIL is not set: LocalAdminEmail, with a password
// generated on first start and kept in DataDir beside the other
// generated secrets, so that every start can print it again. It reports
// whether the password is the kept one.
func (c *Config) EnsureLocalAdmin() (kept bool, err error) {
	if c.AdminEmail != "" {
		return false, nil
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return false, fmt.Errorf("FLUXHOOK_DATA_DIR: %w", err)
	}
	path := filepath.Join(c.DataDir, AdminPasswordFile)
	pw, _, err := readOrCreate(path, 15)
	if err != nil {
		return false, err
	}
	if len(pw) < c.MinPasswordLength || len(pw) < DefaultMinPasswordLength {
		return false, fmt.Errorf("%s holds a password shorter than %d characters; delete it to generate a new one", path, max(c.MinPasswordLength, DefaultMinPasswordLength))
	}
	c.AdminEmail, c.AdminPassword = LocalAdminEmail, pw
	return true, nil
}

// EnsureLocalSecrets fills in JWTSecret and EncryptionKey for the
// all-in-one process when they were not configured. They are read from
// DataDir, or generated and kept there on first start, so that a restart
// keeps users signed in and stored webhook secrets decryptable.
//
// Each file holds the value in the form its environment variable takes,
// so moving to separate binaries is a matter of copying the files'
// contents into FLUXHOOK_JWT_SECRET and FLUXHOOK_ENCRYPTION_KEY.
// generated lists the paths of files created by this call.
func (c *Config) EnsureLocalSecrets() (generated []string, err error) {
	if len(c.JWTSecret) > 0 && len(c.EncryptionKey) > 0 {
		return nil, nil
	}
	if c.DataDir == "" {
		return nil, errors.New("FLUXHOOK_DATA_DIR: empty; it is needed to keep the generated secrets")
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}

	if len(c.JWTSecret) == 0 {
		path := filepath.Join(c.DataDir, JWTSecretFile)
		v, created, err := readOrCreate(path, 48)
		if err != nil {
			return generated, err
		}
		if len(v) < MinJWTSecretBytes {
			return generated, fmt.Errorf("%s: holds %d bytes; it must hold at least %d (delete it to generate a new one, which signs everyone out)", path, len(v), MinJWTSecretBytes)
		}
		c.JWTSecret = []byte(v)
		if created {
			generated = append(generated, path)
		}
	}

	if len(c.EncryptionKey) == 0 {
		path := filepath.Join(c.DataDir, EncryptionKeyFile)
		v, created, err := readOrCreate(path, EncryptionKeyBytes)
		if err != nil {
			return generated, err
		}
		// Never regenerate a bad key file: the secrets it encrypted would
		// be lost for good.
		key, err := decodeKey(v)
		if err != nil {
			return generated, fmt.Errorf("%s: %w", path, err)
		}
		c.EncryptionKey = key
		if created {
			generated = append(generated, path)
		}
	}
	return generated, nil
}

// readOrCreate returns the trimmed contents of path, first creating it
// with the base64 of n random bytes if it does not exist.
func readOrCreate(path string, n int) (value string, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, fmt.Errorf("read %s: %w", path, err)
	}

	raw := make([]byte, n)
	_, _ = rand.Read(raw) // never fails (crypto/rand panics instead)
	value = base64.StdEncoding.EncodeToString(raw)

	// Written in full to a temporary file and then linked into place:
	// another process starting at the same moment either sees no file or
	// the whole one, and link (unlike rename) never replaces a file that
	// won the race.
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return "", false, fmt.Errorf("create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := tmp.WriteString(value + "\n"); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return "", false, fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", false, fmt.Errorf("read %s: %w", path, err)
			}
			return strings.TrimSpace(string(b)), false, nil
		}
		return "", false, fmt.Errorf("create %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return value, true, nil
}

// syncDir makes the new directory entry durable, so that a crash right
// after start-up cannot lose a key that has already encrypted data. It is
// best effort: some filesystems cannot sync a directory.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
