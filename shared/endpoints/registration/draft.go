package registration

import (
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/endpoints/flow"
)

// flowName names the registration's draft in the session.
const flowName = "register"

// draft is the registration's progress, kept in the activation session:
// what the buyer typed and proved, step by step. The password is kept only
// as its argon2id hash.
type draft struct {
	// Step counts the steps completed: 1 basic information, 2 company.
	Step     int    `json:"step,omitempty"`
	Site     string `json:"site,omitempty"`
	Username string `json:"username,omitempty"`
	Email    string `json:"email,omitempty"`
	// Verified is the email a code proved; changing the email needs a new code.
	Verified string `json:"verified,omitempty"`
	// Cleared is the username and email a counted lookup found free when
	// step 1 was done (cleared): Activate takes no others, so that a
	// username typed on a post that looks nothing up (a language switch)
	// never reaches the registration's write, whose refusal would tell
	// whether it exists.
	Cleared string `json:"cleared,omitempty"`
	// Code is the last code sent.
	Code          flow.CodeState      `json:"code"`
	Phone         string              `json:"phone,omitempty"`
	Password      flow.ChosenPassword `json:"password"`
	Company       guance.Company      `json:"company"`
	Agreed        bool                `json:"agreed,omitempty"`
	Workspace     string              `json:"workspace,omitempty"`
	WorkspaceLang string              `json:"workspaceLang,omitempty"`
	UID           string              `json:"uid,omitempty"`
	Instance      string              `json:"instance,omitempty"`
	Done          *done               `json:"done,omitempty"`
	// Refused is what the last refused post showed (post/redirect/get).
	Refused *flow.Refusal `json:"refused,omitempty"`
}

// done is what the success page shows.
type done struct {
	Username    string `json:"username"`
	WorkspaceID string `json:"workspaceId"`
	Workspace   string `json:"workspace"`
	Site        string `json:"site"`
	UID         string `json:"uid"`
	Instance    string `json:"instance"`
}

func decodeDraft(s string) draft { return flow.DecodeDraft[draft](s) }

func (d draft) encode() string { return flow.EncodeDraft(d) }

// cleared names a username and an email together, as Cleared holds them.
func cleared(username, email string) string { return username + "\n" + email }
