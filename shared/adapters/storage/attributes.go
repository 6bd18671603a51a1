package storage

import (
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names shared by the tables whose key is a generic id.
const (
	// idAttr is the partition key of the sessions, verification,
	// accounts, workspaces, usage and outbox tables.
	idAttr = "id"
	// expiresAt is the TTL attribute (epoch seconds) of short-lived items.
	expiresAt = "expiresAt"
)

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func epoch(t time.Time) types.AttributeValue { return num(t.Unix()) }

// set is a string set of one or more values.
func set(values ...string) types.AttributeValue { return &types.AttributeValueMemberSS{Value: values} }

func idKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{idAttr: str(id)}
}

func numberOf(av types.AttributeValue) int64 {
	n, ok := av.(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	v, _ := strconv.ParseInt(n.Value, 10, 64)
	return v
}

func stringOf(av types.AttributeValue) string {
	s, ok := av.(*types.AttributeValueMemberS)
	if !ok {
		return ""
	}
	return s.Value
}

// marshal writes v as an item, leaving out zero times.
func marshal(v any) (map[string]types.AttributeValue, error) {
	return attributevalue.MarshalMapWithOptions(v, func(o *attributevalue.EncoderOptions) { o.OmitEmptyTime = true })
}

// withID is v as an item under id.
func withID(v any, id string) (map[string]types.AttributeValue, error) {
	item, err := marshal(v)
	if err != nil {
		return nil, err
	}
	item[idAttr] = str(id)
	return item, nil
}

// errAlreadyApplied is a refusal that means the write was made before.
var errAlreadyApplied = errors.New("storage: already applied")
