package main

import (
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"cphpurchase/internal/cph"
	"cphpurchase/internal/tasks"
)

// The readiness settings: Terraform's 90 minutes by default, each from the environment or a flag,
// and a bad value refused with its variable's name.
func TestReadinessSettings(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		tracking string
		deadline time.Duration
		rate     int
		bss      string
		wantErr  string
	}{
		{name: "defaults", tracking: "on", deadline: tasks.DefaultReadinessDeadline, rate: tasks.DefaultReadinessRateLimit},
		{name: "environment", env: map[string]string{"READINESS_TRACKING": "off", "READINESS_DEADLINE": "2h", "READINESS_RATE_LIMIT": "3", "BSS_ENDPOINT": "https://bss.example"},
			tracking: "off", deadline: 2 * time.Hour, rate: 3, bss: "https://bss.example"},
		{name: "flags win", env: map[string]string{"READINESS_DEADLINE": "2h"}, args: []string{"--readiness-deadline", "30m", "--readiness-tracking", "off"},
			tracking: "off", deadline: 30 * time.Minute, rate: tasks.DefaultReadinessRateLimit},
		{name: "not on or off", env: map[string]string{"READINESS_TRACKING": "yes"}, wantErr: `READINESS_TRACKING must be on or off, got "yes"`},
		{name: "negative", args: []string{"--readiness-deadline", "-1m"}, wantErr: "READINESS_DEADLINE, READINESS_FIRST_CHECK"},
		{name: "max below first", env: map[string]string{"READINESS_FIRST_CHECK": "2m", "READINESS_MAX_INTERVAL": "1m"}, wantErr: "READINESS_MAX_INTERVAL must be at least READINESS_FIRST_CHECK"},
		{name: "not a duration", env: map[string]string{"READINESS_DEADLINE": "soon"}, wantErr: `READINESS_DEADLINE="soon" is not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(tc.env, tc.args)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case c.ReadinessTracking != tc.tracking || c.ReadinessDeadline != tc.deadline || c.ReadinessRateLimit != tc.rate || c.BSSEndpoint != tc.bss:
				t.Fatalf("got %q %s %d %q; want %q %s %d %q", c.ReadinessTracking, c.ReadinessDeadline, c.ReadinessRateLimit, c.BSSEndpoint,
					tc.tracking, tc.deadline, tc.rate, tc.bss)
			}
		})
	}
}

// READINESS_TRACKING=off leaves the purchase handler without tracking and starts no tracking
// server; on, both are there.
func TestReadinessSwitch(t *testing.T) {
	api, err := cph.NewClient("http://127.0.0.1:1", cph.StaticToken("t"), cph.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tracking string
		on       bool
	}{{"off", false}, {"on", true}, {"", true}} {
		c, err := parseConfig(map[string]string{"READINESS_TRACKING": tc.tracking}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := newReadinessServer(nil, c, api, cph.StaticToken("t"), tasks.RetryPolicy{}, nil, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if (r != nil) != tc.on || (r.tracking() != nil) != tc.on {
			t.Errorf("READINESS_TRACKING=%q: server %v, want on %v", tc.tracking, r, tc.on)
		}
		if !tc.on { // switched off, starting and stopping it does nothing
			if err := r.start(); err != nil {
				t.Errorf("starting switched-off tracking: %v", err)
			}
			r.shutdown()
		}
	}
}
