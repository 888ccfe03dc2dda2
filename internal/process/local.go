package process

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

// LocalAdminEmail is the all-in-one's dashboard admin when none is configured.
const LocalAdminEmail = "admin@fluxhook.local"

// LocalAdmin returns the all-in-one's dashboard admin credentials: the
// configured ones, or ones generated on first start and kept in the data
// directory (mode 0600), so that every start can print them again.
func LocalAdmin(dataDir, email, password string) (string, string, bool, error) {
	if email != "" {
		return email, password, false, nil
	}
	path := filepath.Join(dataDir, "admin-password")
	b, err := os.ReadFile(path)
	if err == nil {
		pw := strings.TrimSpace(string(b))
		if len(pw) < 12 {
			return "", "", false, fmt.Errorf("%s holds a password shorter than 12 characters; delete it to generate a new one", path)
		}
		return LocalAdminEmail, pw, true, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", "", false, fmt.Errorf("read %s: %w", path, err)
	}
	var raw [15]byte
	_, _ = rand.Read(raw[:])
	pw := base64.RawURLEncoding.EncodeToString(raw[:])
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", "", false, fmt.Errorf("FLUXHOOK_DATA_DIR: %w", err)
	}
	if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", "", false, fmt.Errorf("write %s: %w", path, err)
	}
	return LocalAdminEmail, pw, true, nil
}
