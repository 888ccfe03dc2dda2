package retry

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	prod := Schedule{Delays: DefaultDelays, Jitter: 0.2, rand: func() float64 { return 0.5 }}
	test := Schedule{Delays: []time.Duration{time.Second, 2 * time.Second}, Jitter: 0.2, rand: func() float64 { return 0.5 }}
	cases := []struct {
		name       string
		s          Schedule
		attempt    int
		retryAfter time.Duration
		slow       bool
		want       time.Duration
		ok         bool
	}{
		{"first retry", prod, 1, 0, false, 5 * time.Second, true},
		{"last retry", prod, 9, 0, false, 24 * time.Hour, true},
		{"no attempts left", prod, 10, 0, false, 0, false},
		{"timeout waits a minute", prod, 1, 0, true, time.Minute, true},
		{"Retry-After within range", prod, 2, 7 * time.Minute, false, 7 * time.Minute, true},
		{"Retry-After capped at twice", prod, 2, 3 * time.Hour, false, 10 * time.Minute, true},
		{"Retry-After cannot hurry", prod, 2, time.Second, false, 5 * time.Minute, true},
		{"test schedule keeps its pace when slow", test, 1, 0, true, time.Second, true},
		{"never under a second", Schedule{Delays: []time.Duration{time.Millisecond}}, 1, 0, false, time.Second, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := c.s.Next(c.attempt, c.retryAfter, c.slow)
			if got != c.want || ok != c.ok {
				t.Fatalf("Next = %v, %v; want %v, %v", got, ok, c.want, c.ok)
			}
		})
	}
	// Jitter spreads a delay by up to ±20 %.
	for _, r := range []float64{0, 1} {
		s := Schedule{Delays: []time.Duration{100 * time.Second}, Jitter: 0.2, rand: func() float64 { return r }}
		got, _ := s.Next(1, 0, false)
		if want := time.Duration(float64(100*time.Second) * (0.8 + 0.4*r)); got != want {
			t.Fatalf("jitter %v: %v, want %v", r, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    []time.Duration
		wantErr string
	}{
		{"", DefaultDelays, ""},
		{"1s, 2m,3h", []time.Duration{time.Second, 2 * time.Minute, 3 * time.Hour}, ""},
		{"1s,,2s", nil, `entry 2, "", is not a positive Go duration`},
		{"1s,-2s", nil, `entry 2, "-2s", is not a positive Go duration`},
		{"5", nil, `entry 1, "5", is not a positive Go duration`},
		{strings.Repeat("1s,", MaxRetries) + "1s", nil, "has 51 entries; at most 50 retries are allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) = %v, %v; want an error saying %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
	// The default is a copy: changing it does not change the next one.
	d, _ := Parse("")
	d[0] = time.Hour
	if DefaultDelays[0] == time.Hour {
		t.Fatal("Parse returned DefaultDelays itself")
	}
}

func TestScheduleWait(t *testing.T) {
	s := Schedule{Delays: []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute}, Jitter: 0.2}
	for n, want := range map[int]time.Duration{0: 0, 1: 5 * time.Second, 2: 5 * time.Minute, 3: 30 * time.Minute, 4: 30 * time.Minute, 100: 30 * time.Minute} {
		if got := s.Wait(n); got != want {
			t.Errorf("Wait(%d) = %v, want %v", n, got, want)
		}
	}
	if got := (Schedule{}).Wait(1); got != 0 {
		t.Errorf("an empty schedule's Wait(1) = %v, want 0", got)
	}
}
