// Package jobtest holds what the scheduled jobs' tests share with the
// local stack's: the metering run over the wire against the embedded
// DynamoDB and the simulator's OpenAPI, on a clock the tests move.
package jobtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/adapters/marketapi"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
	"github.com/guance/aliyun-marketplace/shared/jobs/runner"
	"github.com/guance/aliyun-marketplace/shared/jobs/usagepush"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// MeteringFixture is the metering over the wire: the embedded DynamoDB,
// the simulator's PushMeteringData through the SDK, the real stores; one
// clock for both sides, which the tests move.
type MeteringFixture struct {
	DB        *dynamotest.Server
	Market    *simulator.Market
	Instances *storage.Instances
	Usage     *storage.Usage
	Pushes    *storage.Pushes
	Client    *marketapi.Client
	Tables    map[string]string
	Metrics   *bytes.Buffer
	mu        sync.Mutex
	// Now is the clock of both sides; tests set it before a run, or move
	// it with Advance.
	Now time.Time
}

// MeteringMapping is the billable items the fixture meters.
var MeteringMapping = metering.Mapping{"host": {Key: "Unit", Assist: "cmgj00053362-Unit-1"}, "log_gb": {Key: "StorageGigaByte", Assist: "cmgj00053362-StorageGigaByte-2"}}

func NewMeteringFixture(t testing.TB) *MeteringFixture {
	db := dynamotest.Start(t)
	f := &MeteringFixture{DB: db, Market: simulator.NewMarket(), Tables: db.Tables, Metrics: &bytes.Buffer{},
		Now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	f.Market.Now = f.Clock
	api := httptest.NewServer(&simulator.OpenAPI{Market: f.Market, AccessKeyID: localstack.LocalMarketAccessKeyID, AccessKeySecret: localstack.LocalMarketAccessKeySecret})
	t.Cleanup(api.Close)
	client, err := marketapi.New(marketapi.Config{Endpoint: api.URL, AccessKeyID: localstack.LocalMarketAccessKeyID, AccessKeySecret: localstack.LocalMarketAccessKeySecret, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	f.Client = client
	f.Instances = db.Store().Instances()
	f.Usage = db.Store().Usage()
	f.Pushes = db.Store().Pushes()
	return f
}

func (f *MeteringFixture) Clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Now
}

func (f *MeteringFixture) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Now = f.Now.Add(d)
}

func (f *MeteringFixture) Meter() *usagepush.Meter {
	return &usagepush.Meter{
		Instances: f.DB.Store().Queue(), Usage: f.Usage, Pushes: f.Pushes,
		Market: f.Client, Mapping: MeteringMapping, Pacing: runner.Pacing{Backoff: time.Millisecond},
		Now: f.Clock, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics.NewRecorder(f.Metrics, "test"),
	}
}

func (f *MeteringFixture) Run(t testing.TB) usagepush.Summary {
	t.Helper()
	s, err := f.Meter().Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// activated is an instance bought, activated at `at` with one workspace
// per id, and known to the marketplace.
func (f *MeteringFixture) Activated(t testing.TB, product string, at time.Time, workspaces ...string) string {
	t.Helper()
	p := f.Market.BuyProduct(simulator.SampleUID, product, at)
	var members []string
	for _, ws := range workspaces {
		members = append(members, metering.FormatMember(ws, at))
	}
	if _, _, err := f.Instances.Create(context.Background(), activation.Instance{
		ID: p.InstanceID, AliUID: p.AliUID, ProductCode: product, Status: activation.StatusActive, Progress: activation.ProgressActivated,
		Workspaces: workspaces, Metering: activation.MeteringOn, MeteredFrom: at, MeteredUntil: metering.Ceil(at), MeteredWorkspaces: members,
		Orders: map[string]string{activation.OrderCreate: p.OrderID}, CreatedAt: at, UpdatedAt: at,
	}); err != nil {
		t.Fatal(err)
	}
	return p.InstanceID
}

func (f *MeteringFixture) Use(t testing.TB, ws, item string, window time.Time, amount int64) {
	t.Helper()
	if err := f.Usage.Put(context.Background(), metering.Usage{WorkspaceID: ws, Item: item, WindowStart: window.Unix(), Amount: amount}); err != nil {
		t.Fatal(err)
	}
}

func (f *MeteringFixture) Push(t testing.TB, instance string, window time.Time) metering.Push {
	t.Helper()
	out, err := f.DB.Client().GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(f.Tables["MeteringTable"]),
		Key: map[string]types.AttributeValue{"instanceId": &types.AttributeValueMemberS{Value: instance}, "window": &types.AttributeValueMemberN{Value: fmt.Sprint(window.Unix())}}})
	if err != nil {
		t.Fatal(err)
	}
	var p metering.Push
	_ = attributevalue.UnmarshalMap(out.Item, &p)
	return p
}
