package main

// OperatorPolicy (template.yaml) grants what the tool's own calls need,
// per item of a transaction, with the Accounts table's LeadingKeys
// condition: a call the deployed tool would be refused fails here.

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/guance/aliyun-marketplace/cmd/devstack/dynamotest"
	"github.com/guance/aliyun-marketplace/cmd/devstack/eventbus"
	"github.com/guance/aliyun-marketplace/cmd/devstack/localstack"
	"github.com/guance/aliyun-marketplace/cmd/devstack/samtemplate"
	"github.com/guance/aliyun-marketplace/cmd/devstack/simulator"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
)

type need struct{ action, resource, key string }

type grant struct {
	actions, resources map[string]bool
	leading            []string // LeadingKeys patterns (nil: no condition)
}

func operatorGrants(t *testing.T) []grant {
	statements, err := samtemplate.Statements(filepath.Join("..", "..", "template.yaml"), "OperatorPolicy")
	if err != nil {
		t.Fatal(err)
	}
	var out []grant
	for _, st := range statements {
		g := grant{actions: map[string]bool{}, resources: map[string]bool{}, leading: st.LeadingKeys}
		for _, a := range st.Actions {
			g.actions[a] = true
		}
		for _, r := range st.Resources {
			g.resources[r] = true
		}
		out = append(out, g)
	}
	return out
}

func (g grant) allows(n need) bool {
	if !g.actions[n.action] {
		return false
	}
	ok := g.resources[n.resource]
	if base, _, found := strings.Cut(n.resource, "/index/"); found {
		ok = ok || g.resources[base+"/index/*"]
	}
	if !ok {
		return false
	}
	if g.leading == nil {
		return true
	}
	for _, p := range g.leading {
		if strings.HasPrefix(n.key, strings.TrimSuffix(p, "*")) {
			return true
		}
	}
	return false
}

func TestOperatorPolicyCoversReask(t *testing.T) {
	db := dynamotest.Start(t)
	market := simulator.NewMarket()
	openapi := httptest.NewServer(&simulator.OpenAPI{Market: market, AccessKeyID: localstack.LocalMarketAccessKeyID, AccessKeySecret: localstack.LocalMarketAccessKeySecret})
	t.Cleanup(openapi.Close)
	apis := httptest.NewServer(&eventbus.Bus{})
	t.Cleanup(apis.Close)

	var mu sync.Mutex
	needs := map[need]bool{}
	hashKey := map[string]string{"AccountsTable": "id"}
	note := func(action, table string, index *string, key map[string]types.AttributeValue) {
		n := need{action: "dynamodb:" + action, resource: table}
		if index != nil {
			n.resource += "/index/" + *index
		}
		if h, ok := hashKey[table]; ok && key != nil {
			if s, ok := key[h].(*types.AttributeValueMemberS); ok {
				n.key = s.Value
			}
		}
		mu.Lock()
		needs[n] = true
		mu.Unlock()
	}
	target := localTarget(localstack.Endpoints{DynamoDB: db.URL, MarketAPI: openapi.URL, AWS: apis.URL})
	target.aws.APIOptions = append(target.aws.APIOptions, func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("Record",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				switch p := in.Parameters.(type) {
				case *dynamodb.QueryInput:
					note("Query", *p.TableName, p.IndexName, nil)
				case *dynamodb.GetItemInput:
					note("GetItem", *p.TableName, nil, p.Key)
				case *dynamodb.PutItemInput:
					note("PutItem", *p.TableName, nil, p.Item)
				case *dynamodb.UpdateItemInput:
					note("UpdateItem", *p.TableName, nil, p.Key)
				case *dynamodb.BatchGetItemInput:
					for tbl, ka := range p.RequestItems {
						for _, k := range ka.Keys {
							note("BatchGetItem", tbl, nil, k)
						}
					}
				case *dynamodb.TransactWriteItemsInput:
					for _, it := range p.TransactItems {
						switch {
						case it.Put != nil:
							note("PutItem", *it.Put.TableName, nil, it.Put.Item)
						case it.Update != nil:
							note("UpdateItem", *it.Update.TableName, nil, it.Update.Key)
						case it.Delete != nil:
							note("DeleteItem", *it.Delete.TableName, nil, it.Delete.Key)
						case it.ConditionCheck != nil:
							note("ConditionCheckItem", *it.ConditionCheck.TableName, nil, it.ConditionCheck.Key)
						}
					}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	})
	tl := target.tool()
	tl.operator = "local:ana"

	// An activated purchase, bound to billing center account acme, one
	// workspace settled through it, its UID linked; the marketplace
	// closed it and the releaseInstance call never reached us.
	ctx := context.Background()
	st := db.Store()
	now := time.Now().UTC()
	uid := "1234567890123"
	p := market.Buy(uid, now)
	market.Opened(p.InstanceID, "https://example.com/sso")
	if _, _, err := st.Instances().Create(ctx, activation.Instance{
		ID: p.InstanceID, AliUID: uid, ProductCode: p.ProductCode, SKU: p.SKU, ExpiredOn: p.EndOn,
		Status: activation.StatusActive, Progress: activation.ProgressActivated, BillingAccount: "acme",
		Workspaces: []string{"wksp_a"}, Orders: map[string]string{activation.OrderCreate: p.OrderID}, CreatedAt: now, UpdatedAt: now,
		LastCalls: map[marketplace.Action]activation.Call{marketplace.ActionCreateInstance: {OrderID: p.OrderID, At: now}},
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.Accounts().CreateBilling(ctx, guance.BillingAccount{Username: "acme", Email: "acme@example.com", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	ws, _ := attributevalue.MarshalMap(guance.Workspace{ID: "wksp_a", Name: "a", Site: "cn1", Owner: "acme", BillingAccount: "acme",
		Settlement: guance.ByInstance(uid, p.InstanceID), CreatedAt: now})
	link, _ := attributevalue.MarshalMap(guance.CloudLink{Cloud: guance.CloudAliyun, UID: uid, BillingAccount: "acme", Instances: []string{p.InstanceID}, Seq: 1, LinkedAt: now})
	link["id"] = &types.AttributeValueMemberS{Value: "cloud#aliyun#" + uid}
	for table, item := range map[string]map[string]types.AttributeValue{db.Tables["WorkspacesTable"]: ws, db.Tables["AccountsTable"]: link} {
		if _, err := db.Client().PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	market.SetStatus(p.InstanceID, string(activation.MarketClosed))

	var out strings.Builder
	tl.out = &out
	if err := tl.run(ctx, "reask", []string{p.InstanceID, "-apply", "-reason", "releaseInstance never reached us"}); err != nil {
		t.Fatalf("reask: %v\n%s", err, out.String())
	}
	if inst, _ := st.Instances().Get(ctx, p.InstanceID); inst.Status != activation.StatusReleased || len(inst.Workspaces) != 0 {
		t.Fatalf("not released: %+v", inst)
	}

	grants := operatorGrants(t)
	var missing []string
	for n := range needs {
		allowed := false
		for _, g := range grants {
			allowed = allowed || g.allows(n)
		}
		if !allowed {
			missing = append(missing, n.action+" "+n.resource+" "+n.key)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("ops reask -apply (a CLOSED purchase) makes calls OperatorPolicy refuses:\n  %s", strings.Join(missing, "\n  "))
	}
}
