package marketplace

import (
	"strings"
	"testing"
	"time"
)

func TestDecodeVerify(t *testing.T) {
	good := Params{"action": "verify", "instanceId": "5604018", "timeStamp": "2026-11-26 11:20:00", "token": "abc"}
	v, err := DecodeVerify(good)
	if err != nil {
		t.Fatal(err)
	}
	if v.InstanceID != "5604018" || v.Token != "abc" || !v.TimeStamp.Equal(time.Date(2026, 11, 26, 3, 20, 0, 0, time.UTC)) {
		t.Fatalf("got %+v", v)
	}
	for name, tt := range map[string]struct {
		params  Params
		wantErr string
	}{
		"SPI action":        {with(good, "action", "createInstance"), `parameter action: must be "verify"`},
		"no instance":       {without(good, "instanceId"), "parameter instanceId: is required"},
		"bad instance":      {with(good, "instanceId", "x1"), "parameter instanceId: must be a decimal"},
		"no timeStamp":      {without(good, "timeStamp"), "parameter timeStamp: is required"},
		"ISO timeStamp":     {with(good, "timeStamp", "2026-11-26T11:20:00Z"), "parameter timeStamp: must be a time"},
		"epoch timeStamp":   {with(good, "timeStamp", "1795576800"), "parameter timeStamp: must be a time"},
		"signed the vector": {with(good, "action", ""), `parameter action: must be "verify"`},
	} {
		if _, err := DecodeVerify(tt.params); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want %q", name, err, tt.wantErr)
		}
	}
}

func TestCheckWindow(t *testing.T) {
	stamp := time.Date(2026, 11, 26, 3, 20, 0, 0, time.UTC)
	v := &Verify{TimeStamp: stamp}
	tests := []struct {
		now  time.Time
		want error
	}{
		{stamp, nil},
		{stamp.Add(4*time.Minute + 59*time.Second), nil},
		{stamp.Add(5 * time.Minute), nil},
		{stamp.Add(5*time.Minute + time.Second), ErrLinkExpired},
		{stamp.Add(-5 * time.Minute), nil},
		{stamp.Add(-5*time.Minute - time.Second), ErrLinkFromFuture},
		{stamp.Add(24 * time.Hour), ErrLinkExpired},
	}
	for _, tt := range tests {
		if got := v.CheckWindow(tt.now, 5*time.Minute); got != tt.want {
			t.Errorf("now %s: %v, want %v", tt.now.Sub(stamp), got, tt.want)
		}
	}
}

func TestVerifyVectorSignsLikeTheMarketplace(t *testing.T) {
	ts, _ := ParseTime("2026-11-26 11:20:00")
	if got := Sign(VerifyParams("5604018", ts), "demo-isv-key-0000"); got != "e8eb9b13309bd350664ae708df3189cb" {
		t.Fatalf("verify link token %s, want the vector's", got)
	}
}
