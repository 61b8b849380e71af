package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Machine is what the figures were measured on.
type Machine struct {
	CPUs   int
	Memory string // total memory, as /proc/meminfo has it
	Go     string
	Redis  string
	OS     string
}

func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs, %s memory, %s, Redis %s, %s", m.CPUs, m.Memory, m.Go, m.Redis, m.OS)
}

// machine describes this machine and the Redis at rdb.
func machine(ctx context.Context, rdb redis.UniversalClient) Machine {
	m := Machine{CPUs: runtime.NumCPU(), Memory: "unknown", Go: runtime.Version(), Redis: "unknown", OS: runtime.GOOS + "/" + runtime.GOARCH}
	if info, err := rdb.Info(ctx, "server").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
				m.Redis = v
			}
		}
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				var kb int64
				if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
					m.Memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	return m
}

// Markdown writes the report as a Markdown table, a line per row, followed by each row's notes.
func (r *Report) Markdown(w io.Writer) {
	kind := "full"
	if r.Quick {
		kind = "quick (BENCH_QUICK=1: small sizes, rough figures)"
	}
	fmt.Fprintf(w, "Measured %s on %s; %s run, %s.\n\n", r.Started.UTC().Format("2006-01-02"), r.Machine, kind, r.Took.Round(time.Second))
	fmt.Fprintln(w, "| # | Row | Measured | Target | Result |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, row := range r.Rows {
		measured, result := row.Measured, "missed"
		switch {
		case row.Err != nil:
			measured, result = "not measured: "+row.Err.Error(), "error"
		case row.Met:
			result = "met"
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s |\n", row.Number, row.Name, cell(measured), row.Target, result)
	}
	fmt.Fprintln(w)
	for _, row := range r.Rows {
		if row.Notes != "" {
			fmt.Fprintf(w, "%d. %s\n", row.Number, row.Notes)
		}
	}
}

// cell keeps a table cell on one line and its pipes from ending it.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

func sortRows(rows []Row) {
	sort.Slice(rows, func(i, j int) bool { return rows[i].Number < rows[j].Number })
}
