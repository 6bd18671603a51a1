package main

import (
	"testing"
	"time"
)

// TestNextDecided: before :30 the last closed window is next; from :30 on
// it is decided already, and the open one is next.
func TestNextDecided(t *testing.T) {
	tests := []struct{ now, want string }{
		{"22:00:00", "21:00"},
		{"22:29:59", "21:00"},
		{"22:30:00", "22:00"},
		{"22:59:59", "22:00"},
	}
	for _, tt := range tests {
		now, _ := time.Parse("15:04:05", tt.now)
		if got := nextDecided(now).Format("15:04"); got != tt.want {
			t.Errorf("at %s: %s, want %s", tt.now, got, tt.want)
		}
	}
}
