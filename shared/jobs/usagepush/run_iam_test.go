package usagepush_test

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/cmd/devstack/jobtest"
	"github.com/guance/aliyun-marketplace/cmd/devstack/samtemplate"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/adapters/marketapi"
	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
)

// TestCredentialsFailureLeavesWindowsPending guards against what a review found: the deployed Market
// is a marketapi.Lazy whose first call reads the AccessKey from SSM. When
// that read fails (throttled, KMS, a parameter renamed), PushMeteringData
// returns the build error, which carries no ErrNotSent: usagepush takes it
// for "the call may have landed" and makes the records uncertain, never
// sent again, although no request ever left the function.
func TestCredentialsFailureLeavesWindowsPending(t *testing.T) {
	f := jobtest.NewMeteringFixture(t)
	h := f.Now
	id := f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
	f.Use(t, "wksp_a", "host", h, 5)
	f.Advance(time.Hour + metering.Grace)
	m := f.Meter()
	m.Market = &marketapi.Lazy{Build: func(context.Context) (*marketapi.Client, error) {
		return nil, errors.New("read market access key: ssm GetParameter: ThrottlingException")
	}}
	if _, err := m.Run(context.Background()); err != nil {
		t.Logf("run: %v", err)
	}
	f.Advance(10 * time.Minute)
	f.Run(t) // SSM is back
	if got := f.Market.Billed(id)["Unit"]; got != 5 {
		t.Fatalf("no request was made, yet billed %d of 5: state %q reason %q", got, f.Push(t, id, h).State, f.Push(t, id, h).Reason)
	}
}

// ambiguousMarket is a gateway answering 503 after the marketplace took
// the call (the simulator's own fallback when it cannot drop the
// connection does exactly this).
type ambiguousMarket struct{ next *marketapi.Client }

func (a ambiguousMarket) PushMeteringData(ctx context.Context, body string) error {
	if err := a.next.PushMeteringData(ctx, body); err != nil {
		return err
	}
	return &marketapi.APIError{Action: "PushMeteringData", Status: http.StatusServiceUnavailable, Code: "ServiceUnavailable"}
}

// TestServerErrorIsNotARefusal guards against what a review found: every *APIError is taken for a
// refusal ("certainly not applied"; the README has operators put refused
// records back to pending). A 5xx answer says nothing of whether the call
// was applied: recorded refused, a window that was billed is then pushed
// again by the documented procedure.
func TestServerErrorIsNotARefusal(t *testing.T) {
	f := jobtest.NewMeteringFixture(t)
	h := f.Now
	id := f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
	f.Use(t, "wksp_a", "host", h, 5)
	f.Advance(time.Hour + metering.Grace)
	m := f.Meter()
	m.Market = ambiguousMarket{next: f.Client}
	if _, err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := f.Push(t, id, h); p.State != metering.PushUncertain {
		t.Fatalf("billed %d time(s), recorded %q (%s): the README's procedure for refused records pushes it again", len(f.Market.Pushed()), p.State, p.Reason)
	}
}

// TestMeteringPolicyCoversItsCalls (sound): every DynamoDB action the
// metering issues over its paths (decide, push, flow control, stuck, late,
// release done), transaction items included, is granted to
// MeteringFunction in template.yaml, and nothing granted goes unused.
func TestMeteringPolicyCoversItsCalls(t *testing.T) {
	f := jobtest.NewMeteringFixture(t)
	logical := map[string]string{}
	for id, name := range f.Tables {
		logical[name] = id
	}
	var mu sync.Mutex
	needs := map[string]bool{}
	note := func(action, table string, index *string) {
		r := logical[table]
		if index != nil {
			r += "/index/" + *index
		}
		mu.Lock()
		needs["dynamodb:"+action+" "+r] = true
		mu.Unlock()
	}
	client := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(f.DB.URL), DisableValidateResponseChecksum: true,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		APIOptions: []func(*middleware.Stack) error{func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("Record",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					switch p := in.Parameters.(type) {
					case *dynamodb.QueryInput:
						note("Query", *p.TableName, p.IndexName)
					case *dynamodb.GetItemInput:
						note("GetItem", *p.TableName, nil)
					case *dynamodb.PutItemInput:
						note("PutItem", *p.TableName, nil)
					case *dynamodb.UpdateItemInput:
						note("UpdateItem", *p.TableName, nil)
					case *dynamodb.BatchGetItemInput:
						for tbl := range p.RequestItems {
							note("BatchGetItem", tbl, nil)
						}
					case *dynamodb.TransactWriteItemsInput:
						for _, it := range p.TransactItems {
							switch {
							case it.Put != nil:
								note("PutItem", *it.Put.TableName, nil)
							case it.Update != nil:
								note("UpdateItem", *it.Update.TableName, nil)
							case it.Delete != nil:
								note("DeleteItem", *it.Delete.TableName, nil)
							case it.ConditionCheck != nil:
								note("ConditionCheckItem", *it.ConditionCheck.TableName, nil)
							}
						}
					default:
						mu.Lock()
						needs["unexpected "+middleware.GetOperationName(ctx)] = true
						mu.Unlock()
					}
					return next.HandleInitialize(ctx, in)
				}), middleware.Before)
		}},
	})
	h := f.Now
	id := f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_a")
	f.Activated(t, simulator.SampleProductCode, h.Add(-time.Minute), "wksp_b")
	f.Use(t, "wksp_a", "host", h, 5)
	f.Use(t, "wksp_b", "host", h, 5)
	meter := func() {
		m := f.Meter()
		st := storage.New(client, f.DB.StoreTables())
		m.Instances, m.Usage, m.Pushes = st.Queue(), st.Usage(), st.Pushes()
		_, _ = m.Run(context.Background())
	}
	f.Advance(time.Hour + metering.Grace)
	f.Market.FailNextPush("Service.Flow.Control")
	meter()
	setInstance(t, f, id, "SET #s = :st, releasedAt = :at", map[string]types.AttributeValue{":st": s("released"), ":at": n(f.Now.Unix())})
	f.Advance(3 * time.Hour)
	meter()

	statements, err := samtemplate.Statements(dynamotest.TemplatePath(), "MeteringFunction")
	if err != nil {
		t.Fatal(err)
	}
	granted := map[string]bool{}
	for g := range samtemplate.Grants(statements) {
		if strings.HasPrefix(g, "dynamodb:") {
			granted[g] = true
		}
	}
	var missing, unused []string
	for need := range needs {
		if !granted[need] {
			missing = append(missing, need)
		}
	}
	for g := range granted {
		if !needs[g] {
			unused = append(unused, g)
		}
	}
	sort.Strings(missing)
	sort.Strings(unused)
	if len(missing) > 0 || len(unused) > 0 {
		t.Fatalf("issued but not granted: %v; granted but not issued: %v", missing, unused)
	}
	t.Logf("issued and granted: %d actions", len(needs))
}
