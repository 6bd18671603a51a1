package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one binary of the report.
type row struct {
	target Target
	arm64  string // the deploy build, weighed only
	size   int64  // bytes of the arm64 build
	m      Measurement
	err    error // the build or the measurement failed

	inits    []PackageInit
	traceErr error
}

// writeReport prints the table: one row per binary, the floor's median init
// and size as the unit of the ratios.
func writeReport(w io.Writer, rows []*row, o options) {
	var floor *row
	for _, r := range rows {
		if r.target.Name == "floor" {
			floor = r
		}
	}
	fmt.Fprintf(w, "Cold starts on linux/%s (%d CPUs, %s), no emulator: %d runs per binary, each a fresh process.\n",
		runtime.GOARCH, runtime.NumCPU(), runtime.Version(), o.runs)
	fmt.Fprintf(w, "ms from exec; median (min-max). init: to the first GET /runtime/invocation/next;\n")
	fmt.Fprintf(w, "first response: to the post that answers the event. Sizes: stripped linux/%s bootstrap, MB = 10^6 bytes.\n\n", deployArch)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "binary\tinit ms\tinit/floor\tfirst response ms\tarm64 MB\tsize/floor\tevent -> answer")
	var failures []*row
	for _, r := range rows {
		size, sizeRatio := "-", "-"
		if r.size > 0 {
			size = fmt.Sprintf("%.2f", float64(r.size)/1e6)
			if floor != nil && floor.size > 0 {
				sizeRatio = fmt.Sprintf("%.2f", float64(r.size)/float64(floor.size))
			}
		}
		if r.err != nil {
			failures = append(failures, r)
			fmt.Fprintf(tw, "%s\tFAILED\t-\t-\t%s\t%s\t%s -> see below\n", r.target.Name, size, sizeRatio, r.target.EventName)
			continue
		}
		initRatio := "-"
		if floor != nil && floor.err == nil && floor.m.Init.Median > 0 {
			initRatio = fmt.Sprintf("%.2f", float64(r.m.Init.Median)/float64(floor.m.Init.Median))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s -> %s\n", r.target.Name,
			formatSummary(r.m.Init), initRatio, formatSummary(r.m.FirstResponse), size, sizeRatio,
			r.target.EventName, describeAnswer(r.m))
	}
	tw.Flush()

	fmt.Fprintln(w)
	for _, r := range rows {
		if r.err == nil && r.m.Errors > 0 {
			fmt.Fprintf(w, "%s: the handler answered with an invocation error in %d of %d runs; the time to its /error post is counted as its first response.\n",
				r.target.Name, r.m.Errors, o.runs)
		}
	}
	for _, r := range failures {
		fmt.Fprintf(w, "%s failed: %v\n", r.target.Name, r.err)
	}
	fmt.Fprintln(w, "The embedded DynamoDB lives for the whole benchmark: what one run writes, the later runs read.")
}

// writeInitTraces prints each binary's most expensive package inits.
func writeInitTraces(w io.Writer, rows []*row) {
	fmt.Fprintf(w, "\nPackage inits (GODEBUG=inittrace=1, one more cold start each): the %d most expensive by clock time.\n", topInits)
	for _, r := range rows {
		switch {
		case r.err != nil:
			fmt.Fprintf(w, "\n%s: not traced, it failed\n", r.target.Name)
			continue
		case r.traceErr != nil:
			fmt.Fprintf(w, "\n%s: %v\n", r.target.Name, r.traceErr)
			continue
		}
		fmt.Fprintf(w, "\n%s: %d package inits, %.2f ms clock in all\n", r.target.Name, len(r.inits), TotalClock(r.inits).Seconds()*1e3)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "ms clock\tstarted at ms\tbytes\tallocs\t\tpackage")
		for _, in := range TopInits(r.inits, topInits) {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t\t%s\n", traceMS(in.Clock), traceMS(in.At), in.Bytes, in.Allocs, in.Package)
		}
		tw.Flush()
	}
}

// traceMS prints a time of the init trace with no more digits than the
// runtime gave it (two significant ones below 10 ms).
func traceMS(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64)
}

// describeAnswer is what the handler answered in the last run: the HTTP
// status of a payload 2.0 response, a short body otherwise, or the error.
func describeAnswer(m Measurement) string {
	out := m.Last
	if out.Kind != OutcomeResponse {
		return fmt.Sprintf("%s (%s)", out.Kind, out.ErrorSummary())
	}
	var resp struct {
		StatusCode int `json:"statusCode"`
	}
	if err := json.Unmarshal(out.Body, &resp); err == nil && resp.StatusCode != 0 {
		return fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return firstLine(string(out.Body), 40)
}

func formatSummary(s Summary) string {
	return fmt.Sprintf("%s (%s-%s)", formatMS(s.Median), formatMS(s.Min), formatMS(s.Max))
}

// formatMS is d in milliseconds with one decimal, or more below 1 ms.
func formatMS(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 1 {
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", ms), "0"), ".")
	}
	return fmt.Sprintf("%.1f", ms)
}
