// Package e2e runs Fluxhook end to end: the api, dispatcher and worker
// binaries (and the all-in-one fluxhook) as real processes against a real
// NATS server built from the pinned nats-server module, PostgreSQL and
// Redis, delivering to a receiver that verifies every request the way the
// seeds' Express example does.
//
// The tests build the binaries once per run (see binaries in
// harness_test.go), skip under -short, and take their PostgreSQL and
// Redis from FLUXHOOK_TEST_POSTGRES_URL and FLUXHOOK_TEST_REDIS_URL (make
// test-e2e starts throwaway servers). Scenarios that restart PostgreSQL
// start a private server of their own from the installed binaries.
//
// Knobs: FLUXHOOK_E2E_EVENTS (worker kill, 5,000),
// FLUXHOOK_E2E_RESTART_EVENTS (NATS restart, 5,000),
// FLUXHOOK_E2E_PG_EVENTS (PostgreSQL restart, 1,000),
// FLUXHOOK_E2E_REDIS_EVENTS (Redis stop, 2,000) and
// FLUXHOOK_E2E_AIO_EVENTS (all-in-one kill, 5,000) set the event counts;
// FLUXHOOK_E2E_LOG_LEVEL (default warn) sets the processes' log level,
// whose output a failing test shows; FLUXHOOK_E2E_BINDIR points at
// binaries built beforehand (api, dispatcher, worker, fluxhook and
// nats-server) instead of building them; FLUXHOOK_E2E_KEEP_LOGS names a
// directory where every process's whole output is written at the end of
// its test, passing or not.
//
// The chaos runner (chaos_test.go, make chaos) and the soak
// (soak_test.go, make soak) run the production layout — api x2,
// dispatcher, worker x2, a three-node NATS cluster with R3 streams, a
// private PostgreSQL and a private Redis (harness_chaos_test.go) — under
// a steady load. FLUXHOOK_CHAOS picks the scenarios (unset: the short
// subset make test runs; "all"; or names), FLUXHOOK_CHAOS_RATE the
// events per second (25), FLUXHOOK_CHAOS_REPORT a file for the table;
// FLUXHOOK_SOAK_DURATION turns the soak on; FLUXHOOK_SOAK_INTERVAL (1m),
// FLUXHOOK_SOAK_RATE (20) and FLUXHOOK_SOAK_RETRY_SCHEDULE shape it.
package e2e
