package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Go's flag package stops at the first argument that is not a flag and
// leaves it, and everything after it, to the caller. A command that did
// not look would run as if they were not there: "sluice apply -f a.yaml
// b.yaml" applying a.yaml, "sluice proxy --to X extra --workers 4" running
// without the four workers. Every command checks what is left over.

// refuseLeftover prints why and returns false when fs left more than most
// arguments unparsed. cmd names the command in the message; hint says how
// the command takes what an argument might have been meant for.
func refuseLeftover(cmd string, fs *flag.FlagSet, most int, hint string, stderr io.Writer) bool {
	extra := fs.Args()
	if len(extra) <= most {
		return true
	}
	extra = extra[most:]
	quoted := make([]string, len(extra))
	for i, a := range extra {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	noun := "argument"
	if len(extra) > 1 {
		noun = "arguments"
	}
	fmt.Fprintf(stderr, "sluice %s: unexpected %s %s: %s; flags go before any argument\n", cmd, noun, strings.Join(quoted, " "), hint)
	return false
}

// flagGiven says whether name was set on the command line (rather than
// left at its default).
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			given = true
		}
	})
	return given
}

// validateFile is the file "sluice validate" checks: -c FILE or the one
// argument FILE, not both. It returns false after printing why when the
// arguments are not one of those.
func validateFile(fs *flag.FlagSet, byFlag string, stderr io.Writer) (string, bool) {
	if !refuseLeftover("validate", fs, 1, "validate checks one file, given as -c FILE or as FILE", stderr) {
		return "", false
	}
	if fs.NArg() == 0 {
		return byFlag, true
	}
	if flagGiven(fs, "c") {
		fmt.Fprintf(stderr, "sluice validate: two files given, -c %q and %q: give one, as -c FILE or as FILE\n", byFlag, fs.Arg(0))
		return "", false
	}
	return fs.Arg(0), true
}
