package lifecycle

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestHTTPServerAnswersEveryAcceptedRequest stops a busy server while
// clients keep connecting: every request must either be answered or be
// refused at connect time; none may be cut off after it was sent.
func TestHTTPServerAnswersEveryAcceptedRequest(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond)
		handled.Add(1)
		io.WriteString(w, "ok")
	})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- HTTPServer(srv, ln, 10*time.Second).Run(ctx) }()

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	url := "http://" + ln.Addr().String() + "/"
	var ok, refused, lost atomic.Int64
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Add(1)
		time.AfterFunc(time.Duration(i)*2*time.Millisecond, func() {
			defer wg.Done()
			res, err := client.Get(url)
			switch {
			case err == nil:
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				ok.Add(1)
			case errors.Is(err, syscall.ECONNREFUSED):
				refused.Add(1)
			default:
				t.Logf("lost: %v", err)
				lost.Add(1)
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	cancel()
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d answered, %d refused, %d lost", ok.Load(), refused.Load(), lost.Load())
	if lost.Load() != 0 || ok.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("%d answered, %d refused, %d lost", ok.Load(), refused.Load(), lost.Load())
	}
}
