package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
)

// confirm asks question on stderr and reads the answer from stdin, a terminal (the caller checks
// that, and takes --yes instead elsewhere). Only "y" or "yes" goes ahead; anything else, an empty
// line included, stops with nothing done (exit 1).
func (a *app) confirm(question string) error {
	fmt.Fprintf(a.stderr, "%s [y/N] ", question)
	answer, _ := bufio.NewReader(a.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return failed(errors.New("not confirmed: nothing was done"))
}
