package tasks

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// ParseRedisURL turns REDIS_URL into asynq's connection options:
//
//	redis://[user:pass@]host:port[/db]           one server
//	rediss://[user:pass@]host:port[/db]          one server over TLS
//	redis-sentinel://[user:pass@]h1:p1,h2:p2[/db]?master=NAME[&sentinel_password=P]
//	redis-cluster://[user:pass@]h1:p1,h2:p2      Redis Cluster (seed nodes)
//
// Unlike url.Parse, its errors never repeat the URL, which may carry a password.
func ParseRedisURL(raw string) (asynq.RedisConnOpt, error) {
	if raw == "" {
		return nil, errors.New("REDIS_URL is empty: set it (e.g. redis://127.0.0.1:6379/0) or use --embedded")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("REDIS_URL is not a URL: expected redis://[user:pass@]host:port[/db]")
	}
	user := u.User.Username()
	pass, _ := u.User.Password()
	db, err := redisDB(u.Path)
	if err != nil {
		return nil, err
	}
	if u.Host == "" {
		return nil, fmt.Errorf("REDIS_URL has no host: expected %s://host:port", u.Scheme)
	}
	switch u.Scheme {
	case "redis", "rediss":
		opt := asynq.RedisClientOpt{Addr: u.Host, Username: user, Password: pass, DB: db}
		if u.Scheme == "rediss" {
			opt.TLSConfig = &tls.Config{ServerName: hostOnly(u.Host), MinVersion: tls.VersionTLS12}
		}
		return opt, nil
	case "redis-sentinel":
		master := u.Query().Get("master")
		if master == "" {
			return nil, errors.New("REDIS_URL: redis-sentinel:// needs ?master=NAME")
		}
		sp := u.Query().Get("sentinel_password")
		if sp == "" {
			sp = pass
		}
		return asynq.RedisFailoverClientOpt{
			MasterName: master, SentinelAddrs: strings.Split(u.Host, ","),
			Username: user, Password: pass, SentinelPassword: sp, DB: db,
		}, nil
	case "redis-cluster":
		if db != 0 {
			return nil, errors.New("REDIS_URL: Redis Cluster has only database 0")
		}
		return asynq.RedisClusterClientOpt{Addrs: strings.Split(u.Host, ","), Username: user, Password: pass}, nil
	default:
		return nil, fmt.Errorf("REDIS_URL scheme %q is not supported: use redis, rediss, redis-sentinel or redis-cluster", u.Scheme)
	}
}

// NewRedisClient opens a go-redis client for opt, to share between asynq's client, inspector and
// server and our own ledger.
func NewRedisClient(opt asynq.RedisConnOpt) redis.UniversalClient {
	return opt.MakeRedisClient().(redis.UniversalClient)
}

func redisDB(path string) (int, error) {
	p := strings.Trim(path, "/")
	if p == "" {
		return 0, nil
	}
	db, err := strconv.Atoi(p)
	if err != nil || db < 0 {
		return 0, errors.New("REDIS_URL: the path must be a database number, e.g. /0")
	}
	return db, nil
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}
