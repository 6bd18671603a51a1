package localstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/cmd/devstack/emulator"
	"github.com/guance/aliyun-marketplace/cmd/devstack/lambdaevent"
	"github.com/guance/aliyun-marketplace/cmd/devstack/samtemplate"
)

// StreamPoller emulates a DynamoDB stream event source, which the embedded
// DynamoDB lacks: it polls the table, and hands each item it has not seen
// before to the function as an INSERT record, in the shape Lambda's event
// source mapping delivers (keys only, as the template's stream view is),
// in batches of the event's BatchSize. Items the function reports as
// failed (or a whole batch, on a function error) are handed over again on
// the next poll, as Lambda retries. Polling (a Scan) is tooling only: no
// function's request path scans.
type StreamPoller struct {
	Client   *dynamodb.Client
	Table    samtemplate.Table
	Stream   samtemplate.Stream
	Function string
	Pool     *emulator.Pool
	Every    time.Duration
	Log      *slog.Logger

	mu   sync.Mutex
	seen map[string]bool
	seq  int64
}

// Run polls until ctx ends.
func (p *StreamPoller) Run(ctx context.Context) {
	p.seen = map[string]bool{}
	ticker := time.NewTicker(p.Every)
	defer ticker.Stop()
	for {
		if err := p.Poll(ctx); err != nil && ctx.Err() == nil {
			p.Log.Warn("stream poll failed", "table", p.Table.LogicalID, "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Poll hands the new items to the function once.
func (p *StreamPoller) Poll(ctx context.Context) error {
	if !slices.Contains(p.Stream.EventNames, "INSERT") && len(p.Stream.EventNames) > 0 {
		return nil // only inserts are emulated
	}
	keys, err := p.scanKeys(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	var fresh []map[string]types.AttributeValue
	for _, k := range keys {
		id := keyString(k)
		if !p.seen[id] {
			p.seen[id] = true
			fresh = append(fresh, k)
		}
	}
	p.mu.Unlock()
	for len(fresh) > 0 {
		n := min(len(fresh), p.Stream.BatchSize)
		p.deliver(ctx, fresh[:n])
		fresh = fresh[n:]
	}
	return nil
}

func (p *StreamPoller) scanKeys(ctx context.Context) ([]map[string]types.AttributeValue, error) {
	var names []string
	for _, k := range p.Table.Definition.KeySchema {
		names = append(names, aws.ToString(k.AttributeName))
	}
	proj := ""
	attrNames := map[string]string{}
	for i, n := range names {
		if i > 0 {
			proj += ","
		}
		ph := "#k" + strconv.Itoa(i)
		proj += ph
		attrNames[ph] = n
	}
	var out []map[string]types.AttributeValue
	in := &dynamodb.ScanInput{TableName: p.Table.Definition.TableName, ProjectionExpression: aws.String(proj), ExpressionAttributeNames: attrNames, ConsistentRead: aws.Bool(true)}
	for {
		page, err := p.Client.Scan(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", p.Table.LogicalID, err)
		}
		out = append(out, page.Items...)
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

func keyString(k map[string]types.AttributeValue) string {
	b, _ := json.Marshal(streamKeys(k))
	return string(b)
}

func streamKeys(k map[string]types.AttributeValue) map[string]events.DynamoDBAttributeValue {
	out := map[string]events.DynamoDBAttributeValue{}
	for name, v := range k {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			out[name] = events.NewStringAttribute(v.Value)
		case *types.AttributeValueMemberN:
			out[name] = events.NewNumberAttribute(v.Value)
		}
	}
	return out
}

// deliver invokes the function with one batch and forgets what failed, so
// the next poll hands it over again.
func (p *StreamPoller) deliver(ctx context.Context, batch []map[string]types.AttributeValue) {
	bySeq := map[string]string{}
	var inserts []lambdaevent.StreamInsert
	for _, k := range batch {
		p.mu.Lock()
		p.seq++
		seq := lambdaevent.Sequence(p.seq)
		p.mu.Unlock()
		bySeq[seq] = keyString(k)
		inserts = append(inserts, lambdaevent.StreamInsert{EventID: randomHex(16), Sequence: seq, Keys: streamKeys(k)})
	}
	payload, err := json.Marshal(lambdaevent.Stream(aws.ToString(p.Table.Definition.TableName), time.Now(), inserts...))
	if err != nil {
		return
	}
	res, err := p.Pool.Invoke(ctx, payload)
	var failed []string
	switch {
	case err != nil || res.FunctionError:
		for seq := range bySeq {
			failed = append(failed, seq)
		}
		p.Log.Warn("stream batch failed; it will be handed over again", "function", p.Function, "records", len(batch))
	default:
		var resp events.DynamoDBEventResponse
		if json.Unmarshal(res.Payload, &resp) == nil {
			for _, f := range resp.BatchItemFailures {
				failed = append(failed, f.ItemIdentifier)
			}
		}
	}
	p.mu.Lock()
	for _, seq := range failed {
		delete(p.seen, bySeq[seq])
	}
	p.mu.Unlock()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Scheduler fires a function's schedule on its rate until ctx ends.
type Scheduler struct {
	Function string
	Schedule samtemplate.Schedule
	Pool     *emulator.Pool
	Log      *slog.Logger
}

// Run fires every Schedule.Every (cron schedules fire only on demand).
func (s *Scheduler) Run(ctx context.Context) {
	if s.Schedule.Every <= 0 {
		return
	}
	ticker := time.NewTicker(s.Schedule.Every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if _, err := s.Fire(ctx); err != nil && ctx.Err() == nil {
				s.Log.Warn("scheduled run failed", "function", s.Function, "schedule", s.Schedule.Name, "error", err.Error())
			}
		}
	}
}

// Fire runs the schedule once now and returns the function's answer.
func (s *Scheduler) Fire(ctx context.Context) ([]byte, error) {
	event, err := json.Marshal(lambdaevent.Scheduled(s.Function, s.Schedule.Name, randomHex(16), time.Now()))
	if err != nil {
		return nil, err
	}
	res, err := s.Pool.Invoke(ctx, event)
	if err != nil {
		return nil, err
	}
	if res.FunctionError {
		return res.Payload, fmt.Errorf("%s: %s", s.Function, res.Payload)
	}
	return res.Payload, nil
}
