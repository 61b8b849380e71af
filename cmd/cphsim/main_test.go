package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"cphpurchase/internal/cph/cphsim"
	"cphpurchase/internal/testkit"
)

// run serves on a free port, prints its URL, serves the API and the debug routes, never logs the
// password or a token, and returns cleanly when its context ends.
func TestRun(t *testing.T) {
	cfg, err := parseFlags([]string{"--addr", "127.0.0.1:0", "--verbose", "--iam-user", "buyer"},
		env(map[string]string{passwordEnv: "hunter2"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdoutR, stdoutW := io.Pipe()
	var stderr testkit.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, stdoutW, &stderr) }()

	url, err := bufio.NewReader(stdoutR).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	url = strings.TrimSpace(url)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("printed %q, want the base URL", url)
	}

	body := `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"buyer","password":"hunter2","domain":{"name":"acme"}}}},"scope":{"project":{"id":"p1"}}}}`
	res, err := http.Post(url+"/v3/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	token := res.Header.Get("X-Subject-Token")
	if res.StatusCode != http.StatusCreated || token == "" {
		t.Fatalf("IAM: %d", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, url+"/v1/p1/cloud-phone/servers", nil)
	req.Header.Set("X-Auth-Token", token)
	if res, err = http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("list: %v %v", res, err)
	}
	res.Body.Close()

	res, err = http.Get(url + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st cphsim.Stats
	err = json.NewDecoder(res.Body).Decode(&st)
	res.Body.Close()
	if err != nil || st.Calls != 2 {
		t.Errorf("stats %+v, %v", st, err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	logs := stderr.String()
	if !strings.Contains(logs, "cphsim listening") || !strings.Contains(logs, "path=/v1/p1/cloud-phone/servers status=200") {
		t.Errorf("logs lack the start or the call:\n%s", logs)
	}
	if strings.Contains(logs, "hunter2") || strings.Contains(logs, token) {
		t.Errorf("logs hold a secret:\n%s", logs)
	}
}

func TestRunReportsListenError(t *testing.T) {
	cfg, _ := parseFlags([]string{"--addr", "256.0.0.1:0"}, env(nil), io.Discard)
	if err := run(context.Background(), cfg, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("err = %v", err)
	}
}
