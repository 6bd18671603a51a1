// Package dynamotest runs the embedded DynamoDB-compatible server for tests,
// with the tables of the project's SAM template, and counts the round trips
// the code under test makes. Tests talk to it over HTTP with the real SDK.
package dynamotest

import (
	"context"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
	miniserver "github.com/truora/minidyn/server"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamolocal"
	"github.com/guance/aliyun-marketplace/cmd/devstack/samtemplate"
)

// Server is an embedded DynamoDB with the template's tables.
type Server struct {
	// Engine injects failures (EmulateFailure, EmulateFailureForTable).
	Engine *miniserver.Server
	URL    string
	// Tables maps a table's logical id to its name.
	Tables map[string]string
	calls  atomic.Int64
}

// TemplatePath is the project's SAM template, found from this file.
func TemplatePath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "template.yaml")
}

// Start runs a fresh server for the test and creates the template's tables.
func Start(t testing.TB) *Server {
	t.Helper()
	local := dynamolocal.New()
	engine := local.Engine
	ts := httptest.NewServer(local)
	t.Cleanup(ts.Close)

	tmpl, err := samtemplate.Load(TemplatePath(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Engine: engine, URL: ts.URL, Tables: map[string]string{}}
	client := s.Client()
	for _, table := range tmpl.Tables {
		if _, err := client.CreateTable(context.Background(), table.Definition); err != nil {
			t.Fatalf("create table %s: %v", table.LogicalID, err)
		}
		s.Tables[table.LogicalID] = aws.ToString(table.Definition.TableName)
	}
	s.calls.Store(0)
	return s
}

// Client returns an SDK client for the server whose calls are counted.
func (s *Server) Client() *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
		// The embedded server sends no CRC32 header.
		DisableValidateResponseChecksum: true,
		APIOptions: []func(*middleware.Stack) error{func(stack *middleware.Stack) error {
			// Finalize runs once per attempt, after the retryer: each
			// count is one HTTP request.
			return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("CountRoundTrips",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					s.calls.Add(1)
					return next.HandleFinalize(ctx, in)
				}), middleware.After)
		}},
	})
}

// Store is the product's store over Client and the template's tables.
func (s *Server) Store() *storage.Store {
	return storage.New(s.Client(), s.StoreTables())
}

// StoreTables are the template's tables as the store names them.
func (s *Server) StoreTables() storage.Tables {
	return storage.Tables{
		Instances: s.Tables["InstancesTable"], Sessions: s.Tables["SessionsTable"], Verification: s.Tables["VerificationTable"],
		Accounts: s.Tables["AccountsTable"], Workspaces: s.Tables["WorkspacesTable"], Outbox: s.Tables["OutboxTable"],
		Usage: s.Tables["UsageTable"], Metering: s.Tables["MeteringTable"], Audit: s.Tables["AuditTable"],
	}
}

// RoundTrips returns the calls made through Client since the last Reset.
func (s *Server) RoundTrips() int64 { return s.calls.Load() }

// ResetRoundTrips starts counting again from zero.
func (s *Server) ResetRoundTrips() { s.calls.Store(0) }
