package delivery

import "time"

// LoadTimeout is how long HookCache.Get waits for the database.
const LoadTimeout = loadTimeout

// SetClock makes w read the time from now, so a test can walk a webhook's
// run of failures through minutes of FailingGrace without waiting them out.
// Call it before the worker handles its first job.
func SetClock(w *Worker, now func() time.Time) { w.now = now }
