package storage

import (
	"context"

	"github.com/guance/aliyun-marketplace/shared/domain/guance"
)

// Console is what a Guance console reads: an account to sign in, and its
// workspaces (the local stand-in of each site's console).
type Console struct{ st *Store }

// GuanceAccount reads a Guance account by username (lower case).
func (s *Console) GuanceAccount(ctx context.Context, username string) (guance.Account, bool, error) {
	return s.st.guanceAccount(ctx, username)
}

// WorkspacesOwnedBy lists a Guance account's workspaces through the
// byOwner index, oldest first (paginated).
func (s *Console) WorkspacesOwnedBy(ctx context.Context, owner string) ([]guance.Workspace, error) {
	return s.st.workspacesBy(ctx, WorkspacesByOwner, "owner", owner)
}
