package deployments

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// checkComposeIntake checks the intake's service: `enqueue serve` on all of the container's
// addresses, published on loopback, with its tokens from a file secret; Redis as the workers have
// it; no CPH setting or secret; a stop grace period longer than its shutdown timeout; hardened as
// the workers are.
func checkComposeIntake(pr *types.Project, s types.ServiceConfig, documented map[string]bool, p *problems) {
	checkComposeEnvNames(s, documented, p)
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
		if slices.Contains(cphEnv, k) {
			p.addf("service %s: sets %s: the intake must never get the CPH endpoint or credentials", s.Name, k)
		}
	}
	if _, ok := s.Environment["INTAKE_TOKEN"]; ok {
		p.addf("service %s: INTAKE_TOKEN in the environment; use a secret file (INTAKE_TOKEN_FILE)", s.Name)
	}
	for _, ref := range s.Secrets {
		if ref.Source != "intake_tokens" {
			p.addf("service %s: secret %s is given to the intake, which needs only its tokens", s.Name, ref.Source)
		}
	}
	checkComposeRedisURL(pr, s, env["REDIS_URL"], p)
	checkComposeToken(pr, s, "INTAKE_TOKEN_FILE", env["INTAKE_TOKEN_FILE"], p)
	if host, port, err := net.SplitHostPort(env["INTAKE_ADDR"]); err != nil || host != "0.0.0.0" {
		p.addf("service %s: INTAKE_ADDR %q, want 0.0.0.0:PORT: nothing outside the container could reach it", s.Name, env["INTAKE_ADDR"])
	} else if !slices.ContainsFunc(s.Ports, func(pc types.ServicePortConfig) bool { return port == itoa(pc.Target) }) {
		p.addf("service %s: INTAKE_ADDR port %s is not published", s.Name, port)
	}
	if shutdown, err := time.ParseDuration(env["SHUTDOWN_TIMEOUT"]); err != nil {
		p.addf("service %s: set SHUTDOWN_TIMEOUT explicitly (%v)", s.Name, err)
	} else if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= shutdown {
		p.addf("service %s: stop_grace_period must be set (the default is 10s) and longer than SHUTDOWN_TIMEOUT %s", s.Name, shutdown)
	}
	if s.Restart == "" || s.Restart == "no" {
		p.addf("service %s: no restart policy", s.Name)
	}
	if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
		p.addf("service %s: want read_only, cap_drop ALL and no-new-privileges:true", s.Name)
	}
}

// TestComposeIntakeChecksCatch breaks one invariant of the intake's service at a time.
func TestComposeIntakeChecksCatch(t *testing.T) {
	set := func(s *types.ServiceConfig, k, v string) { s.Environment[k] = &v }
	tests := []struct {
		name   string
		mutate func(s *types.ServiceConfig)
		want   string
	}{
		{"the CPH token", func(s *types.ServiceConfig) {
			set(s, "CPH_TOKEN_FILE", "/run/secrets/cph_token")
			s.Secrets = append(s.Secrets, types.ServiceSecretConfig{Source: "cph_token"})
		}, "never get the CPH endpoint or credentials"},
		{"the CPH secret", func(s *types.ServiceConfig) {
			s.Secrets = append(s.Secrets, types.ServiceSecretConfig{Source: "cph_token"})
		}, "secret cph_token is given to the intake"},
		{"a token in the environment", func(s *types.ServiceConfig) { set(s, "INTAKE_TOKEN", "t") }, "INTAKE_TOKEN in the environment"},
		{"token file not a secret", func(s *types.ServiceConfig) { set(s, "INTAKE_TOKEN_FILE", "/etc/tokens") }, "INTAKE_TOKEN_FILE \"/etc/tokens\" is not a compose secret"},
		{"token secret not given", func(s *types.ServiceConfig) { s.Secrets = nil }, "secret intake_tokens is not given"},
		{"on loopback", func(s *types.ServiceConfig) { set(s, "INTAKE_ADDR", "127.0.0.1:8480") }, "want 0.0.0.0:PORT"},
		{"port not published", func(s *types.ServiceConfig) { set(s, "INTAKE_ADDR", "0.0.0.0:9000") }, "port 9000 is not published"},
		{"published beyond loopback", func(s *types.ServiceConfig) { s.Ports[0].HostIP = "" }, "service intake: port 8480 is published on"},
		{"password in REDIS_URL", func(s *types.ServiceConfig) { set(s, "REDIS_URL", "redis://:pw@redis:6379/0") }, "carries a password"},
		{"default stop grace period", func(s *types.ServiceConfig) { s.StopGracePeriod = nil }, "stop_grace_period"},
		{"writable root filesystem", func(s *types.ServiceConfig) { s.ReadOnly = false }, "want read_only"},
		{"undocumented variable", func(s *types.ServiceConfig) { set(s, "INTAKE_PORT", "1") }, "service intake: sets INTAKE_PORT"},
	}
	documented := documentedEnv(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr, err := loadCompose(t, composeFile, stagingEnv)
			if err != nil {
				t.Fatal(err)
			}
			s := pr.Services["intake"]
			tc.mutate(&s)
			pr.Services["intake"] = s
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
