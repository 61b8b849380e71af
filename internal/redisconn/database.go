package redisconn

import "strings"

// NoSuchDatabase reports whether err is Redis refusing the database that REDIS_URL names
// (redis://host/99 on a server with 16 databases: "ERR DB index is out of range"). That is a
// mistake in the configuration, to be reported as bad input, not an outage to wait out: no retry
// can make the database exist. The URL cannot tell it, since the number of databases is the
// server's setting (databases in redis.conf).
func NoSuchDatabase(err error) bool {
	return err != nil && strings.Contains(err.Error(), "DB index is out of range")
}
