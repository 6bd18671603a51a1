package storage

// The consumers' views of the store: each a small type over the same
// client and tables, with the methods its consumer's interface names.

// Instances is the instances table for the SPI, the SSO page and the flows.
func (s *Store) Instances() *Instances { return &Instances{s} }

// Sessions is the sessions table: activation sessions and used links.
func (s *Store) Sessions() *Sessions { return &Sessions{s} }

// Codes is the verification table (and the outbox, for sealed codes).
func (s *Store) Codes() *Codes { return &Codes{s} }

// Accounts is the billing center accounts, for the code sender and seeds.
func (s *Store) Accounts() *Accounts { return &Accounts{s} }

// Links is the cloud account links, for the SSO page.
func (s *Store) Links() *Links { return &Links{s} }

// Registrations writes a registration.
func (s *Store) Registrations() *Registrations { return &Registrations{s} }

// Bindings reads and writes what the binding pages need.
func (s *Store) Bindings() *Bindings { return &Bindings{s} }

// Effects carries out a status move's effects on the records.
func (s *Store) Effects() *Effects { return &Effects{s} }

// Console is what a Guance console reads (the local stand-in).
func (s *Store) Console() *Console { return &Console{s} }

// Outbox is the outbox table.
func (s *Store) Outbox() *Outbox { return &Outbox{s} }

// Queue is the instances table's indexes and the runs' leases, for the
// scheduled jobs.
func (s *Store) Queue() *Queue { return &Queue{s} }

// Usage is the usage table.
func (s *Store) Usage() *Usage { return &Usage{s} }

// Pushes is the metering table's push records.
func (s *Store) Pushes() *Pushes { return &Pushes{s} }

// Trail reads the audit trail.
func (s *Store) Trail() *Trail { return &Trail{s} }

// Lookups answers whether usernames and emails are taken, counted.
func (s *Store) Lookups() *Lookups { return &Lookups{s} }
