package redisconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// ParseURL turns REDIS_URL into asynq's connection options:
//
//	redis://[user:pass@]host[:port][/db]                      one server
//	rediss://[user:pass@]host[:port][/db][?tls_ca_file=PATH]  one server over TLS
//	redis-sentinel://[user:pass@]h1[:p1],h2[:p2][/db]?master=NAME[&sentinel_password=P][&sentinel_username=U]
//	redis-cluster://[user:pass@]h1[:p1],h2[:p2][/0]           Redis Cluster (seed nodes)
//
// The port defaults to 6379 (26379 for a sentinel); an IPv6 host is written in brackets. A user
// and password in the URL are percent-encoded as in any URL. For Sentinel they are the master's
// (and its replicas') credentials; the sentinels themselves get sentinel_password and
// sentinel_username, and no credentials at all when those are absent, because sentinels are often
// run without a password while the master has one. For rediss://, tls_ca_file names a PEM file of
// the CA that signed the server's certificate (the system's roots otherwise), and
// tls_insecure_skip_verify=true turns verification off, for a throwaway test server only.
// An unknown query parameter is an error, so that a misspelt one is not silently ignored.
//
// Unlike url.Parse, its errors never repeat the URL or any part of it but the scheme and the names
// of query parameters, as the URL may carry passwords.
func ParseURL(raw string) (asynq.RedisConnOpt, error) {
	if raw == "" {
		return nil, errors.New("REDIS_URL is empty: set it (e.g. redis://127.0.0.1:6379/0) or use --embedded")
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !schemePattern.MatchString(scheme) {
		return nil, errors.New("REDIS_URL is not a URL: expected redis://[user:pass@]host:port[/db]")
	}
	defaultPort, params, known := schemeOf(scheme)
	if !known {
		return nil, fmt.Errorf("REDIS_URL scheme %q is not supported: use redis, rediss, redis-sentinel or redis-cluster", scheme)
	}
	// A list of hosts ("h1:p1,h2:p2", IPv6 in brackets) is no URL host that net/url accepts, so the
	// host part is cut out here and url.Parse reads the rest around a placeholder.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	userinfo, hosts := "", rest[:end]
	if i := strings.LastIndex(hosts, "@"); i >= 0 {
		userinfo, hosts = hosts[:i+1], hosts[i+1:]
	}
	u, err := url.Parse(scheme + "://" + userinfo + "placeholder" + rest[end:])
	if err != nil {
		return nil, errors.New("REDIS_URL is not a URL: expected redis://[user:pass@]host:port[/db] (percent-encode special characters in the user and password)")
	}
	if u.Fragment != "" || strings.HasSuffix(raw, "#") {
		return nil, errors.New("REDIS_URL: a fragment (#…) is not allowed; percent-encode '#' in a password as %23")
	}
	addrs, err := redisAddrs(hosts, defaultPort, scheme != "redis" && scheme != "rediss")
	if err != nil {
		return nil, err
	}
	db, err := redisDB(u.Path)
	if err != nil {
		return nil, err
	}
	q, err := redisQuery(u.RawQuery, params)
	if err != nil {
		return nil, err
	}
	user := u.User.Username()
	pass, _ := u.User.Password()
	switch scheme {
	case "redis":
		return asynq.RedisClientOpt{Addr: addrs[0], Username: user, Password: pass, DB: db}, nil
	case "rediss":
		tc, err := redisTLS(addrs[0], q)
		if err != nil {
			return nil, err
		}
		return asynq.RedisClientOpt{Addr: addrs[0], Username: user, Password: pass, DB: db, TLSConfig: tc}, nil
	case "redis-sentinel":
		if q["master"] == "" {
			return nil, errors.New("REDIS_URL: redis-sentinel:// needs ?master=NAME, the name the sentinels monitor")
		}
		return asynq.RedisFailoverClientOpt{
			MasterName: q["master"], SentinelAddrs: addrs,
			SentinelUsername: q["sentinel_username"], SentinelPassword: q["sentinel_password"],
			Username: user, Password: pass, DB: db,
		}, nil
	default: // redis-cluster
		if db != 0 {
			return nil, errors.New("REDIS_URL: Redis Cluster has only database 0")
		}
		return asynq.RedisClusterClientOpt{Addrs: addrs, Username: user, Password: pass}, nil
	}
}

// NewClient opens a go-redis client for opt, to share between asynq's client, inspector and
// server and our own ledger.
func NewClient(opt asynq.RedisConnOpt) redis.UniversalClient {
	return opt.MakeRedisClient().(redis.UniversalClient)
}

var schemePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]{0,30}$`)

// schemeOf tells whether a scheme is supported, the port of an address that names none, and the
// query parameters the scheme takes.
func schemeOf(scheme string) (defaultPort string, params []string, ok bool) {
	switch scheme {
	case "redis", "redis-cluster":
		return "6379", nil, true
	case "rediss":
		return "6379", []string{"tls_ca_file", "tls_insecure_skip_verify"}, true
	case "redis-sentinel":
		return "26379", []string{"master", "sentinel_password", "sentinel_username"}, true
	}
	return "", nil, false
}

// redisAddrs splits the host part into host:port addresses. Its errors name an address by its
// position only: a password with an unencoded '/', '?' or '#' ends up here in part.
func redisAddrs(hosts, defaultPort string, many bool) ([]string, error) {
	if hosts == "" {
		return nil, errors.New("REDIS_URL has no host: expected scheme://host:port")
	}
	parts := strings.Split(hosts, ",")
	if len(parts) > 1 && !many {
		return nil, errors.New("REDIS_URL: only redis-sentinel:// and redis-cluster:// take a list of hosts")
	}
	addrs := make([]string, 0, len(parts))
	for i, p := range parts {
		host, port := p, defaultPort
		if h, pt, err := net.SplitHostPort(p); err == nil {
			host, port = h, pt
		} else if strings.HasPrefix(p, "[") && strings.HasSuffix(p, "]") {
			host = p[1 : len(p)-1]
		}
		n, err := strconv.Atoi(port)
		bare := !strings.HasPrefix(p, "[") // an IPv6 host without brackets is ambiguous
		if host == "" || strings.ContainsAny(host, "[]@/ ") || (bare && strings.Contains(host, ":")) ||
			err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("REDIS_URL: address %d of %d is not host:port (an IPv6 host goes in brackets, a port is 1-65535)", i+1, len(parts))
		}
		addrs = append(addrs, net.JoinHostPort(host, port))
	}
	return addrs, nil
}

func redisDB(path string) (int, error) {
	p := strings.TrimPrefix(path, "/")
	if p == "" {
		return 0, nil
	}
	db, err := strconv.Atoi(p)
	if err != nil || db < 0 {
		return 0, errors.New("REDIS_URL: the path must be a database number, e.g. /0")
	}
	return db, nil
}

// redisQuery decodes the query, refusing parameters that the scheme does not take and parameters
// given twice. Values are never repeated in errors: some are passwords.
func redisQuery(raw string, allowed []string) (map[string]string, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, errors.New("REDIS_URL: the query is malformed (percent-encode special characters in its values)")
	}
	q := make(map[string]string, len(vals))
	for name, vs := range vals {
		known := false
		for _, a := range allowed {
			known = known || a == name
		}
		if !known {
			return nil, fmt.Errorf("REDIS_URL: unknown query parameter %q for this scheme", name)
		}
		if len(vs) != 1 {
			return nil, fmt.Errorf("REDIS_URL: query parameter %q is given %d times", name, len(vs))
		}
		q[name] = vs[0]
	}
	return q, nil
}

// redisTLS is the TLS configuration of a rediss:// URL: the server's certificate verified against
// the system's roots, or against tls_ca_file's, for the URL's host name.
func redisTLS(addr string, q map[string]string) (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(addr)
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if v, ok := q["tls_insecure_skip_verify"]; ok {
		skip, err := strconv.ParseBool(v)
		if err != nil {
			return nil, errors.New("REDIS_URL: tls_insecure_skip_verify must be true or false")
		}
		tc.InsecureSkipVerify = skip
	}
	if path := q["tls_ca_file"]; path != "" {
		if tc.InsecureSkipVerify {
			return nil, errors.New("REDIS_URL: tls_ca_file and tls_insecure_skip_verify=true contradict each other: give one")
		}
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: tls_ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("REDIS_URL: tls_ca_file %s holds no PEM certificate", path)
		}
	}
	return tc, nil
}
