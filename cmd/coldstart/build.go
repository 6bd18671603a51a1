package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/samtemplate"
)

// deployArch is what the functions run on in Lambda (template.yaml's
// Architectures); sizes are reported for it.
const deployArch = "arm64"

// Builder builds bootstraps into Dir/<goarch>/<name>/bootstrap.
type Builder struct {
	Root string // the repository, where the Makefile and go.mod are
	Dir  string
	// Log receives the build tools' output; nil keeps it, to show only
	// when a build fails.
	Log io.Writer
}

// Baseline builds the package at pkgDir (relative to the root) for goarch
// with the flags of the Makefile's go_build, so that a baseline differs
// from a function only in its code.
func (b Builder) Baseline(ctx context.Context, name, pkgDir, goarch string) (string, error) {
	out, err := b.outDir(goarch, name)
	if err != nil {
		return "", err
	}
	bootstrap := filepath.Join(out, "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags=-s -w",
		"-o", bootstrap, "./"+filepath.ToSlash(pkgDir))
	cmd.Dir = b.Root
	// The build (not the measured process) inherits this environment, for
	// the Go caches and proxy settings.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	if _, ok := os.LookupEnv("GOFLAGS"); !ok {
		// As the Makefile's `export GOFLAGS ?= -buildvcs=false`.
		cmd.Env = append(cmd.Env, "GOFLAGS=-buildvcs=false")
	}
	if err := b.run(cmd); err != nil {
		return "", fmt.Errorf("build baseline %s for %s: %w", name, goarch, err)
	}
	return bootstrap, nil
}

// Function builds fn for goarch through its Makefile target, as SAM does.
// For this machine's architecture that is localstack.BuildFunction itself.
func (b Builder) Function(ctx context.Context, fn samtemplate.Function, goarch string) (string, error) {
	if goarch == runtime.GOARCH {
		var log bytes.Buffer
		w := b.Log
		if w == nil {
			w = &log
		}
		bootstrap, err := localstack.BuildFunction(ctx, b.Root, filepath.Join(b.Dir, goarch), fn, w)
		if err != nil {
			return "", withOutput(err, log.Bytes())
		}
		return bootstrap, nil
	}
	// localstack.BuildFunction always builds for this machine; the deploy
	// target needs the same make call with the other GOARCH.
	if fn.BuildMethod != "makefile" {
		return "", fmt.Errorf("function %s: BuildMethod %q, only makefile is supported", fn.LogicalID, fn.BuildMethod)
	}
	out, err := b.outDir(goarch, fn.LogicalID)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "make", "--no-print-directory", "-C", b.Root, "build-"+fn.LogicalID,
		"ARTIFACTS_DIR="+out, "GOARCH="+goarch)
	if err := b.run(cmd); err != nil {
		return "", fmt.Errorf("build %s for %s: %w", fn.LogicalID, goarch, err)
	}
	return filepath.Join(out, "bootstrap"), nil
}

func (b Builder) outDir(goarch, name string) (string, error) {
	out, err := filepath.Abs(filepath.Join(b.Dir, goarch, name))
	if err != nil {
		return "", fmt.Errorf("build folder: %w", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("build folder: %w", err)
	}
	return out, nil
}

// run runs a build command, its output going to b.Log or, when that is
// nil, into the error should it fail.
func (b Builder) run(cmd *exec.Cmd) error {
	if b.Log != nil {
		cmd.Stdout, cmd.Stderr = b.Log, b.Log
		return cmd.Run()
	}
	out, err := cmd.CombinedOutput()
	return withOutput(err, out)
}

func withOutput(err error, out []byte) error {
	if err == nil || len(bytes.TrimSpace(out)) == 0 {
		return err
	}
	return fmt.Errorf("%w\n%s", err, bytes.TrimSpace(out))
}

// fileSize is the size of a built bootstrap in bytes.
func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", path, err)
	}
	return st.Size(), nil
}
