package redisconn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestParseURL(t *testing.T) {
	dir := t.TempDir()
	caFile := writeTestCA(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := "tls_ca_file=" + caFile

	tests := []struct {
		url  string
		want asynq.RedisConnOpt
		// tls, for rediss://: the ServerName, and whether a CA pool or skipping verification is set.
		tlsName       string
		tlsCA, tlsNoV bool
	}{
		{url: "redis://127.0.0.1:6379/0", want: asynq.RedisClientOpt{Addr: "127.0.0.1:6379"}},
		{url: "redis://localhost", want: asynq.RedisClientOpt{Addr: "localhost:6379"}},
		{url: "redis://redis.internal:6380/", want: asynq.RedisClientOpt{Addr: "redis.internal:6380"}},
		{url: "redis://:S3cr3t@h:1/15", want: asynq.RedisClientOpt{Addr: "h:1", Password: "S3cr3t", DB: 15}},
		{url: "redis://worker:p%40ss%3Aw%2Frd%25%3F%23@h:1/2", want: asynq.RedisClientOpt{Addr: "h:1", Username: "worker", Password: "p@ss:w/rd%?#", DB: 2}},
		{url: "redis://u:p@ss@h:1/0", want: asynq.RedisClientOpt{Addr: "h:1", Username: "u", Password: "p@ss"}},
		{url: "redis://[::1]:6380/1", want: asynq.RedisClientOpt{Addr: "[::1]:6380", DB: 1}},
		{url: "redis://[::1]", want: asynq.RedisClientOpt{Addr: "[::1]:6379"}},
		{url: "rediss://:pw@redis.example.com:6380/0", want: asynq.RedisClientOpt{Addr: "redis.example.com:6380", Password: "pw"}, tlsName: "redis.example.com"},
		{url: "rediss://127.0.0.1:6380/0?" + ca, want: asynq.RedisClientOpt{Addr: "127.0.0.1:6380"}, tlsName: "127.0.0.1", tlsCA: true},
		{url: "rediss://h?tls_insecure_skip_verify=true", want: asynq.RedisClientOpt{Addr: "h:6379"}, tlsName: "h", tlsNoV: true},
		{url: "rediss://h?tls_insecure_skip_verify=false&" + ca, want: asynq.RedisClientOpt{Addr: "h:6379"}, tlsName: "h", tlsCA: true},
		{
			url: "redis-sentinel://:m%40ster@s1:26380,s2,[::1]:26381/4?master=mymaster&sentinel_password=s%26nt&sentinel_username=sen",
			want: asynq.RedisFailoverClientOpt{MasterName: "mymaster", SentinelAddrs: []string{"s1:26380", "s2:26379", "[::1]:26381"},
				Password: "m@ster", DB: 4, SentinelPassword: "s&nt", SentinelUsername: "sen"},
		},
		{
			// The URL's credentials are the master's; the sentinels get none unless told.
			url:  "redis-sentinel://app:pw@s1:26379?master=m",
			want: asynq.RedisFailoverClientOpt{MasterName: "m", SentinelAddrs: []string{"s1:26379"}, Username: "app", Password: "pw"},
		},
		{url: "redis-cluster://h1:7000,h2:7001,h3", want: asynq.RedisClusterClientOpt{Addrs: []string{"h1:7000", "h2:7001", "h3:6379"}}},
		{url: "redis-cluster://app:c%2Fpw@h1:7000/0", want: asynq.RedisClusterClientOpt{Addrs: []string{"h1:7000"}, Username: "app", Password: "c/pw"}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := ParseURL(tt.url)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if c, ok := got.(asynq.RedisClientOpt); ok {
				tc := c.TLSConfig
				c.TLSConfig = nil
				got = c
				switch {
				case tt.tlsName == "" && tc != nil:
					t.Errorf("TLS for a redis:// URL")
				case tt.tlsName != "" && tc == nil:
					t.Errorf("no TLS for a rediss:// URL")
				case tc != nil && (tc.ServerName != tt.tlsName || (tc.RootCAs != nil) != tt.tlsCA || tc.InsecureSkipVerify != tt.tlsNoV):
					t.Errorf("TLS: server name %q, CA pool %v, skip verify %v", tc.ServerName, tc.RootCAs != nil, tc.InsecureSkipVerify)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestParseURLErrors checks that every malformed REDIS_URL is refused with a message that
// says what is wrong and never holds the password, nor a piece of it, even when a password with
// unencoded special characters breaks the URL apart.
func TestParseURLErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	const pw = "Zx9Qv7Kp"
	tests := []struct{ url, want string }{
		{"", "REDIS_URL is empty"},
		{"localhost:6379", "not a URL"},
		{pw + "@localhost:6379", "not a URL"},
		{"redis:" + pw + "@h:1", "not a URL"},
		{"http://:" + pw + "@h:1/0", `scheme "http" is not supported`},
		{"redis://:" + pw + "@", "no host"},
		{"redis://:" + pw + "@/0", "no host"},
		{"redis://:" + pw + "@h:abc/0", "address 1 of 1 is not host:port"},
		{"redis://:" + pw + "@h:0/0", "address 1 of 1"},
		{"redis://:" + pw + "@h:65536/0", "address 1 of 1"},
		{"redis://:" + pw + "@::1/0", "address 1 of 1"},
		{"redis://:" + pw + "@[::1/0", "address 1 of 1"},
		{"redis://:" + pw + "@h:1/x", "database number"},
		{"redis://:" + pw + "@h:1/-1", "database number"},
		{"redis://:" + pw + "@h:1/0/1", "database number"},
		{"redis://:" + pw + "@h1:1,h2:2/0", "only redis-sentinel:// and redis-cluster://"},
		{"redis://:" + pw + "@h:1/0?tls_ca_file=/x", `unknown query parameter "tls_ca_file"`},
		{"redis://:" + pw + "@h:1/0?password=" + pw, `unknown query parameter "password"`},
		{"redis://:" + pw + "%zz@h:1/0", "not a URL"},
		{"redis://:" + pw + "@h:1/0#frag", "fragment"},
		// A password with an unencoded '#', '/' or '?' splits the URL in the middle of it.
		{"redis://:Zx9Q#v7Kp@h:1/0", "fragment"},
		{"redis://:Zx9Q/v7Kp@h:1/0", "address 1 of 1"},
		{"redis://:Zx9Q?v7Kp@h:1/0", "address 1 of 1"},
		{"redis-cluster://:Zx9Q/v7Kp@h:1,h:2", "address 1 of 1"},
		{"rediss://:" + pw + "@h:1/0?tls_ca_file=" + filepath.Join(dir, "missing.pem"), "tls_ca_file"},
		{"rediss://:" + pw + "@h:1/0?tls_ca_file=" + notPEM, "holds no PEM certificate"},
		{"rediss://:" + pw + "@h:1/0?tls_insecure_skip_verify=maybe", "must be true or false"},
		{"rediss://:" + pw + "@h:1/0?tls_insecure_skip_verify=true&tls_ca_file=" + notPEM, "contradict"},
		{"rediss://:" + pw + "@h:1/0?tls_ca_file=a&tls_ca_file=b", "given 2 times"},
		{"redis-sentinel://:" + pw + "@s1:26379,s2:26379", "needs ?master=NAME"},
		{"redis-sentinel://:" + pw + "@s1:26379?master=", "needs ?master=NAME"},
		{"redis-sentinel://s1:26379?master=m&sentinel_pasword=" + pw, `unknown query parameter "sentinel_pasword"`},
		{"redis-sentinel://s1:26379?master=m&sentinel_password=" + pw + "%zz", "query is malformed"},
		{"redis-sentinel://s1:26379?master=m;sentinel_password=" + pw, "query is malformed"},
		{"redis-sentinel://:" + pw + "@s1:26379,,s2:26379?master=m", "address 2 of 3"},
		{"redis-sentinel://:" + pw + "@s1:26379,s2:x" + pw + "?master=m", "address 2 of 2"},
		{"redis-cluster://:" + pw + "@h1:7000,h2:7001/1", "only database 0"},
		{"redis-cluster://:" + pw + "@h1:7000,h2:99999", "address 2 of 2"},
		{"redis-cluster://:" + pw + "@h1:7000?master=m", `unknown query parameter "master"`},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := ParseURL(tt.url)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not say %q", msg, tt.want)
			}
			for i := 0; i+3 <= len(pw); i++ {
				if strings.Contains(msg, pw[i:i+3]) {
					t.Fatalf("error %q holds %q, a piece of the password", msg, pw[i:i+3])
				}
			}
		})
	}
}

// writeTestCA writes a throwaway self-signed CA certificate as a PEM file in dir and returns its
// path: ParseURL only loads it into the pool that verifies the server (the TLS handshake itself is
// tested on a real TLS server in internal/tasks's TestRedisTopologies).
func writeTestCA(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cphpurchase test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
