package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"
)

// newLogger returns the worker's logger: JSON lines on stderr, or a console format for people.
func newLogger(w io.Writer, level, format string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Nop(), fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, got %q", level)
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000", NoColor: !isTerminal(w)}
	}
	return zerolog.New(w).Level(lvl).Hook(millisTimestamp{}), nil
}

// logTimeFormat is the time of every log line: RFC 3339 with milliseconds, so that the lines of
// one second can be put in order and matched with another process's (zerolog's default has
// whole seconds).
const logTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// millisTimestamp stamps each line with the time in logTimeFormat. A hook of the logger's own,
// instead of zerolog's process-wide TimeFieldFormat, so that no global has to be set first.
type millisTimestamp struct{}

func (millisTimestamp) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().Format(logTimeFormat))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// asynqLogger routes asynq's own log lines into zerolog, so that one process writes one format.
type asynqLogger struct{ log zerolog.Logger }

func (l asynqLogger) Debug(args ...any) { l.log.Debug().Msg(fmt.Sprint(args...)) }
func (l asynqLogger) Info(args ...any)  { l.log.Info().Msg(fmt.Sprint(args...)) }
func (l asynqLogger) Warn(args ...any)  { l.log.Warn().Msg(fmt.Sprint(args...)) }
func (l asynqLogger) Error(args ...any) { l.log.Error().Msg(fmt.Sprint(args...)) }

// Fatal is asynq's "cannot go on"; it exits as asynq's default logger would.
func (l asynqLogger) Fatal(args ...any) {
	l.log.Error().Msg(fmt.Sprint(args...))
	os.Exit(1)
}

// asynqLevel maps zerolog's level to asynq's.
func asynqLevel(l zerolog.Level) asynq.LogLevel {
	switch {
	case l <= zerolog.DebugLevel:
		return asynq.DebugLevel
	case l == zerolog.InfoLevel:
		return asynq.InfoLevel
	case l == zerolog.WarnLevel:
		return asynq.WarnLevel
	default:
		return asynq.ErrorLevel
	}
}

// redisLogger routes go-redis's own log lines (dial retries while Redis is away) into zerolog, so
// that the worker's stderr stays one JSON object a line.
type redisLogger struct{ log zerolog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Warn().Str("component", "go-redis").Msg(fmt.Sprintf(format, v...))
}
