package deployments

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

const dockerfile = "Dockerfile"

// imageUID is the image's user: distroless's nonroot, which the Kubernetes manifests run as too.
const imageUID = 65532

// commands are the binaries the image must hold: the three of docs/contract.md.
var commands = []string{"worker", "enqueue", "cphsim"}

// lintDockerfile parses a Dockerfile with BuildKit's own parser, runs the lint rules that BuildKit
// applies while parsing (those of `docker build --check` that need no build), and checks our
// invariants: a Go build stage producing static, trimmed binaries of every command; a final stage
// on distroless static (or scratch) that runs no shell, as a numeric non-root user, exposing the
// worker's port, with /worker as its exec-form entrypoint; and no ADD of remote sources.
func lintDockerfile(src []byte) problems {
	var p problems
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		p.addf("parse: %v", err)
		return p
	}
	for _, w := range res.Warnings {
		p.addf("parser warning: %s", w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		p.addf("lint %s (line %d): %s", rule, line, msg)
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		p.addf("instructions: %v", err)
		return p
	}
	if len(stages) < 2 {
		p.addf("want a multi-stage build (a Go build stage and a runtime stage), got %d stage(s)", len(stages))
		return p
	}
	for _, s := range stages {
		for _, cmd := range s.Commands {
			if add, ok := cmd.(*instructions.AddCommand); ok {
				for _, src := range add.SourcePaths {
					if strings.Contains(src, "://") || strings.HasPrefix(src, "git@") {
						p.addf("stage %s: ADD %s fetches a remote source at build time: download it in a RUN with a checksum, or vendor it", s.Name, src)
					}
				}
			}
		}
	}
	build := slices.IndexFunc(stages, func(s instructions.Stage) bool { return goBuildLine(s) != "" })
	if build < 0 {
		p.addf("no stage runs go build")
	} else {
		checkGoBuild(stages[build], &p)
	}
	checkRuntimeStage(stages[len(stages)-1], stages, build, &p)
	return p
}

// goBuildLine returns the stage's RUN command line that runs go build, if any.
func goBuildLine(s instructions.Stage) string {
	for _, cmd := range s.Commands {
		if run, ok := cmd.(*instructions.RunCommand); ok {
			if line := strings.Join(run.CmdLine, " "); strings.Contains(line, "go build") {
				return line
			}
		}
	}
	return ""
}

// checkGoBuild: golang:1.26, static (CGO_ENABLED=0), trimmed paths, stripped, every command.
func checkGoBuild(s instructions.Stage, p *problems) {
	if !strings.HasPrefix(s.BaseName, "golang:1.26") {
		p.addf("build stage %s: base %q, want golang:1.26 (go.mod's Go)", s.Name, s.BaseName)
	}
	line := goBuildLine(s)
	cgoOff := strings.Contains(line, "CGO_ENABLED=0")
	for _, cmd := range s.Commands {
		if env, ok := cmd.(*instructions.EnvCommand); ok {
			for _, kv := range env.Env {
				cgoOff = cgoOff || kv.Key == "CGO_ENABLED" && kv.Value == "0"
			}
		}
	}
	if !cgoOff {
		p.addf("build stage %s: go build without CGO_ENABLED=0: the binaries would need a libc that distroless static lacks", s.Name)
	}
	for _, flag := range []string{"-trimpath", `-ldflags="-s -w"`} {
		if !strings.Contains(line, flag) {
			p.addf("build stage %s: go build without %s", s.Name, flag)
		}
	}
	if !strings.Contains(line, "./cmd/...") {
		for _, c := range commands {
			if !strings.Contains(line, "./cmd/"+c) {
				p.addf("build stage %s: go build does not build ./cmd/%s", s.Name, c)
			}
		}
	}
}

// checkRuntimeStage: distroless static or scratch; binaries copied from the build stage; no RUN
// (there is no shell); a numeric non-root USER, which Kubernetes' runAsNonRoot can verify;
// EXPOSE of the worker's port; ENTRYPOINT ["/worker"] in exec form, so the worker is PID 1 and
// gets SIGTERM itself.
func checkRuntimeStage(s instructions.Stage, stages []instructions.Stage, build int, p *problems) {
	if s.BaseName != "scratch" && !strings.HasPrefix(s.BaseName, "gcr.io/distroless/static") {
		p.addf("final stage: base %q, want gcr.io/distroless/static… or scratch", s.BaseName)
	}
	var user, entrypoint []string
	var copied, exposed bool
	for _, cmd := range s.Commands {
		switch c := cmd.(type) {
		case *instructions.RunCommand:
			p.addf("final stage: RUN %s: the runtime image has no shell and should run nothing at build time", strings.Join(c.CmdLine, " "))
		case *instructions.CopyCommand:
			if build >= 0 && (c.From == stages[build].Name || c.From == strconv.Itoa(build)) {
				copied = true
			}
		case *instructions.UserCommand:
			user = append(user, c.User)
		case *instructions.ExposeCommand:
			exposed = exposed || slices.Contains(c.Ports, defaultHTTPPort) || slices.Contains(c.Ports, defaultHTTPPort+"/tcp")
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				p.addf("final stage: ENTRYPOINT in shell form: use the exec form [\"/worker\"]")
			}
			entrypoint = c.CmdLine
		}
	}
	if !copied {
		p.addf("final stage: copies nothing from the build stage")
	}
	if len(user) == 0 {
		p.addf("final stage: no USER: say the non-root user explicitly")
	} else {
		last := user[len(user)-1]
		uid, _, _ := strings.Cut(last, ":")
		if n, err := strconv.Atoi(uid); err != nil || n != imageUID {
			p.addf("final stage: USER %s, want the numeric non-root user %d (a name cannot be checked by runAsNonRoot)", last, imageUID)
		}
	}
	if !exposed {
		p.addf("final stage: no EXPOSE %s (the worker's HTTP port)", defaultHTTPPort)
	}
	if !slices.Equal(entrypoint, []string{"/worker"}) {
		p.addf("final stage: ENTRYPOINT %q, want [\"/worker\"]", entrypoint)
	}
}

// TestDockerfile: the real Dockerfile passes.
func TestDockerfile(t *testing.T) {
	src, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range lintDockerfile(src) {
		t.Error(p)
	}
}

// TestDockerfileLintCatches changes the real Dockerfile one way at a time and expects
// lintDockerfile to name what broke.
func TestDockerfileLintCatches(t *testing.T) {
	real, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"root user", "USER 65532:65532", "USER root", "USER root"},
		{"named user", "USER 65532:65532", "USER nonroot", "numeric non-root user"},
		{"no user", "USER 65532:65532\n", "", "no USER"},
		{"cgo on", "CGO_ENABLED=0 ", "", "CGO_ENABLED=0"},
		{"paths kept", "-trimpath ", "", "-trimpath"},
		{"symbols kept", ` -ldflags="-s -w"`, "", "-ldflags"},
		{"one command only", "./cmd/...", "./cmd/worker", "./cmd/enqueue"},
		{"old Go", "golang:1.26", "golang:1.22", "want golang:1.26"},
		{"shell-form entrypoint", `ENTRYPOINT ["/worker"]`, "ENTRYPOINT /worker", "exec form"},
		{"another entrypoint", `ENTRYPOINT ["/worker"]`, `ENTRYPOINT ["/cphsim"]`, "want [\"/worker\"]"},
		{"remote ADD", "WORKDIR /src\n", "WORKDIR /src\nADD https://example.com/tool.tgz /tmp/\n", "ADD https://example.com/tool.tgz"},
		{"full OS at runtime", "FROM gcr.io/distroless/static-debian13:nonroot", "FROM debian:13", "final stage: base"},
		{"RUN at runtime", "EXPOSE 9464\n", "EXPOSE 9464\nRUN [\"/worker\", \"--help\"]\n", "final stage: RUN"},
		{"port not exposed", "EXPOSE 9464", "EXPOSE 8080", "no EXPOSE 9464"},
		{"nothing copied", "COPY --from=build /out/ /", "COPY deployments/ /", "copies nothing"},
		{"lint rule (FromAsCasing)", "golang:1.26 AS build", "golang:1.26 as build", "lint FromAsCasing"},
		{"single stage", "FROM gcr.io/distroless/static-debian13:nonroot\nCOPY --from=build /out/ /\n", "", "multi-stage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(string(real), tc.old, tc.new, 1)
			if src == string(real) {
				t.Fatalf("the Dockerfile does not contain %q any more: update this case", tc.old)
			}
			got := lintDockerfile([]byte(src))
			for _, p := range got {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("no problem mentions %q; got %q", tc.want, got)
		})
	}
}
