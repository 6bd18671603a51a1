package localstack

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/guance/aliyun-marketplace/cmd/devstack/emulator"
	"github.com/guance/aliyun-marketplace/cmd/devstack/eventbus"
)

// AWSAPIs serves the AWS APIs the stack stands in for besides DynamoDB and
// SES, each as the SDK calls it: EventBridge's PutEvents (and the page of
// the events taken), and Lambda's Invoke of a function of the stack
// (synchronous, as the operator's tool runs a job).
type AWSAPIs struct {
	Bus   *eventbus.Bus
	Pools map[string]*emulator.Pool
}

const invokePath = "/2015-03-31/functions/"

func (a *AWSAPIs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, invokePath)
	if !ok {
		a.Bus.ServeHTTP(w, r)
		return
	}
	name, ok := strings.CutSuffix(rest, "/invocations")
	if !ok || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	// A name or an ARN (…:function:Name).
	if i := strings.LastIndex(name, ":function:"); i >= 0 {
		name = name[i+len(":function:"):]
	}
	pool, ok := a.Pools[name]
	if !ok {
		w.Header().Set("X-Amzn-Errortype", "ResourceNotFoundException")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": "Function not found: " + name})
		return
	}
	payload, err := io.ReadAll(io.LimitReader(r.Body, 6<<20))
	if err != nil || len(payload) == 0 {
		payload = []byte("{}")
	}
	res, err := pool.Invoke(r.Context(), payload)
	if err != nil {
		w.Header().Set("X-Amzn-Errortype", "ServiceException")
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if res.FunctionError {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(res.Payload)
}
