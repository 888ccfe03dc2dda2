// Package bench holds Fluxhook's whole-system benchmarks: the all-in-one
// binary run as a process, loaded through its HTTP API, measured at
// loopback receivers, beside this machine's ceiling for signed HTTP POSTs
// measured in the same run (`make bench`; see delivery_test.go).
//
// These are throughput measurements, not per-operation benchmarks: each
// scenario runs once for a fixed wall time whatever b.N is, and its
// figures are reported with b.ReportMetric (ns/op is suppressed) and in a
// table logged at the end.
package bench
