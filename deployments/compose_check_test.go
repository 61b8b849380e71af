package deployments

import (
	"maps"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const composeFile = "compose.yaml"

// stagingEnv is the environment of a staging run against the simulator, as .env.example sets it.
var stagingEnv = []string{"CPH_ENDPOINT=http://cphsim:8080"}

// loadCompose loads a compose file the way `docker compose` does (schema validation, which
// rejects unknown fields, interpolation, merge keys, normalization) with every profile enabled
// and only env as the environment, so that the machine's own variables play no part.
func loadCompose(t *testing.T, file string, env []string, opts ...cli.ProjectOptionsFn) (*types.Project, error) {
	t.Helper()
	opts = append([]cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(filepath.Dir(file)),
		cli.WithEnv(env),
		cli.WithProfiles([]string{"*"}),
	}, opts...)
	o, err := cli.NewProjectOptions([]string{file}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return o.LoadProject(t.Context())
}

// checkCompose returns every broken invariant of the compose project: nothing published beyond
// loopback; Redis durable and healthchecked; at least two workers, each waiting for a healthy
// Redis, with its token from a secret file, its probes on 0.0.0.0 inside and 127.0.0.1 outside,
// and a stop grace period longer than its shutdown timeout; the simulator behind a profile.
func checkCompose(pr *types.Project, documented map[string]bool) problems {
	var p problems
	published := map[string]string{}
	names := slices.Sorted(maps.Keys(pr.Services))
	var workers []string
	for _, name := range names {
		s := pr.Services[name]
		if s.NetworkMode == "host" {
			p.addf("service %s: network_mode host publishes everything it listens on", name)
		}
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" {
				p.addf("service %s: port %d is published on %q, not 127.0.0.1", name, port.Target, port.HostIP)
			}
			if port.Published == "" {
				p.addf("service %s: port %d has no fixed host port", name, port.Target)
			}
			if other, dup := published[port.Published]; dup {
				p.addf("service %s: host port %s is published twice (also by %s)", name, port.Published, other)
			}
			published[port.Published] = name
		}
		switch {
		case slices.Equal(s.Entrypoint, []string{"/cphsim"}):
			checkComposeSim(s, &p)
		case s.Build == nil:
			// not our image
		case slices.Equal(s.Entrypoint, []string{"/enqueue"}) && len(s.Command) > 0 && s.Command[0] == "serve":
			checkComposeIntake(pr, s, documented, &p)
		case s.Entrypoint == nil && (len(s.Command) == 0 || strings.HasPrefix(s.Command[0], "-")):
			// The image's /worker with flags at most; a subcommand (worker demo) is no worker.
			workers = append(workers, name)
			checkComposeWorker(pr, s, documented, &p)
		default:
			checkComposeEnvNames(s, documented, &p)
		}
	}
	if len(workers) < 2 {
		p.addf("want at least two workers (services running the image's /worker), got %v", workers)
	}
	redis, ok := pr.Services["redis"]
	if !ok {
		p.addf("no redis service")
		return p
	}
	checkComposeRedis(redis, &p)
	return p
}

// checkComposeRedis: Redis 7, with an append-only file on a named volume (the ledger must
// survive a restart), and a healthcheck that the workers wait for.
func checkComposeRedis(s types.ServiceConfig, p *problems) {
	if !strings.HasPrefix(s.Image, "redis:7") {
		p.addf("service redis: image %q, want redis:7", s.Image)
	}
	if i := slices.Index(s.Command, "--appendonly"); i < 0 || i+1 >= len(s.Command) || s.Command[i+1] != "yes" {
		p.addf("service redis: command %q lacks --appendonly yes: a restart would lose the ledger", s.Command)
	}
	if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeVolume && v.Target == "/data"
	}) {
		p.addf("service redis: no named volume on /data")
	}
	if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
		p.addf("service redis: no healthcheck for the workers' depends_on")
	}
}

// checkComposeWorker checks one worker service.
func checkComposeWorker(pr *types.Project, s types.ServiceConfig, documented map[string]bool, p *problems) {
	checkComposeEnvNames(s, documented, p)
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	for _, name := range []string{"CPH_TOKEN", "IAM_PASSWORD"} {
		if _, ok := s.Environment[name]; ok {
			p.addf("service %s: %s in the environment; use the secret file (CPH_TOKEN_FILE)", s.Name, name)
		}
	}
	if _, ok := env["CPH_ENDPOINT"]; !ok {
		p.addf("service %s: CPH_ENDPOINT is not set", s.Name)
	}
	checkComposeRedisURL(pr, s, env["REDIS_URL"], p)
	checkComposeToken(pr, s, "CPH_TOKEN_FILE", env["CPH_TOKEN_FILE"], p)
	checkComposeHTTP(s, env["HTTP_ADDR"], p)

	shutdown, err := time.ParseDuration(env["SHUTDOWN_TIMEOUT"])
	if err != nil {
		p.addf("service %s: set SHUTDOWN_TIMEOUT explicitly (%v)", s.Name, err)
	} else {
		callTimeout := defaultCPHTimeout
		if v, ok := env["CPH_TIMEOUT"]; ok {
			if callTimeout, err = time.ParseDuration(v); err != nil {
				p.addf("service %s: CPH_TIMEOUT %q: %v", s.Name, v, err)
			}
		}
		if shutdown <= callTimeout {
			p.addf("service %s: SHUTDOWN_TIMEOUT %s is not longer than CPH_TIMEOUT %s", s.Name, shutdown, callTimeout)
		}
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= shutdown {
			p.addf("service %s: stop_grace_period must be set (the default is 10s) and longer than SHUTDOWN_TIMEOUT %s", s.Name, shutdown)
		}
	}
	if s.Restart == "" || s.Restart == "no" {
		p.addf("service %s: no restart policy", s.Name)
	}
	if s.User != "" {
		if uid, _, _ := strings.Cut(s.User, ":"); uid == "0" || uid == "root" {
			p.addf("service %s: runs as root", s.Name)
		}
	}
	if !s.ReadOnly {
		p.addf("service %s: read_only is not true", s.Name)
	}
	if !slices.Contains(s.CapDrop, "ALL") {
		p.addf("service %s: cap_drop lacks ALL", s.Name)
	}
	if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
		p.addf("service %s: security_opt lacks no-new-privileges:true", s.Name)
	}
}

// checkComposeEnvNames: a service of our image sets only documented variables.
func checkComposeEnvNames(s types.ServiceConfig, documented map[string]bool, p *problems) {
	for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
		if !documented[k] {
			p.addf("service %s: sets %s, which the worker neither reads nor documents (cmd/worker/config.go, README)", s.Name, k)
		}
	}
}

// checkComposeRedisURL: the worker's Redis is a service of the project, which it waits for until
// healthy, and the URL written in the file carries no password.
func checkComposeRedisURL(pr *types.Project, s types.ServiceConfig, raw string, p *problems) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		p.addf("service %s: REDIS_URL %q is not a redis:// URL", s.Name, raw)
		return
	}
	if _, set := u.User.Password(); set {
		p.addf("service %s: REDIS_URL carries a password in the compose file", s.Name)
	}
	host := u.Hostname()
	if _, ok := pr.Services[host]; !ok {
		p.addf("service %s: REDIS_URL host %q is no service of the project", s.Name, host)
		return
	}
	if dep, ok := s.DependsOn[host]; !ok || dep.Condition != types.ServiceConditionHealthy {
		p.addf("service %s: depends_on %s must use condition service_healthy", s.Name, host)
	}
}

// checkComposeToken: the file variable fileEnv (CPH_TOKEN_FILE, INTAKE_TOKEN_FILE) is where
// compose mounts a file secret given to the service.
func checkComposeToken(pr *types.Project, s types.ServiceConfig, fileEnv, path string, p *problems) {
	name, ok := strings.CutPrefix(path, "/run/secrets/")
	if !ok {
		p.addf("service %s: %s %q is not a compose secret (/run/secrets/NAME)", s.Name, fileEnv, path)
		return
	}
	if !slices.ContainsFunc(s.Secrets, func(ref types.ServiceSecretConfig) bool {
		return ref.Target == name || ref.Target == "" && ref.Source == name || ref.Target == path
	}) {
		p.addf("service %s: %s %s, but secret %s is not given to the service", s.Name, fileEnv, path, name)
		return
	}
	if sec, ok := pr.Secrets[name]; !ok || sec.File == "" {
		p.addf("secret %s: want a file secret", name)
	}
}

// checkComposeHTTP: the probes listen on all of the container's addresses and are published on
// the host's loopback only (checked for every port above).
func checkComposeHTTP(s types.ServiceConfig, addr string, p *problems) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.addf("service %s: HTTP_ADDR %q: %v", s.Name, addr, err)
		return
	}
	if host != "0.0.0.0" && host != "" {
		p.addf("service %s: HTTP_ADDR %q listens on %s only: nothing outside the container could reach it", s.Name, addr, host)
	}
	if !slices.ContainsFunc(s.Ports, func(pc types.ServicePortConfig) bool { return port == itoa(pc.Target) }) {
		p.addf("service %s: HTTP_ADDR port %s is not published", s.Name, port)
	}
}

// checkComposeSim: the simulator starts only with its profile, so a production run never talks
// to it by accident, and it listens where it is published.
func checkComposeSim(s types.ServiceConfig, p *problems) {
	if len(s.Profiles) == 0 {
		p.addf("service %s: the simulator must sit behind a profile", s.Name)
	}
	i := slices.Index(s.Command, "--addr")
	if i < 0 || i+1 >= len(s.Command) {
		p.addf("service %s: no --addr: cphsim listens on loopback by default, unreachable from the workers", s.Name)
		return
	}
	host, port, err := net.SplitHostPort(s.Command[i+1])
	if err != nil || host != "0.0.0.0" {
		p.addf("service %s: --addr %q, want 0.0.0.0:PORT", s.Name, s.Command[i+1])
		return
	}
	if !slices.ContainsFunc(s.Ports, func(pc types.ServicePortConfig) bool { return port == itoa(pc.Target) }) {
		p.addf("service %s: port %s is not published", s.Name, port)
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
