package storage

import (
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/guance/aliyun-marketplace/shared/domain/audit"
)

// AuditEvent reads the event a stream record of the audit table inserted
// (its new image: the table's stream carries new images), as
// audit.Decoder.
func AuditEvent(rec events.DynamoDBEventRecord) (audit.Event, error) {
	image := rec.Change.NewImage
	if len(image) == 0 {
		return audit.Event{}, errors.New("the stream record carries no new image")
	}
	item := make(map[string]types.AttributeValue, len(image))
	for name, av := range image {
		v, err := fromStream(av)
		if err != nil {
			return audit.Event{}, fmt.Errorf("attribute %s: %w", name, err)
		}
		item[name] = v
	}
	var ev audit.Event
	if err := attributevalue.UnmarshalMap(item, &ev); err != nil {
		return audit.Event{}, fmt.Errorf("unmarshal event: %w", err)
	}
	return ev, nil
}

// fromStream converts an attribute value of a stream record (the Lambda
// event's form) to the SDK's.
func fromStream(av events.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch av.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: av.String()}, nil
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: av.Number()}, nil
	case events.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: av.Binary()}, nil
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: av.Boolean()}, nil
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: av.StringSet()}, nil
	case events.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: av.NumberSet()}, nil
	case events.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: av.BinarySet()}, nil
	case events.DataTypeList:
		list := av.List()
		out := make([]types.AttributeValue, len(list))
		for i, v := range list {
			c, err := fromStream(v)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return &types.AttributeValueMemberL{Value: out}, nil
	case events.DataTypeMap:
		m := av.Map()
		out := make(map[string]types.AttributeValue, len(m))
		for k, v := range m {
			c, err := fromStream(v)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return &types.AttributeValueMemberM{Value: out}, nil
	}
	return nil, fmt.Errorf("unknown attribute type %d", av.DataType())
}
