package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"cphpurchase/internal/buildinfo"
)

// app is one run of the CLI: its streams, environment and settings. Commands are built from it
// by constructors, so that nothing is shared between two runs (nor between two tests).
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	cfg            settings
	// terminal reports whether a stream is a terminal, where tables and prompts are for people.
	terminal func(any) bool
}

// run executes the command line args and returns the process exit code. Errors are printed here,
// once, as one line each on stderr; cobra is told to print neither errors nor usage.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, terminal: isTerminal}
	return a.execute(ctx, args)
}

// execute is run on a's streams.
func (a *app) execute(ctx context.Context, args []string) int {
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	ee := asExitError(err)
	printError(a.stderr, cmd, ee)
	return ee.code
}

const rootLong = `enqueue submits purchase orders for Huawei Cloud Phone Host servers to the queue that the
workers serve, and lets an operator follow their results and work the dead letters.

Output on stdout is JSON: one object, or one a line for lists. Progress and diagnostics go to
stderr, one line each, as "enqueue: COMMAND: message".

Exit codes:
  0  done
  1  the operation failed: Redis unreachable, not found, a waited-for purchase dead-lettered
  2  invalid input or usage: bad flags, a missing file, an invalid order

Configuration comes from the environment; each variable has a flag of the same meaning, and the
flag wins:
  REDIS_URL       --redis-url       required by every command but validate
  PURCHASE_QUEUE  --queue           default cph-purchase
  RESULTS_STREAM  --results-stream  default cph:purchase:results
  MAX_RETRY       --max-retry       default 10
  CPH_PROJECT_ID  --project-id      the project of orders that name none

No Redis at hand? "worker --embedded" starts one in-process and prints the REDIS_URL to use.`

const rootExample = `  # Check an order, then submit it and wait for its result
  enqueue validate -f order.json
  enqueue submit -f order.json --wait

  # Submit a file of orders, one a line
  enqueue bulk -f orders.jsonl

  # Where is an order?
  enqueue status batch-2026-11/row-17

  # Follow every terminal result as it comes
  enqueue results --follow

  # Replay the orders that failed on authentication, once the token is fixed
  enqueue dlq replay --all --class auth`

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:     "enqueue",
		Short:   "Submit CPH purchase orders and work their results and dead letters",
		Long:    rootLong,
		Example: rootExample,
		Args:    unknownCommand,
		RunE:    showHelp,
		// cobra's own default, which SuggestionsFor does not apply by itself.
		SuggestionsMinimumDistance: 2,
		SilenceErrors:              true,
		SilenceUsage:               true,
		// No "completion" command: the CLI is for scripts and operators, not shell setup.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.cfg.resolve(cmd.Flags(), a.getenv); err != nil {
				return invalidInput(err)
			}
			return nil
		},
	}
	a.cfg.register(root.PersistentFlags())
	root.AddCommand(a.submitCmd(), a.bulkCmd(), a.validateCmd(), a.statusCmd(), a.resultsCmd(), a.dlqCmd(), a.queueCmd())
	buildinfo.AddTo(root)
	root.AddCommand(a.serveCmd())
	root.AddCommand(a.batchCmd())
	return root
}

// showHelp is the RunE of a command that only groups others: alone, it prints its help.
func showHelp(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// unknownCommand refuses an argument to a command that only groups others, suggesting the
// subcommand that was probably meant.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		return usageErrorf("unknown command %q (did you mean %q?)", args[0], s[0])
	}
	return usageErrorf("unknown command %q", args[0])
}

// noArgs refuses positional arguments. On a command with --wait, an argument that reads as a
// duration most likely was meant as its value, which must be attached with "=".
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if _, err := time.ParseDuration(args[0]); err == nil && cmd.Flags().Lookup("wait") != nil {
		return usageErrorf("unexpected argument %q (a --wait duration goes after '=': --wait=%s)", args[0], args[0])
	}
	return usageErrorf("unexpected argument %q", args[0])
}

// printJSON writes v as one line of JSON. HTML is not escaped: the output is for jq and people,
// not for web pages.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
