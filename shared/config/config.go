// Package config reads a function's configuration: plain settings from
// environment variables, secrets from SSM Parameter Store in AWS (or from an
// environment variable on a developer's machine), and the AWS clients.
package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// Required returns the environment variable name, or an error naming it.
func Required(name string) (string, error) {
	v := os.Getenv(name)
	if v == "" {
		return "", fmt.Errorf("environment variable %s is not set", name)
	}
	return v, nil
}

// Get returns the environment variable name, or fallback when it is empty.
func Get(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// ParameterReader reads one SSM parameter.
type ParameterReader interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// Secret returns the secret called name. The environment variable name
// itself wins (the local stack sets it); otherwise the variable
// name+"_PARAMETER" names an SSM SecureString, read once with decryption.
// The value is never logged.
func Secret(ctx context.Context, ssmClient func() ParameterReader, name string) (string, error) {
	if v := os.Getenv(name); v != "" {
		return v, nil
	}
	paramName := os.Getenv(name + "_PARAMETER")
	if paramName == "" {
		return "", fmt.Errorf("secret %s: set %s or %s_PARAMETER", name, name, name)
	}
	out, err := ssmClient().GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(paramName), WithDecryption: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("secret %s: read parameter %s: %w", name, paramName, err)
	}
	if out.Parameter == nil || aws.ToString(out.Parameter.Value) == "" {
		return "", fmt.Errorf("secret %s: parameter %s is empty", name, paramName)
	}
	return aws.ToString(out.Parameter.Value), nil
}

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

// DynamoDB returns a DynamoDB client. The local DynamoDB-compatible server
// sends no CRC32 header, so response checksums are checked only when no
// local endpoint is configured.
func DynamoDB(cfg aws.Config) *dynamodb.Client {
	local := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") != ""
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.DisableValidateResponseChecksum = local
	})
}

// SSM returns a constructor of the SSM client, so that it is built only
// when a secret actually has to be read from Parameter Store.
func SSM(cfg aws.Config) func() ParameterReader {
	return func() ParameterReader { return ssm.NewFromConfig(cfg) }
}

// Duration reads a Go duration ("5m") from name, or fallback when unset.
func Duration(name string, fallback time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return fallback, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("environment variable %s: %q is not a positive duration", name, v)
	}
	return d, nil
}

// Bool reads "true" or "false" from name, or fallback when unset.
func Bool(name string, fallback bool) (bool, error) {
	switch v := os.Getenv(name); v {
	case "":
		return fallback, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	default:
		return false, fmt.Errorf("environment variable %s: %q is not true or false", name, v)
	}
}

// SES returns an SES (API v1) client.
func SES(cfg aws.Config) *ses.Client {
	return ses.NewFromConfig(cfg)
}
