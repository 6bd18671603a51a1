// Package function is what every function's main starts from: JSON logs on
// standard output, its settings from the environment, the AWS SDK's
// configuration, its secrets (Parameter Store in AWS, variables locally)
// and its metrics. A main builds its handler from these and starts it; a
// function that cannot be built logs why and exits, and Lambda reports the
// failed init.
package function

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/guance/aliyun-marketplace/shared/adapters/ssmparam"
	"github.com/guance/aliyun-marketplace/shared/platform/config"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// Env is what a function is built from.
type Env struct {
	Settings *config.Env
	AWS      aws.Config
	Secrets  *config.Secrets
	Log      *slog.Logger
	Metrics  *metrics.Recorder
}

// Previous is the secret a rotation replaces (name+"_PREVIOUS"): "" when
// there is none. One that is named and cannot be read, or that check
// (when given) refuses, is logged and left out, never stopping the
// function: it starts with the current secret.
func (e *Env) Previous(ctx context.Context, name string, check ...func(string) error) string {
	v, err := e.Secrets.Optional(ctx, name+"_PREVIOUS")
	for _, c := range check {
		if err == nil && v != "" {
			err = c(v)
		}
	}
	if err != nil {
		e.Log.ErrorContext(ctx, "the secret a rotation replaces is not readable; only the current one is used (DEPLOY.md, rotating secrets)", "secret", name, logging.Err(err))
		e.Metrics.Count("PreviousSecretUnreadable", nil)
		return ""
	}
	return v
}

// Build makes a function's handler from its Env.
type Build[H any] func(ctx context.Context, env *Env) (H, error)

// Load is the Env of this process.
func Load(ctx context.Context, log *slog.Logger) (*Env, error) {
	settings := config.FromEnvironment()
	cfg, err := config.AWS(ctx)
	if err != nil {
		return nil, err
	}
	return &Env{
		Settings: settings,
		AWS:      cfg,
		Secrets:  config.NewSecrets(ssmparam.New(cfg)),
		Log:      log,
		Metrics:  metrics.FromEnv(settings),
	}, nil
}

// Make loads the Env and builds the handler, or logs why it cannot and
// exits. Every setting problem is reported at once.
func Make[H any](build Build[H]) H {
	log := logging.New(os.Stdout, logging.Level(os.Getenv("AWS_LAMBDA_LOG_LEVEL")))
	ctx := context.Background()
	env, err := Load(ctx, log)
	if err != nil {
		exit(log, err)
	}
	h, err := build(ctx, env)
	if err == nil {
		err = env.Settings.Err()
	}
	if err != nil {
		exit(log, err)
	}
	return h
}

func exit(log *slog.Logger, err error) {
	log.Error("cannot start", logging.Err(err))
	os.Exit(1)
}

// Main builds a non-HTTP function's handler and serves it.
func Main[H any](build Build[H]) {
	lambda.Start(Make(build))
}
