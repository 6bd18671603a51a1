package metrics

import (
	"os"

	"github.com/guance/aliyun-marketplace/shared/platform/config"
)

// FromEnv is a Recorder on standard output (where Lambda's log goes) in
// the namespace METRICS_NAMESPACE.
func FromEnv(env *config.Env) *Recorder {
	return NewRecorder(os.Stdout, env.Get("METRICS_NAMESPACE", "GuanceMarketplace"))
}
