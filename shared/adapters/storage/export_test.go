package storage

import (
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
)

func changeCondition(c activation.Change) expression.ConditionBuilder {
	cond, _ := changeExpression(c)
	return cond
}

// ConditionPaths lists the attribute paths a change's condition reads.
func ConditionPaths(c activation.Change) []string {
	expr, err := expression.NewBuilder().WithCondition(changeCondition(c)).Build()
	if err != nil {
		return nil
	}
	names := expr.Names()
	var paths []string
	for _, ref := range regexp.MustCompile(`#[0-9]+(\.#[0-9]+)*`).FindAllString(aws.ToString(expr.Condition()), -1) {
		parts := strings.Split(ref, ".")
		for i, p := range parts {
			parts[i] = names[p]
		}
		paths = append(paths, strings.Join(parts, "."))
	}
	return paths
}

// UpdateOf is the update expression of a change, with its names.
func UpdateOf(c activation.Change) (string, map[string]string) {
	cond, update := changeExpression(c)
	expr, _ := expression.NewBuilder().WithCondition(cond).WithUpdate(update).Build()
	return aws.ToString(expr.Update()), expr.Names()
}
