package function

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/guance/aliyun-marketplace/shared/platform/config"
	"github.com/guance/aliyun-marketplace/shared/platform/logging"
	"github.com/guance/aliyun-marketplace/shared/platform/metrics"
)

// TestPreviousSecretNeverStopsAStart: the secret a rotation replaces is
// read when named; misnamed, or refused by its check, it is logged and
// left out; not named, it is "".
func TestPreviousSecretNeverStopsAStart(t *testing.T) {
	var logs bytes.Buffer
	env := &Env{
		Settings: config.FromMap(map[string]string{"K_PREVIOUS": "old-secret-of-enough-length", "BAD_PREVIOUS": "s3cr-7", "GONE_PREVIOUS_PARAMETER": "/p/gone"}),
		Log:      logging.New(&logs, slog.LevelInfo), Metrics: metrics.NewRecorder(&logs, "test"),
	}
	env.Secrets = env.Settings.Secrets(noStore{})
	long := func(s string) error {
		if len(s) < 16 {
			return errors.New("too short")
		}
		return nil
	}
	ctx := context.Background()
	if v := env.Previous(ctx, "K", long); v != "old-secret-of-enough-length" {
		t.Fatalf("named: %q", v)
	}
	if v := env.Previous(ctx, "BAD", long); v != "" || !strings.Contains(logs.String(), `"secret":"BAD"`) {
		t.Fatalf("refused by its check: %q %s", v, logs.String())
	}
	if v := env.Previous(ctx, "GONE"); v != "" || !strings.Contains(logs.String(), `"secret":"GONE"`) || !strings.Contains(logs.String(), "PreviousSecretUnreadable") {
		t.Fatalf("unreadable: %q %s", v, logs.String())
	}
	if v := env.Previous(ctx, "NONE"); v != "" {
		t.Fatalf("not named: %q", v)
	}
	if strings.Contains(logs.String(), "old-secret") || strings.Contains(logs.String(), "s3cr-7") {
		t.Fatal("a secret was logged")
	}
}

type noStore struct{}

func (noStore) SecureString(context.Context, string) (string, error) {
	return "", errors.New("ParameterNotFound")
}
