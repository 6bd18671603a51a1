package web

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/session"
)

// TestCommonProblem: the errors every page function shares map to one
// status and code, wrapped or not; others are left to the caller.
func TestCommonProblem(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{session.ErrNotFound, http.StatusUnauthorized, "NoSession"},
		{session.ErrBadCSRF, http.StatusForbidden, "BadCSRF"},
		{ErrCrossOrigin, http.StatusForbidden, "CrossOrigin"},
		{ErrBadForm, http.StatusBadRequest, "BadForm"},
		{ErrNoSuchPage, http.StatusNotFound, "NoSuchPage"},
		{activation.ErrInstanceNotFound, http.StatusNotFound, "InstanceNotFound"},
	}
	for _, tt := range tests {
		p, ok := CommonProblem(fmt.Errorf("read purchase: %w", tt.err), Next{Marketplace: "https://market.example/"})
		if !ok || p.Status != tt.status || p.Code != tt.code {
			t.Errorf("%v: %v %d %s, want %d %s", tt.err, ok, p.Status, p.Code, tt.status, tt.code)
		}
	}
	if _, ok := CommonProblem(errors.New("store down"), Next{}); ok {
		t.Error("an unknown error was mapped")
	}
}
