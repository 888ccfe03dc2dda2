// Package nodetest runs Node.js scripts for differential tests: the claim
// that our bytes are what JavaScript produces, or accepts, is only proven by
// asking JavaScript.
//
// Like internal/testenv, a missing node skips the test on a developer's
// machine and fails it under CI=true, so a skip never counts as a pass in
// CI.
package nodetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Run runs script with node and returns its standard output. The input is
// written to a file whose path the script finds in process.argv[2] (a file
// rather than stdin, which Node reads unreliably when it is a pipe). It
// fails the test if node exits with an error.
func Run(tb testing.TB, script string, input []byte) []byte {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("node is required under CI=true but not on PATH: %v", err)
		}
		tb.Skipf("node not on PATH (%v); differential test skipped", err)
	}
	dir := tb.TempDir()
	path := filepath.Join(dir, "script.js")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		tb.Fatalf("write node script: %v", err)
	}
	inputPath := filepath.Join(dir, "input")
	if err := os.WriteFile(inputPath, input, 0o600); err != nil {
		tb.Fatalf("write node input: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, path, inputPath)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("node %s: %v\nstderr:\n%s", path, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// EncodeLines frames each item as one line of standard base64, a framing no
// content can break. The script reads them with
// Buffer.from(line, "base64").
func EncodeLines(items [][]byte) []byte {
	var buf bytes.Buffer
	for _, it := range items {
		buf.WriteString(base64.StdEncoding.EncodeToString(it))
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// Lines splits output into lines, without their terminators.
func Lines(out []byte) []string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 64*1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}
