package dashboard

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// TestAssetsStayOnThisOrigin: the pages load nothing from another host
// (no CDN, no web fonts), run no inline script or style (the CSP would
// refuse them), and never write HTML from strings (Trusted Types would).
func TestAssetsStayOnThisOrigin(t *testing.T) {
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	html := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setTimeout\(['"\x60]`)
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=`)
	n := 0
	err := fs.WalkDir(webFS, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := fs.ReadFile(webFS, p)
		if err != nil {
			return err
		}
		// A namespace name and a placeholder's documentation domain are
		// never fetched.
		text := strings.NewReplacer("http://www.w3.org/2000/svg", "", "https://example.com/", "").Replace(string(b))
		if m := url.FindString(text); m != "" {
			t.Errorf("%s refers to another host: %q", p, m)
		}
		if strings.HasSuffix(p, ".js") {
			if m := html.FindString(text); m != "" {
				t.Errorf("%s writes HTML or code from a string: %q", p, m)
			}
		}
		if strings.HasSuffix(p, ".html") {
			if m := inline.FindString(text); m != "" {
				t.Errorf("%s has inline script or style: %q", p, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("only %d assets embedded", n)
	}
}
