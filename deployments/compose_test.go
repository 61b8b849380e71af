package deployments

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestCompose: compose.yaml loads as docker compose loads it and keeps every invariant.
func TestCompose(t *testing.T) {
	pr, err := loadCompose(t, composeFile, stagingEnv)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkCompose(pr, documentedEnv(t)) {
		t.Error(p)
	}
	want := []string{"cphsim", "enqueue", "intake", "redis", "worker-1", "worker-2"}
	if got := slices.Sorted(maps.Keys(pr.Services)); !slices.Equal(got, want) {
		t.Errorf("services %v, want %v", got, want)
	}
}

// TestComposeEnv: CPH_ENDPOINT is required, so that no run talks to an endpoint nobody chose, and
// .env.example, copied to .env as the README says, supplies it.
func TestComposeEnv(t *testing.T) {
	if _, err := loadCompose(t, composeFile, nil); err == nil || !strings.Contains(err.Error(), "CPH_ENDPOINT") {
		t.Errorf("without CPH_ENDPOINT: %v; want an error naming it", err)
	}
	pr, err := loadCompose(t, composeFile, nil, cli.WithEnvFiles(".env.example"), cli.WithDotEnv)
	if err != nil {
		t.Fatalf("with .env.example: %v", err)
	}
	if got := pr.Services["worker-1"].Environment["CPH_ENDPOINT"]; got == nil || *got != "http://cphsim:8080" {
		t.Errorf("with .env.example, CPH_ENDPOINT = %v, want the simulator", got)
	}
}

// TestComposeLoaderStrict: the loader refuses an unknown field, so that a misspelt key is an
// error here rather than a setting silently ignored.
func TestComposeLoaderStrict(t *testing.T) {
	file := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(file, []byte("services:\n  w:\n    image: x\n    stop_grace_periods: 60s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadCompose(t, file, nil); err == nil || !strings.Contains(err.Error(), "stop_grace_periods") {
		t.Errorf("unknown field: %v; want an error naming it", err)
	}
}

// TestComposeChecksCatch breaks one invariant of the real compose project at a time and expects
// checkCompose to name it.
func TestComposeChecksCatch(t *testing.T) {
	edit := func(pr *types.Project, name string, f func(s *types.ServiceConfig)) {
		s, ok := pr.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		f(&s)
		pr.Services[name] = s
	}
	set := func(s *types.ServiceConfig, k, v string) { s.Environment[k] = &v }
	tests := []struct {
		name   string
		mutate func(pr *types.Project)
		want   string
	}{
		{"port on every interface", func(pr *types.Project) {
			edit(pr, "worker-2", func(s *types.ServiceConfig) { s.Ports[0].HostIP = "" })
		}, "not 127.0.0.1"},
		{"simulator port on every interface", func(pr *types.Project) {
			edit(pr, "cphsim", func(s *types.ServiceConfig) { s.Ports[0].HostIP = "0.0.0.0" })
		}, "service cphsim: port 8080"},
		{"host port twice", func(pr *types.Project) {
			edit(pr, "worker-2", func(s *types.ServiceConfig) { s.Ports[0].Published = "9464" })
		}, "published twice"},
		{"default stop grace period", func(pr *types.Project) {
			edit(pr, "worker-1", func(s *types.ServiceConfig) { s.StopGracePeriod = nil })
		}, "stop_grace_period"},
		{"shutdown timeout not set", func(pr *types.Project) {
			edit(pr, "worker-1", func(s *types.ServiceConfig) { delete(s.Environment, "SHUTDOWN_TIMEOUT") })
		}, "set SHUTDOWN_TIMEOUT explicitly"},
		{"shutdown timeout shorter than a call", func(pr *types.Project) {
			edit(pr, "worker-1", func(s *types.ServiceConfig) { set(s, "CPH_TIMEOUT", "45s") })
		}, "not longer than CPH_TIMEOUT"},
		{"redis without its append-only file", func(pr *types.Project) {
			edit(pr, "redis", func(s *types.ServiceConfig) { s.Command = nil })
		}, "--appendonly yes"},
		{"redis without a volume", func(pr *types.Project) {
			edit(pr, "redis", func(s *types.ServiceConfig) { s.Volumes = nil })
		}, "named volume"},
		{"redis without healthcheck", func(pr *types.Project) {
			edit(pr, "redis", func(s *types.ServiceConfig) { s.HealthCheck = nil })
		}, "no healthcheck"},
		{"worker does not wait for a healthy redis", func(pr *types.Project) {
			edit(pr, "worker-2", func(s *types.ServiceConfig) {
				s.DependsOn["redis"] = types.ServiceDependency{Condition: types.ServiceConditionStarted, Required: true}
			})
		}, "service_healthy"},
		{"token in the environment", func(pr *types.Project) {
			edit(pr, "worker-1", func(s *types.ServiceConfig) { set(s, "CPH_TOKEN", "t") })
		}, "CPH_TOKEN in the environment"},
		{"password in REDIS_URL", func(pr *types.Project) {
			edit(pr, "worker-1", func(s *types.ServiceConfig) { set(s, "REDIS_URL", "redis://:pw@redis:6379/0") })
		}, "carries a password"},
		{"REDIS_URL elsewhere", func(pr *types.Project) {
			edit(pr, "worker-1", func(s *types.ServiceConfig) { set(s, "REDIS_URL", "redis://127.0.0.1:6379/0") })
		}, "no service of the project"},
		{"secret not given", func(pr *types.Project) {
			edit(pr, "worker-1", func(s *types.ServiceConfig) { s.Secrets = nil })
		}, "is not given to the service"},
		{"health endpoints on loopback", func(pr *types.Project) {
			edit(pr, "worker-1", func(s *types.ServiceConfig) { set(s, "HTTP_ADDR", "127.0.0.1:9464") })
		}, "listens on 127.0.0.1 only"},
		{"health port not published", func(pr *types.Project) {
			edit(pr, "worker-1", func(s *types.ServiceConfig) { set(s, "HTTP_ADDR", "0.0.0.0:9000") })
		}, "port 9000 is not published"},
		{"undocumented variable", func(pr *types.Project) {
			edit(pr, "worker-1", func(s *types.ServiceConfig) { set(s, "WORKERS", "2") })
		}, "neither reads nor documents"},
		{"writable root filesystem", func(pr *types.Project) {
			edit(pr, "worker-1", func(s *types.ServiceConfig) { s.ReadOnly = false })
		}, "read_only"},
		{"runs as root", func(pr *types.Project) {
			edit(pr, "worker-1", func(s *types.ServiceConfig) { s.User = "0:0" })
		}, "runs as root"},
		{"simulator without profile", func(pr *types.Project) {
			edit(pr, "cphsim", func(s *types.ServiceConfig) { s.Profiles = nil })
		}, "behind a profile"},
		{"simulator on loopback", func(pr *types.Project) {
			edit(pr, "cphsim", func(s *types.ServiceConfig) { s.Command = []string{"--latency", "50ms"} })
		}, "no --addr"},
		{"one worker", func(pr *types.Project) { delete(pr.Services, "worker-2") }, "at least two workers"},
		{"a worker running a subcommand", func(pr *types.Project) {
			edit(pr, "worker-2", func(s *types.ServiceConfig) { s.Command = []string{"demo"} })
		}, "at least two workers"},
		{"undocumented variable of enqueue", func(pr *types.Project) {
			edit(pr, "enqueue", func(s *types.ServiceConfig) { set(s, "QUEUE", "q") })
		}, "service enqueue: sets QUEUE"},
	}
	documented := documentedEnv(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr, err := loadCompose(t, composeFile, stagingEnv)
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(pr)
			got := checkCompose(pr, documented)
			for _, p := range got {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("no problem mentions %q; got %q", tc.want, got)
		})
	}
}
