package usagepush

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/guance/aliyun-marketplace/shared/platform/config"
)

// TestMeteringItemsRequiredInProdOnly: without METERING_ITEMS a dev stack
// starts and meters nothing (each run says so); prod refuses to start.
func TestMeteringItemsRequiredInProdOnly(t *testing.T) {
	env := config.FromMap(map[string]string{"STAGE": "dev"})
	s := LoadSettings(env)
	if err := env.Err(); err != nil || len(s.Mapping) != 0 {
		t.Fatalf("dev without METERING_ITEMS: %v %v", s.Mapping, err)
	}
	var logs strings.Builder
	m := &Meter{Mapping: s.Mapping, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	if sum, err := m.Run(context.Background()); err != nil || !sum.Off {
		t.Fatalf("a run without mapping: %+v %v", sum, err)
	}
	if !strings.Contains(logs.String(), "metering off") {
		t.Fatalf("the run does not say why: %s", logs.String())
	}

	prod := config.FromMap(map[string]string{"STAGE": "prod"})
	LoadSettings(prod)
	if err := prod.Err(); err == nil || !strings.Contains(err.Error(), "METERING_ITEMS") {
		t.Fatalf("prod without METERING_ITEMS: %v", err)
	}
	bad := config.FromMap(map[string]string{"STAGE": "dev", "METERING_ITEMS": "host=HostCount"})
	LoadSettings(bad)
	if bad.Err() == nil {
		t.Fatal("a mapping the docs do not allow is taken")
	}
}
