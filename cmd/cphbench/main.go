// Command cphbench measures the purchase pipeline against its performance targets on a real Redis
// and the CPH simulator, and prints a Markdown table: each row a target, what was measured, and
// whether it was met. It exits 0 when every row was measured, met or missed (a missed target is a
// result); 1 when a row could not be measured; 2 on bad usage. `make bench` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"cphpurchase/internal/bench"
	"cphpurchase/internal/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("cphbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	redisURL := getenv("REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	fs.StringVar(&redisURL, "redis-url", redisURL, "Redis to measure on; the run works under names of its own and deletes what it made (REDIS_URL)")
	workerBin := fs.String("worker", "", "a built cmd/worker for the rows that run worker processes; empty: build one with the go command")
	quick := fs.Bool("quick", getenv("BENCH_QUICK") == "1", "small sizes, rough figures, well under a minute (BENCH_QUICK=1)")
	rows := fs.String("rows", "", "comma-separated row numbers to run (1-6); empty: all")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (the in-process rows) to this file")
	version := fs.Bool("version", false, "print the version of this build and exit (also: cphbench version)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: cphbench [flags]\n\nMeasures the pipeline against its targets and prints a Markdown table.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *version || fs.Arg(0) == "version" {
		fmt.Fprintf(stdout, "cphbench version %s\n", buildinfo.Read())
		return 0
	}
	cfg := bench.Config{RedisURL: redisURL, WorkerBin: *workerBin, Quick: *quick, Sizes: bench.FullSizes(), Log: stderr}
	if *quick {
		cfg.Sizes = bench.QuickSizes()
	}
	for _, s := range strings.FieldsFunc(*rows, func(r rune) bool { return r == ',' || r == ' ' }) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 6 {
			fmt.Fprintf(stderr, "cphbench: --rows: %q is not a row number (1-6)\n", s)
			return 2
		}
		cfg.Rows = append(cfg.Rows, n)
	}
	if cfg.WorkerBin == "" {
		dir, err := os.MkdirTemp("", "cphbench-worker-")
		if err != nil {
			fmt.Fprintf(stderr, "cphbench: %v\n", err)
			return 1
		}
		defer os.RemoveAll(dir)
		if cfg.WorkerBin, err = bench.BuildWorker(ctx, dir); err != nil {
			fmt.Fprintf(stderr, "cphbench: %v (or give --worker)\n", err)
			return 1
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "cphbench: %v\n", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "cphbench: %v\n", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := bench.Run(ctx, cfg)
	if rep != nil {
		rep.Markdown(stdout)
	}
	if err == nil {
		err = rep.Err()
	}
	if err != nil {
		fmt.Fprintf(stderr, "cphbench: %v\n", err)
		return 1
	}
	return 0
}
