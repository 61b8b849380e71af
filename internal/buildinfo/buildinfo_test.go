package buildinfo

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestInfoFromBuildInfo(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "-buildmode", Value: "exe"},
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "1f2e3d4c5b6a7980a1b2c3d4e5f60718293a4b5c"},
		{Key: "vcs.time", Value: "2026-11-25T18:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	cases := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"a work tree with VCS facts", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			"(devel) rev 1f2e3d4c5b6a 2026-11-25T18:00:00Z, modified, go1.26.8"},
		{"a clean tree", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs[:4]},
			"(devel) rev 1f2e3d4c5b6a 2026-11-25T18:00:00Z, go1.26.8"},
		{"-buildvcs=false: no VCS facts", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"(devel) go1.26.8"},
		{"a tagged module", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}},
			"v1.2.0 go1.26.8"},
		{"no version recorded (a test binary)", debug.BuildInfo{GoVersion: "go1.26.8"},
			"unknown go1.26.8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := fromBuildInfo(&tc.bi).String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// Both the flag and the subcommand print the same line, and the subcommand does not run the
// root's persistent pre-run, which reads settings that may be broken.
func TestAddTo(t *testing.T) {
	want := "tool version " + Read().String() + "\n"
	for _, args := range [][]string{{"--version"}, {"version"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			root := &cobra.Command{
				Use:               "tool",
				RunE:              func(*cobra.Command, []string) error { t.Error("the root ran"); return nil },
				PersistentPreRunE: func(*cobra.Command, []string) error { t.Error("the pre-run ran"); return nil },
			}
			AddTo(root)
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetArgs(args)
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			if out.String() != want {
				t.Errorf("printed %q, want %q", out.String(), want)
			}
		})
	}
}
