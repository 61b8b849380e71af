package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"cphpurchase/internal/testkit"
)

// TestServe runs `enqueue serve` as main would: it serves the intake on the test's Redis with a
// token from INTAKE_TOKEN, and stops cleanly (exit 0) when its context ends.
func TestServe(t *testing.T) {
	tr := newTestRedis(t)
	const token = "tok-serve-6e21"
	t.Setenv("INTAKE_TOKEN", token)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr testkit.SyncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, tr.args([]string{"serve", "--addr", "0.0.0.0:0", "--project-id", "0b1c2d3e4f"}), strings.NewReader(""), &bytes.Buffer{}, &stderr)
	}()
	var addr string
	testkit.Eventually(t, "the intake's address in its log", func() bool {
		for line := range strings.Lines(stderr.String()) {
			var l map[string]any
			if json.Unmarshal([]byte(line), &l) == nil && l["addr"] != nil {
				addr = strings.Replace(l["addr"].(string), "0.0.0.0", "127.0.0.1", 1)
				addr = strings.Replace(addr, "[::]", "127.0.0.1", 1)
				return true
			}
		}
		return false
	})
	var order map[string]any
	if err := json.Unmarshal([]byte(mustRead(t, "testdata/order.json")), &order); err != nil {
		t.Fatal(err)
	}
	order["idempotency_key"] = "serve-1"
	body, _ := json.Marshal(order)
	post := func(auth string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/orders", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", code)
	}
	if code := post(token); code != http.StatusAccepted {
		t.Errorf("with the token: %d", code)
	}
	if n, _ := tr.rdb.LLen(ctx, "asynq:{"+tr.queue+"}:pending").Result(); n != 1 {
		t.Errorf("%d orders queued, want 1", n)
	}
	cancel()
	if code := <-exited; code != 0 {
		t.Errorf("exit %d after its context ended; stderr: %s", code, stderr.String())
	}
	if strings.Contains(stderr.String(), token) {
		t.Error("the log shows the token")
	}
}

func TestServeRefusesBadSettings(t *testing.T) {
	tr := newTestRedis(t)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"beyond loopback without a token", nil, []string{"--addr", "0.0.0.0:0"}, "set INTAKE_TOKEN or INTAKE_TOKEN_FILE"},
		{"a token file that is missing", map[string]string{"INTAKE_TOKEN_FILE": filepath.Join(t.TempDir(), "nope")}, nil, "INTAKE_TOKEN_FILE"},
		{"a bad log level", map[string]string{"LOG_LEVEL": "loud"}, nil, "LOG_LEVEL must be"},
		{"a bad shutdown timeout", map[string]string{"SHUTDOWN_TIMEOUT": "soon"}, nil, "SHUTDOWN_TIMEOUT must be"},
		{"an address that cannot be listened on", nil, []string{"--addr", "127.0.0.1:bad"}, "INTAKE_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := tr.enqueue(t, append([]string{"serve"}, tt.args...)...)
			if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want a failure naming %q", r.code, r.stderr, tt.want)
			}
		})
	}
	t.Run("no Redis", func(t *testing.T) {
		t.Setenv("REDIS_URL", "")
		r := (*testRedis)(nil).enqueue(t, "serve")
		wantExit(t, r, 2)
	})
}
