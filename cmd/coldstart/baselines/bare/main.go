// Command bare is the cold-start baseline of a Go Lambda function that
// does nothing: the aws-lambda-go runtime client and a handler returning a
// fixed value. What a function costs beyond it is its own doing.
package main

import "github.com/aws/aws-lambda-go/lambda"

func main() {
	lambda.Start(func() (string, error) { return "ok", nil })
}
