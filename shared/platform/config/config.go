// Package config reads a function's configuration: plain settings from
// environment variables (Env), secrets from SSM Parameter Store in AWS or
// from an environment variable on a developer's machine (Secrets), and the
// AWS SDK's configuration. It builds no service client: each function
// links only the clients it uses, built by the packages that use them.
package config

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// AWS loads the SDK configuration from the environment, as in Lambda. The
// SDK also reads per-service endpoints (AWS_ENDPOINT_URL_DYNAMODB, ...) from
// there, which is how the local stack points functions at local services.
func AWS(ctx context.Context) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("load AWS configuration: no region (set AWS_REGION)")
	}
	return cfg, nil
}
