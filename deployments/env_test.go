package deployments

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Where the worker's settings are defined and documented, relative to this directory.
const (
	workerConfigFile = "../cmd/worker/config.go"
	readmeFile       = "../README.md"
)

// secretEnv are the settings that may carry a secret: a manifest hands them over from a secret
// store (a Kubernetes Secret, a file), never as a literal value. REDIS_URL is one because it
// carries the Redis password when there is one.
var secretEnv = map[string]bool{"CPH_TOKEN": true, "IAM_PASSWORD": true, "REDIS_URL": true, "INTAKE_TOKEN": true}

// Defaults of the worker that the manifests' invariants depend on (cmd/worker/config.go).
const (
	defaultCPHTimeout = 30 * time.Second
	defaultHTTPPort   = "9464"
)

// documentedEnv returns every environment variable a deployment may set: those the worker reads
// (the literal names in cmd/worker/config.go's env lookups), those the README's configuration
// table documents (docs/contract.md's, such as MAX_RETRY, which enqueue reads) and those of the
// README's table of the intake's settings (`enqueue serve`).
func documentedEnv(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, n := range workerEnvNames(t) {
		names[n] = true
	}
	for _, n := range readmeEnvNames(t) {
		names[n] = true
	}
	for _, n := range readmeTableEnvNames(t, intakeSettingsHeading) {
		names[n] = true
	}
	return names
}

// workerEnvNames lists the first argument of every env lookup (e.str("NAME", …), e.int, …) in
// the worker's configuration, so that a renamed or added variable needs no edit here.
func workerEnvNames(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), workerConfigFile, nil, 0)
	if err != nil {
		t.Fatalf("parse the worker's configuration: %v", err)
	}
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !envLookups[sel.Sel.Name] {
			return true
		}
		lit, ok := call.Args[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		if name, err := strconv.Unquote(lit.Value); err == nil && envName.MatchString(name) {
			names = append(names, name)
		}
		return true
	})
	sort.Strings(names)
	return names
}

// envLookups are the methods of cmd/worker's env reader.
var envLookups = map[string]bool{"str": true, "int": true, "duration": true}

var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// readmeEnvNames lists the variables named in the first column of the README's configuration
// table: the rows from "### Configuration" on that start with "| `".
func readmeEnvNames(t *testing.T) []string { return readmeTableEnvNames(t, "### Configuration") }

// intakeSettingsHeading heads the README's table of the intake's settings.
const intakeSettingsHeading = "### Intake settings"

// readmeTableEnvNames lists the variables named in the first column of the README's table under
// heading: the rows from heading on that start with "| `", up to the next heading.
func readmeTableEnvNames(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), heading)
	if !ok {
		t.Fatalf("%s has no %q section", readmeFile, heading)
	}
	var names []string
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "#") {
			break // the next section
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.SplitN(line, "|", 3)[1]
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(first, -1) {
			if envName.MatchString(m[1]) {
				names = append(names, m[1])
			}
		}
	}
	sort.Strings(names)
	return names
}

// TestDocumentedEnv guards the extraction itself: if the worker's configuration or the README
// changed shape so that names were no longer found, every check built on them would pass emptily.
func TestDocumentedEnv(t *testing.T) {
	worker, readme, intake := workerEnvNames(t), readmeEnvNames(t), readmeTableEnvNames(t, intakeSettingsHeading)
	for _, tc := range []struct {
		source string
		got    []string
		want   []string
	}{
		{workerConfigFile, worker, []string{"REDIS_URL", "CPH_ENDPOINT", "CPH_TOKEN_FILE", "HTTP_ADDR", "SHUTDOWN_TIMEOUT", "CPH_TIMEOUT"}},
		{readmeFile, readme, []string{"REDIS_URL", "CPH_ENDPOINT", "MAX_RETRY", "IAM_PASSWORD", "SHUTDOWN_TIMEOUT"}},
		{readmeFile + " " + intakeSettingsHeading, intake, []string{"REDIS_URL", "INTAKE_ADDR", "INTAKE_TOKEN", "INTAKE_TOKEN_FILE", "SHUTDOWN_TIMEOUT"}},
	} {
		have := map[string]bool{}
		for _, n := range tc.got {
			have[n] = true
		}
		for _, n := range tc.want {
			if !have[n] {
				t.Errorf("%s: %s not found among %v", tc.source, n, tc.got)
			}
		}
	}
}
