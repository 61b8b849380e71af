// Command enqueue is the producer and operator CLI of the CPH purchase queue: it validates and
// submits purchase orders, reads their results and works the dead letters (docs/contract.md).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	quietRedis()
	// SIGINT and SIGTERM end a wait or a --follow cleanly instead of killing it mid-write.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
