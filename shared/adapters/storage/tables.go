package storage

import "github.com/guance/aliyun-marketplace/shared/platform/config"

// Tables are the names of the product's tables. A function's wiring loads
// them once (LoadTables), from the variables its template entry sets.
type Tables struct {
	Instances    string // INSTANCES_TABLE
	Sessions     string // SESSIONS_TABLE
	Verification string // VERIFICATION_TABLE
	Accounts     string // ACCOUNTS_TABLE
	Workspaces   string // WORKSPACES_TABLE
	Outbox       string // OUTBOX_TABLE
	Usage        string // USAGE_TABLE
	Metering     string // METERING_TABLE
	Audit        string // AUDIT_TABLE
}

// Table names a table by its environment variable.
type Table string

// The tables, by the variables that name them.
const (
	InstancesTable    Table = "INSTANCES_TABLE"
	SessionsTable     Table = "SESSIONS_TABLE"
	VerificationTable Table = "VERIFICATION_TABLE"
	AccountsTable     Table = "ACCOUNTS_TABLE"
	WorkspacesTable   Table = "WORKSPACES_TABLE"
	OutboxTable       Table = "OUTBOX_TABLE"
	UsageTable        Table = "USAGE_TABLE"
	MeteringTable     Table = "METERING_TABLE"
	AuditTable        Table = "AUDIT_TABLE"
)

// LoadTables reads the table names from the function's environment: the
// tables it uses (need) are required, so a function missing one fails
// at its start, not at its first call; the others are read if set.
func LoadTables(env *config.Env, need ...Table) Tables {
	get := func(t Table) string {
		for _, n := range need {
			if n == t {
				return env.Required(string(t))
			}
		}
		return env.Get(string(t), "")
	}
	return Tables{
		Instances: get(InstancesTable), Sessions: get(SessionsTable), Verification: get(VerificationTable),
		Accounts: get(AccountsTable), Workspaces: get(WorkspacesTable), Outbox: get(OutboxTable),
		Usage: get(UsageTable), Metering: get(MeteringTable), Audit: get(AuditTable),
	}
}
