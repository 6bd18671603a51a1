package faults_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamolocal"
	"github.com/guance/aliyun-marketplace/cmd/devstack/faults"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]faults.Profile{
		"":                                    {},
		"off":                                 {},
		"all":                                 faults.All(0),
		"all,seed=7,kill=0":                   func() faults.Profile { p := faults.All(7); p.Kill = 0; return p }(),
		"ddb=0.5,latency=1ms":                 {DynamoDB: 0.5, Latency: time.Millisecond},
		"timeout=0.25":                        {Timeout: 0.25},
		"ddb=0.01,ddb.TransactWriteItems=0.3": {DynamoDB: 0.01, DynamoDBOps: map[string]float64{"TransactWriteItems": 0.3}},
	} {
		got, err := faults.Parse(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if again, err := faults.Parse(got.String()); err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("%q does not read back: %+v %v", got.String(), again, err)
		}
	}
	for _, bad := range []string{"ddb", "ddb=2", "ddb=x", "ddb.=0.1", "ddb.Query=2", "disk=0.1", "latency=soon", "seed=-1"} {
		if _, err := faults.Parse(bad); err == nil {
			t.Errorf("Parse(%q) took it", bad)
		}
	}
	if faults.New(faults.Profile{}) != nil || faults.New(faults.Profile{Seed: 3, DynamoDBOps: map[string]float64{"Query": 0}}) != nil {
		t.Error("an injector for no fault")
	}
	if (faults.Profile{DynamoDBOps: map[string]float64{"Query": 0.1}}).Off() {
		t.Error("one operation's rate is a fault")
	}
	var none *faults.Injector
	if none.StreamDup() || none.Report() != "no fault injected" {
		t.Error("a nil injector injects")
	}
}

// TestSameSeedSameFaults: a run can be played again.
func TestSameSeedSameFaults(t *testing.T) {
	roll := func() []bool {
		i := faults.New(faults.Profile{Seed: 42, StreamDup: 0.3})
		out := make([]bool, 50)
		for k := range out {
			out[k] = i.StreamDup()
		}
		return out
	}
	a, b := roll(), roll()
	for k := range a {
		if a[k] != b[k] {
			t.Fatal("two runs of one seed differ")
		}
	}
}

func client(url string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: credentials.NewStaticCredentialsProvider("x", "x", ""),
		DisableValidateResponseChecksum: true, RetryMaxAttempts: 1,
	})
}

// TestDynamoDBFaultsAsTheSDKReadsThem: each injected failure is the error
// the SDK makes of DynamoDB's own; a lost answer leaves the write made.
func TestDynamoDBFaultsAsTheSDKReadsThem(t *testing.T) {
	ddb := dynamolocal.New()
	clean := httptest.NewServer(ddb)
	defer clean.Close()
	ctx := context.Background()
	if _, err := client(clean.URL).CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String("T"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	item := func(id string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}
	}
	refused := faults.New(faults.Profile{Seed: 1, DynamoDB: 1})
	srv := httptest.NewServer(refused.DynamoDB(ddb))
	defer srv.Close()
	c := client(srv.URL)
	var throttled *types.ProvisionedThroughputExceededException
	var internal *types.InternalServerError
	var canceled *types.TransactionCanceledException
	for n := 0; n < 40; n++ {
		_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("T"), Item: item("a")})
		if !errors.As(err, &throttled) && !errors.As(err, &internal) {
			t.Fatalf("put: %v", err)
		}
		_, err = c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: aws.String("T"), Item: item("b")}}, {Put: &types.Put{TableName: aws.String("T"), Item: item("c")}},
		}})
		if errors.As(err, &canceled) {
			conflict := false
			for _, r := range canceled.CancellationReasons {
				conflict = conflict || aws.ToString(r.Code) == "TransactionConflict"
			}
			if !conflict || len(canceled.CancellationReasons) != 2 {
				t.Fatalf("reasons %+v", canceled.CancellationReasons)
			}
		} else if !errors.As(err, &throttled) && !errors.As(err, &internal) {
			t.Fatalf("transaction: %v", err)
		}
	}
	counts := refused.Counts()
	if counts[faults.DynamoDBThrottled] == 0 || counts[faults.DynamoDBInternal] == 0 || counts[faults.DynamoDBConflict] == 0 {
		t.Fatalf("counts %v", counts)
	}
	if out, _ := client(clean.URL).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("T"), Key: item("a")}); len(out.Item) != 0 {
		t.Fatal("a refused write was made")
	}

	lost := faults.New(faults.Profile{Seed: 1, DynamoDBLost: 1})
	srv2 := httptest.NewServer(lost.DynamoDB(ddb))
	defer srv2.Close()
	if _, err := client(srv2.URL).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("T"), Item: item("d")}); !errors.As(err, &internal) {
		t.Fatalf("lost answer: %v", err)
	}
	if out, _ := client(clean.URL).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("T"), Key: item("d")}); len(out.Item) == 0 {
		t.Fatal("the write whose answer was lost was not made")
	}
	if _, err := client(srv2.URL).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("T"), Key: item("d")}); err != nil {
		t.Fatalf("a read lost its answer: %v", err)
	}
	if !strings.Contains(lost.Report(), faults.DynamoDBLostAnswer) {
		t.Fatal(lost.Report())
	}

	// One operation's own rate: puts refused, reads untouched.
	byOp := faults.New(faults.Profile{Seed: 1, DynamoDBOps: map[string]float64{"PutItem": 1}})
	srv3 := httptest.NewServer(byOp.DynamoDB(ddb))
	defer srv3.Close()
	for range 5 {
		if _, err := client(srv3.URL).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("T"), Item: item("e")}); err == nil {
			t.Fatal("a put went through at rate 1")
		}
		if _, err := client(srv3.URL).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("T"), Key: item("d")}); err != nil {
			t.Fatalf("a read refused at rate 0: %v", err)
		}
	}
}

// TestSESAndMarketFaults: SES's and the Market OpenAPI's documented
// refusals; a lost SES answer still sends; paused, nothing is injected.
func TestSESAndMarketFaults(t *testing.T) {
	sent := 0
	ses := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { sent++; _, _ = io.WriteString(w, "<SendEmailResponse/>") })
	send := func(h http.Handler) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=SendEmail&Source=a")))
		return rec
	}
	refused := faults.New(faults.Profile{Seed: 3, SES: 1})
	if rec := send(refused.SES(ses)); rec.Code < 400 || !strings.Contains(rec.Body.String(), "<Code>") || sent != 0 {
		t.Fatalf("refused send: %d %s (%d sent)", rec.Code, rec.Body, sent)
	}
	lost := faults.New(faults.Profile{Seed: 3, SESLost: 1})
	if rec := send(lost.SES(ses)); rec.Code != 500 || sent != 1 {
		t.Fatalf("lost answer: %d (%d sent)", rec.Code, sent)
	}
	lost.Pause(true)
	if rec := send(lost.SES(ses)); rec.Code != 200 || sent != 2 {
		t.Fatalf("paused: %d", rec.Code)
	}
	market := faults.New(faults.Profile{Seed: 5, Market: 1})
	h := market.Market(http.NotFoundHandler())
	for range 20 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?Action=DescribeInstanceForIsv", nil))
		if !(rec.Code == 400 && strings.Contains(rec.Body.String(), `"Code":"Throttling.User"`)) && !(rec.Code == 503 && strings.Contains(rec.Body.String(), "ServiceUnavailable")) {
			t.Fatalf("market: %d %s", rec.Code, rec.Body)
		}
	}
	if c := market.Counts(); c[faults.MarketThrottled] == 0 || c[faults.MarketUnavailable] == 0 {
		t.Fatalf("counts %v", c)
	}
	// Held past the caller's deadline, then served: the caller gave up
	// on a call that was made.
	faults.Hold = 50 * time.Millisecond
	defer func() { faults.Hold = 5 * time.Second }()
	held := faults.New(faults.Profile{Seed: 5, Timeout: 1})
	var served atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	srv := httptest.NewServer(held.Market(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) })))
	defer srv.Close()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("a held call answered in time")
	}
	time.Sleep(100 * time.Millisecond)
	if served.Load() != 1 || held.Count(faults.MarketTimeout) != 1 {
		t.Fatalf("served %d, counts %v", served.Load(), held.Counts())
	}
}
