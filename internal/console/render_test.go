package console

import (
	"testing"
	"time"
)

func TestHumanDurations(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {400 * time.Millisecond, "0s"}, {45 * time.Second, "45s"}, {time.Minute, "1m"},
		{3*time.Minute + 12*time.Second, "3m 12s"}, {time.Hour + 59*time.Minute + 59*time.Second + 600*time.Millisecond, "2h"},
		{2*time.Hour + 5*time.Minute + 30*time.Second, "2h 5m"}, {76 * time.Hour, "3d 4h"}, {-90 * time.Second, "1m 30s"},
	} {
		if got := humanDuration(c.d); got != c.want {
			t.Errorf("humanDuration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
	now := time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		t    time.Time
		want string
	}{
		{now.Add(-3 * time.Minute), "3m ago"}, {now.Add(45 * time.Second), "in 45s"}, {now.Add(300 * time.Millisecond), "now"},
	} {
		if got := relative(now, c.t); got != c.want {
			t.Errorf("relative(%v) = %q, want %q", c.t.Sub(now), got, c.want)
		}
	}
}
