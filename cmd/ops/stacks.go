package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/shared/adapters/eventbus"
	"github.com/guance/aliyun-marketplace/shared/adapters/marketapi"
	"github.com/guance/aliyun-marketplace/shared/adapters/ssmparam"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/platform/config"
)

// target is what the tool works on: the stack's variables (the tables,
// the bus, the functions, the Market OpenAPI's settings and where its
// AccessKey is), the AWS configuration, and who the operator is.
type target struct {
	vars map[string]string
	aws  aws.Config
	// dynamodb and apis, when set, are where DynamoDB and the other AWS
	// APIs (EventBridge, Lambda) are: the local stack's.
	dynamodb, apis string
	secrets        config.ParameterStore
	operator       string
}

// The variables the tool reads besides the tables (storage.Table) and the
// Market OpenAPI's (marketapi.LoadSettings).
const (
	busVar       = "EVENT_BUS_NAME"
	reconcileVar = "RECONCILE_FUNCTION"
	meteringVar  = "METERING_FUNCTION"
)

// stackOutputs maps the stack's outputs to the variables the tool reads.
var stackOutputs = map[string]string{
	"InstancesTableName":    string(storage.InstancesTable),
	"SessionsTableName":     string(storage.SessionsTable),
	"VerificationTableName": string(storage.VerificationTable),
	"AccountsTableName":     string(storage.AccountsTable),
	"WorkspacesTableName":   string(storage.WorkspacesTable),
	"OutboxTableName":       string(storage.OutboxTable),
	"UsageTableName":        string(storage.UsageTable),
	"MeteringTableName":     string(storage.MeteringTable),
	"AuditTableName":        string(storage.AuditTable),
	"BusinessEventBusName":  busVar,
	"ReconcileFunctionName": reconcileVar,
	"MeteringFunctionName":  meteringVar,
}

// stackParameters maps the stack's parameters to the variables the Market
// OpenAPI's client reads (the AccessKey by its parameters' names: the
// operator's credentials read them, as the function's role does).
var stackParameters = map[string]string{
	"MarketEndpoint":                     "MARKET_ENDPOINT",
	"MarketAccessKeyIdParameterName":     "MARKET_ACCESS_KEY_ID_PARAMETER",
	"MarketAccessKeySecretParameterName": "MARKET_ACCESS_KEY_SECRET_PARAMETER",
}

// stackTarget reads a deployed stack's outputs and parameters with the
// operator's own credentials (the AWS configuration's: profile, SSO,
// environment), and names the operator by their identity's ARN.
func stackTarget(ctx context.Context, name, region string) (*target, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no region: pass -region or set AWS_REGION")
	}
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return nil, fmt.Errorf("who is the operator (sts GetCallerIdentity; no AWS credentials? aws sso login, or set AWS_PROFILE): %w", err)
	}
	out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("describe stack %s: %w", name, err)
	}
	if len(out.Stacks) != 1 {
		return nil, fmt.Errorf("stack %s: not found", name)
	}
	vars := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		if v, ok := stackOutputs[aws.ToString(o.OutputKey)]; ok {
			vars[v] = aws.ToString(o.OutputValue)
		}
	}
	for _, p := range out.Stacks[0].Parameters {
		if v, ok := stackParameters[aws.ToString(p.ParameterKey)]; ok {
			vars[v] = aws.ToString(p.ParameterValue)
		}
	}
	for _, need := range []string{string(storage.InstancesTable), string(storage.AuditTable), busVar} {
		if vars[need] == "" {
			return nil, fmt.Errorf("stack %s has no output for %s: is it this product's stack, deployed from this version?", name, need)
		}
	}
	return &target{vars: vars, aws: cfg, secrets: ssmparam.New(cfg), operator: aws.ToString(who.Arn)}, nil
}

// localTarget is the stack of make dev (localstack.LocalEndpoints): its
// tables and functions are named by their logical ids, its AWS stand-ins
// listen on local ports, and the operator is the machine's user.
func localTarget(ep localstack.Endpoints) *target {
	vars := map[string]string{
		"MARKET_ENDPOINT":          ep.MarketAPI,
		"MARKET_ACCESS_KEY_ID":     localstack.LocalMarketAccessKeyID,
		"MARKET_ACCESS_KEY_SECRET": localstack.LocalMarketAccessKeySecret,
		busVar:                     "BusinessEventBus",
		reconcileVar:               "ReconcileFunction",
		meteringVar:                "MeteringFunction",
	}
	for table, logicalID := range map[storage.Table]string{
		storage.InstancesTable: "InstancesTable", storage.SessionsTable: "SessionsTable",
		storage.VerificationTable: "VerificationTable", storage.AccountsTable: "AccountsTable",
		storage.WorkspacesTable: "WorkspacesTable", storage.OutboxTable: "OutboxTable",
		storage.UsageTable: "UsageTable", storage.MeteringTable: "MeteringTable", storage.AuditTable: "AuditTable",
	} {
		vars[string(table)] = logicalID
	}
	who := os.Getenv("USER")
	if who == "" {
		who = "developer"
	}
	return &target{
		vars:     vars,
		aws:      aws.Config{Region: localstack.Region, Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")},
		dynamodb: ep.DynamoDB, apis: ep.AWS,
		secrets:  noParameters{},
		operator: "local:" + who,
	}
}

type noParameters struct{}

func (noParameters) SecureString(context.Context, string) (string, error) {
	return "", errors.New("locally the secrets are variables")
}

// tool builds the tool on the target.
func (t *target) tool() *tool {
	env := config.FromMap(t.vars)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := dynamodb.NewFromConfig(t.aws, func(o *dynamodb.Options) {
		if t.dynamodb != "" {
			o.BaseEndpoint, o.DisableValidateResponseChecksum = aws.String(t.dynamodb), true
		}
	})
	events := eventbridge.NewFromConfig(t.aws, func(o *eventbridge.Options) {
		if t.apis != "" {
			o.BaseEndpoint = aws.String(t.apis)
		}
	})
	functions := lambda.NewFromConfig(t.aws, func(o *lambda.Options) {
		if t.apis != "" {
			o.BaseEndpoint = aws.String(t.apis)
		}
	})
	st := storage.New(db, storage.LoadTables(env))
	market := marketapi.NewLazy(marketapi.LoadSettings(env), env.Secrets(t.secrets))
	domain := activation.NewService(st.Instances(), market, log)
	domain.Effects = &activation.Effects{Store: st.Effects(), Log: log}
	return &tool{
		store: st, op: st.Operator(), trail: st.Trail(), market: market, domain: domain,
		bus:      &eventbus.Bus{API: events, Name: t.vars[busVar]},
		invoker:  &lambdaInvoker{client: functions},
		jobs:     map[string]string{"reconcile": t.vars[reconcileVar], "metering": t.vars[meteringVar]},
		operator: t.operator,
		now:      time.Now,
	}
}

// lambdaInvoker runs a function now, synchronously (RequestResponse).
type lambdaInvoker struct{ client *lambda.Client }

func (l *lambdaInvoker) Invoke(ctx context.Context, function string) (json.RawMessage, error) {
	out, err := l.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(function), Payload: []byte(`{"source":"ops"}`)})
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", function, err)
	}
	if out.FunctionError != nil {
		return nil, fmt.Errorf("invoke %s: the function failed (%s): %s", function, aws.ToString(out.FunctionError), out.Payload)
	}
	return out.Payload, nil
}
