package main

import (
	"bytes"
	"encoding/json"
	"regexp"
	"testing"
	"time"
)

// Log lines carry milliseconds, in both formats, so that the lines of one second keep their order.
func TestLogTimestampsHaveMilliseconds(t *testing.T) {
	for _, tc := range []struct {
		format string
		time   *regexp.Regexp
	}{
		{"json", regexp.MustCompile(`"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)"`)},
		{"console", regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} `)},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := newLogger(&buf, "info", tc.format)
			if err != nil {
				t.Fatal(err)
			}
			log = log.With().Str("worker", "w1").Logger()
			log.Info().Msg("hello")
			if !tc.time.Match(buf.Bytes()) {
				t.Fatalf("log line %q has no time with milliseconds", buf.String())
			}
			if tc.format != "json" {
				return
			}
			var line struct{ Time string }
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			at, err := time.Parse(time.RFC3339, line.Time)
			if err != nil || time.Since(at).Abs() > time.Hour {
				t.Fatalf("time %q: %v; want a parseable time of now", line.Time, err)
			}
		})
	}
}
