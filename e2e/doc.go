// Package e2e holds process-level tests: real `worker` and `cphsim` processes built from this
// module, talking over loopback to a real Redis (REDIS_URL) or an in-test miniredis, killed and
// restarted as an operator or a crash would. They check what the unit and pipeline tests cannot:
// that the exactly-once promise survives SIGKILL, SIGTERM, several processes sharing one rate
// limit, and configuration mistakes at start-up.
//
// The chaos suite (chaos_test.go) runs only with CHAOS=1, through `make chaos`.
package e2e
