package main

import (
	"bufio"
	"bytes"
	"cmp"
	"math"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// PackageInit is one line of GODEBUG=inittrace=1 output: the runtime prints
// it after running one package's init functions, so Clock is that package's
// own cost (its dependencies were initialised, and printed, before it).
type PackageInit struct {
	Package string
	At      time.Duration // since the runtime started
	Clock   time.Duration
	Bytes   int64
	Allocs  int64
}

// The runtime's format (runtime/proc.go, doInit1):
//
//	init <pkg> @<t> ms, <clock> ms clock, <bytes> bytes, <allocs> allocs
//
// where times under 10 ms carry decimals and larger ones are whole.
var initLine = regexp.MustCompile(`^init (\S+) @([0-9.]+) ms, ([0-9.]+) ms clock, ([0-9]+) bytes, ([0-9]+) allocs$`)

// ParseInitTrace reads the inittrace lines out of a process's stderr,
// skipping anything else the process wrote there.
func ParseInitTrace(stderr []byte) []PackageInit {
	var inits []PackageInit
	sc := bufio.NewScanner(bytes.NewReader(stderr))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		m := initLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		at, err1 := parseMS(m[2])
		clock, err2 := parseMS(m[3])
		bytesN, err3 := strconv.ParseInt(m[4], 10, 64)
		allocs, err4 := strconv.ParseInt(m[5], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			continue
		}
		inits = append(inits, PackageInit{Package: m[1], At: at, Clock: clock, Bytes: bytesN, Allocs: allocs})
	}
	return inits
}

// TopInits is the n package inits with the most clock time, most first
// (ties by package path, so the list is stable).
func TopInits(inits []PackageInit, n int) []PackageInit {
	s := slices.Clone(inits)
	slices.SortStableFunc(s, func(a, b PackageInit) int {
		if c := cmp.Compare(b.Clock, a.Clock); c != 0 {
			return c
		}
		return cmp.Compare(a.Package, b.Package)
	})
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// TotalClock is the sum of the package inits' clock times.
func TotalClock(inits []PackageInit) time.Duration {
	var total time.Duration
	for _, in := range inits {
		total += in.Clock
	}
	return total
}

func parseMS(s string) (time.Duration, error) {
	ms, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	// Rounded: 0.57 ms is 569999.99... ns in floating point.
	return time.Duration(math.Round(ms * float64(time.Millisecond))), nil
}
