// Package testkit holds the helpers that the tests of several packages share: a Redis for one
// test (REDIS_URL or miniredis) and the deletion of its keys, random names, polling until a
// condition holds, and a buffer that a running process writes while the test reads it.
//
// It is imported only by tests (_test.go files), never by production code. It may import
// internal/redisconn but not internal/tasks, whose own tests import it.
package testkit
