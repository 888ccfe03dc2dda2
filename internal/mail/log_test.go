package mail

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestLog(t *testing.T) {
	m := Message{To: "a@example.com", Subject: "Reset your password", Text: "Your token: fbt_secret"}
	tests := []struct {
		name        string
		includeBody bool
	}{
		{"without body", false},
		{"with body", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := NewLog(slog.New(slog.NewJSONHandler(&buf, nil)), tt.includeBody)
			if err := l.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("want one JSON record, got %q: %v", buf.String(), err)
			}
			if rec["level"] != "INFO" || rec["to"] != m.To || rec["subject"] != m.Subject {
				t.Errorf("record = %v, want INFO with to and subject", rec)
			}
			text, logged := rec["text"]
			if logged != tt.includeBody {
				t.Errorf("text logged = %v, want %v", logged, tt.includeBody)
			}
			if tt.includeBody && text != m.Text {
				t.Errorf("text = %q, want %q", text, m.Text)
			}
			if !tt.includeBody && bytes.Contains(buf.Bytes(), []byte("fbt_secret")) {
				t.Errorf("the token leaked into the log: %s", buf.String())
			}
		})
	}
}
