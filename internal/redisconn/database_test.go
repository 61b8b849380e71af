package redisconn

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/hibiken/asynq"
)

func TestNoSuchDatabase(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errors.New("ERR DB index is out of range"), true},
		{errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), false},
		{errors.New("WRONGPASS invalid username-password pair"), false},
		{nil, false},
	} {
		if got := NoSuchDatabase(tc.err); got != tc.want {
			t.Errorf("NoSuchDatabase(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// The words are Redis's own: a real server refuses database 99 with them.
func TestNoSuchDatabaseOnARealRedis(t *testing.T) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		t.Skip("needs a real Redis (REDIS_URL): miniredis has any number of databases")
	}
	opt, err := ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	one, ok := opt.(asynq.RedisClientOpt)
	if !ok {
		t.Skip("REDIS_URL is not one server")
	}
	one.DB = 99
	rdb := NewClient(one)
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); !NoSuchDatabase(err) {
		t.Fatalf("PING on database 99: %v; want Redis's \"DB index is out of range\"", err)
	}
}
