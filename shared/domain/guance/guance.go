// Package guance holds the records activation keeps for Guance's two
// platforms, and their rules: Guance accounts (which sign in to
// workspaces), billing center accounts (which settle their bills), the
// link of an Alibaba Cloud account (UID) to a billing center account, and
// workspaces with their settlement. The stores behind these records are
// small interfaces, so that an integration with Guance's own services
// replaces a store, not a flow.
package guance

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// Account is a Guance account. Usernames are unique in lower case, emails
// are unique and proven by a code.
type Account struct {
	Username     string    `dynamodbav:"username"`
	Email        string    `dynamodbav:"email"`
	PasswordHash string    `dynamodbav:"passwordHash"`
	Phone        string    `dynamodbav:"phone,omitempty"`
	Lang         string    `dynamodbav:"lang"`
	CreatedAt    time.Time `dynamodbav:"createdAt"`
}

// Company is a billing center account's company profile.
type Company struct {
	Name        string `dynamodbav:"name" json:"name"`
	Industry    string `dynamodbav:"industry,omitempty" json:"industry,omitempty"`
	Region      string `dynamodbav:"region,omitempty" json:"region,omitempty"`
	Description string `dynamodbav:"description,omitempty" json:"description,omitempty"`
}

// BillingAccount is a billing center account: its own account system,
// created by registration with the Guance account's username and password
// hash and independent afterwards.
type BillingAccount struct {
	Username     string  `dynamodbav:"username"`
	Email        string  `dynamodbav:"email"`
	PasswordHash string  `dynamodbav:"passwordHash"`
	Phone        string  `dynamodbav:"phone,omitempty"`
	Company      Company `dynamodbav:"company"`
	// Lang is the language of the account's mails (zh when empty).
	Lang      string    `dynamodbav:"lang,omitempty"`
	CreatedAt time.Time `dynamodbav:"createdAt"`
}

// Cloud names a settlement's cloud; only Alibaba Cloud today.
const CloudAliyun = "aliyun"

// CloudLink ties an Alibaba Cloud account (UID) to one billing center
// account. Instances lists the marketplace instances bound through it; the
// link goes when the last of them is released.
type CloudLink struct {
	Cloud          string `dynamodbav:"cloud"`
	UID            string `dynamodbav:"uid"`
	BillingAccount string `dynamodbav:"billingAccount"`
	// Instances are the live instances bound through the link; the link
	// goes when the last is released.
	Instances []string `dynamodbav:"instances,stringset,omitempty"`
	// Seq counts the link's changes, so that its removal can require
	// that none happened since it was read.
	Seq      int       `dynamodbav:"seq"`
	LinkedAt time.Time `dynamodbav:"linkedAt"`
}

// Settlement says who pays a workspace's bills.
type Settlement struct {
	// Type is SettledByBillingCenter or SettledByCloud.
	Type string `dynamodbav:"type"`
	// Cloud, UID and Instance are set when a cloud account settles it.
	Cloud    string `dynamodbav:"cloud,omitempty"`
	UID      string `dynamodbav:"uid,omitempty"`
	Instance string `dynamodbav:"instance,omitempty"`
}

// Settlement types.
const (
	SettledByBillingCenter = "billing-center"
	SettledByCloud         = "cloud"
)

// ByInstance is the settlement of a workspace through a marketplace
// instance of the Alibaba Cloud account uid.
func ByInstance(uid, instance string) Settlement {
	return Settlement{Type: SettledByCloud, Cloud: CloudAliyun, UID: uid, Instance: instance}
}

// Workspace is a Guance workspace. Its site is fixed at creation.
type Workspace struct {
	ID             string     `dynamodbav:"id"`
	Name           string     `dynamodbav:"name"`
	Lang           string     `dynamodbav:"lang"`
	Site           string     `dynamodbav:"site"`
	Owner          string     `dynamodbav:"owner"`
	BillingAccount string     `dynamodbav:"billingAccount"`
	Settlement     Settlement `dynamodbav:"settlement"`
	// Suspended is a workspace whose settling instance is frozen for
	// arrears: its data is kept, its use stopped until the instance is
	// renewed or resumed. SuspendedSeq is the instance's move that set it
	// (a late mark of an older move changes nothing).
	Suspended    bool      `dynamodbav:"suspended,omitempty"`
	SuspendedSeq int       `dynamodbav:"suspendedSeq,omitempty"`
	CreatedAt    time.Time `dynamodbav:"createdAt"`
}

// WellFormedWorkspaceID tells whether id can be a workspace id: wksp_
// and up to 64 letters, digits, _ and -. Anything else is forged, and is
// refused before it reaches a key.
func WellFormedWorkspaceID(id string) bool {
	rest, ok := strings.CutPrefix(id, "wksp_")
	if !ok || rest == "" || len(id) > 64 {
		return false
	}
	for _, r := range rest {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// NewWorkspaceID is a fresh workspace id: wksp_ and 32 hex digits.
func NewWorkspaceID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails on supported platforms (crypto/rand)
	return "wksp_" + hex.EncodeToString(b)
}

// Errors of the records' invariants: each is what a conditional write
// refusal means.
var (
	ErrUsernameTaken = errors.New("the username is taken")
	ErrEmailTaken    = errors.New("the email belongs to another account")
	// ErrTooManyWorkspaces means the instance settles MaxWorkspacesPerInstance
	// workspaces already.
	ErrTooManyWorkspaces = errors.New("the instance settles as many workspaces as one can")
	ErrUIDLinked         = errors.New("the Alibaba Cloud account is linked to another billing center account")
)

// Registration is what a new buyer's activation creates, in one step: a
// Guance account, a billing center account with the same username and
// password hash, a workspace settled through the marketplace instance, and
// the link of the buyer's Alibaba Cloud account to the billing center
// account.
type Registration struct {
	Account   Account
	Billing   BillingAccount
	Workspace Workspace
	UID       string
	Instance  string
	At        time.Time
}

// More refusals of the binding flows.
var (
	// ErrNoSuchAccount: no billing center account (or Guance account) is
	// known by that name.
	ErrNoSuchAccount = errors.New("no such account")
	// ErrWorkspaceGone: no such workspace of this billing center account.
	ErrWorkspaceGone = errors.New("no such workspace of this billing center account")
	// ErrWorkspaceSettled: the workspace is settled by a cloud account
	// already (this purchase, another one, another UID or another cloud).
	ErrWorkspaceSettled = errors.New("the workspace is settled by a cloud account already")
	// ErrLinkChanged: the UID is no longer linked to this billing center
	// account (released meanwhile, or never).
	ErrLinkChanged = errors.New("the Alibaba Cloud account is not linked to this billing center account")
	// ErrOtherBilling: the instance is bound to another billing center
	// account.
	ErrOtherBilling = errors.New("the instance is bound to another billing center account")
)

// BillingBind links a buyer's UID and instance to an existing billing
// center account.
type BillingBind struct {
	UID      string
	Instance string
	Account  string
	At       time.Time
}

// Settle settles an existing workspace of the billing center account
// through the buyer's instance.
type Settle struct {
	WorkspaceID string
	Site        string
	Account     string
	UID         string
	Instance    string
	At          time.Time
	// Activates says the purchase was not activated when read: this
	// workspace is its first (the write holds it to that, and settles a
	// later one if another bind got there first).
	Activates bool
}

// NewWorkspace creates a workspace of the billing center account, owned by
// a Guance account (an existing one, or NewAccount registered with it),
// settled through the buyer's instance.
type NewWorkspace struct {
	Workspace  Workspace
	NewAccount *Account
	UID        string
	Instance   string
	At         time.Time
	// Activates: as Settle's.
	Activates bool
}

// MaxWorkspacesPerInstance bounds the workspaces one purchase settles: its
// item names each (about 85 bytes a workspace) and must stay well within
// DynamoDB's 400 KB, or every lifecycle call of it would fail.
const MaxWorkspacesPerInstance = 500
