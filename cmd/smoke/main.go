// Command smoke checks a deployed stage from the outside, without
// credentials and without side effects (make smoke URL=https://...): the
// SPI refuses a call signed with a wrong key from its running function,
// the authUrl and an unknown path answer the branded pages, with the
// security headers. It exits 1 if a check fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/guance/aliyun-marketplace/cmd/devstack/smoke"
)

func main() {
	if err := realMain(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "smoke:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, args []string, out io.Writer) error {
	flags := flag.NewFlagSet("smoke", flag.ContinueOnError)
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() != 1 {
		return errors.New("usage: smoke https://<api>   (the stack's ApiUrl output, or its custom domain)")
	}
	base := flags.Arg(0)
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", base)
	}
	// Redirects are checked, not followed.
	client := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	failed := 0
	for _, c := range smoke.Run(ctx, client, base) {
		if c.Err != nil {
			failed++
			fmt.Fprintf(out, "FAIL  %s: %v\n", c.Name, c.Err)
			continue
		}
		fmt.Fprintf(out, "ok    %s\n", c.Name)
	}
	if failed > 0 {
		return fmt.Errorf("%d checks failed against %s", failed, base)
	}
	return nil
}
