// Package buildinfo says which build of this module a binary is, from what the Go toolchain
// records in it (runtime/debug.ReadBuildInfo): the module's version and, when the build had
// them, the VCS revision, its time and whether the work tree was modified. Every binary answers
// `NAME version` and `NAME --version` with it, so that an operator can tell which code runs.
//
// A build with -buildvcs=false (CI's), or one from outside a repository, records no VCS facts;
// they are then left out, never guessed.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Info is what a binary knows of its own build.
type Info struct {
	// Version is the main module's version: a tag such as v1.2.0 when the binary was installed
	// from a tagged module, "(devel)" for a build in a work tree, "unknown" when not recorded.
	Version string `json:"version"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"go_version"`
	// Revision, Time and Modified are the VCS facts, empty when the build did not record them.
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
}

// Read returns the running binary's build information.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "unknown", GoVersion: "unknown"}
	}
	return fromBuildInfo(bi)
}

// fromBuildInfo extracts Info from what the toolchain recorded.
func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if info.Version == "" {
		info.Version = "unknown"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// String is the one line `version` prints, e.g.
// "(devel) rev 1f2e3d4c5b6a 2026-11-25T18:00:00Z, modified, go1.26.8", or "(devel) go1.26.8"
// without VCS facts.
func (i Info) String() string {
	parts := []string{i.Version}
	if i.Revision != "" {
		vcs := "rev " + short(i.Revision)
		if i.Time != "" {
			vcs += " " + i.Time
		}
		if i.Modified {
			vcs += ", modified"
		}
		parts = append(parts, vcs+",")
	}
	parts = append(parts, i.GoVersion)
	return strings.Join(parts, " ")
}

// short is the first 12 characters of a revision, as git shows enough of it.
func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// AddTo gives a cobra root command its --version flag and a `version` subcommand, both printing
// "NAME version INFO" on stdout. The subcommand skips the root's persistent pre-run (settings
// from the environment), so that a malformed setting does not hide the version.
func AddTo(root *cobra.Command) {
	info := Read()
	root.Version = info.String()
	root.SetVersionTemplate("{{.Name}} version {{.Version}}\n")
	root.AddCommand(&cobra.Command{
		Use:               "version",
		Short:             "Print the version of this build",
		Long:              "Print the module version, the VCS revision and time of the build (when recorded) and the Go version.",
		Example:           "  " + root.Name() + " version\n  " + root.Name() + " --version",
		Args:              cobra.NoArgs,
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s version %s\n", root.Name(), info)
			return err
		},
	})
}
