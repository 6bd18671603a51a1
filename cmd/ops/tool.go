package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/guance/aliyun-marketplace/shared/adapters/storage"
	"github.com/guance/aliyun-marketplace/shared/domain/activation"
	"github.com/guance/aliyun-marketplace/shared/domain/audit"
	"github.com/guance/aliyun-marketplace/shared/domain/guance"
	"github.com/guance/aliyun-marketplace/shared/domain/marketplace"
	"github.com/guance/aliyun-marketplace/shared/domain/metering"
	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
)

// market is what the tool asks the Market OpenAPI.
type market interface {
	Describe(ctx context.Context, id string) (activation.MarketInstance, error)
	FailedNotifications(ctx context.Context, page, size int) ([]marketplace.FailedNotification, int, error)
}

// domain applies the marketplace's answer, as the reconciliation does.
type domain interface {
	MarketSays(ctx context.Context, inst activation.Instance, status activation.MarketStatus) (activation.Outcome, error)
	MarketHolds(ctx context.Context, inst activation.Instance, market activation.MarketInstance) (activation.Outcome, error)
}

// invoker runs a function of the stack now.
type invoker interface {
	Invoke(ctx context.Context, function string) (json.RawMessage, error)
}

// tool is the operator's tool on one stack.
type tool struct {
	out      io.Writer
	store    *storage.Store
	op       *storage.Operator
	trail    *storage.Trail
	market   market
	domain   domain
	bus      audit.Bus
	invoker  invoker
	jobs     map[string]string // "reconcile", "metering": the functions' names
	operator string            // who makes the repairs (an ARN; locally the user)
	now      func() time.Time
}

// run runs one command.
func (t *tool) run(ctx context.Context, cmd string, args []string) error {
	switch cmd {
	case "find":
		return t.find(ctx, args)
	case "show":
		return t.show(ctx, args)
	case "todo":
		return t.todo(ctx, args)
	case "requeue-mail":
		return t.requeueMail(ctx, args)
	case "requeue-window", "mark-window":
		return t.window(ctx, cmd, args)
	case "reask":
		return t.reask(ctx, args)
	case "release-workspace":
		return t.releaseWorkspace(ctx, args)
	case "republish":
		return t.republish(ctx, args)
	case "run":
		return t.runJob(ctx, args)
	case "help":
		fmt.Fprint(t.out, usage)
		return nil
	}
	return fmt.Errorf("no command %q (ops help lists them)", cmd)
}

// one is the single argument of a command.
func one(cmd string, args []string, what string) (string, error) {
	if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
		return "", fmt.Errorf("%s takes one argument: %s", cmd, what)
	}
	return strings.TrimSpace(args[0]), nil
}

// --- find ---------------------------------------------------------------------

// find looks a purchase up by whatever the operator holds: an instance
// id, an order id (from the trail), an Alibaba Cloud UID, a billing
// center username, or a workspace id.
func (t *tool) find(ctx context.Context, args []string) error {
	q, err := one("find", args, "an instance id, order id, UID, billing center username or workspace id")
	if err != nil {
		return err
	}
	found := map[string]string{} // instance → how it was found
	var order []string
	add := func(id, how string) {
		if _, ok := found[id]; !ok {
			order = append(order, id)
			found[id] = how
		}
	}
	if strings.HasPrefix(q, "wksp_") {
		ws, ok, err := t.op.Workspace(ctx, q)
		if err != nil {
			return err
		}
		if ok {
			fmt.Fprintf(t.out, "workspace %s (%s, site %s): settled by %s\n", ws.ID, ws.Name, ws.Site, settlement(ws.Settlement))
			if ws.Settlement.Instance != "" {
				add(ws.Settlement.Instance, "settles workspace "+ws.ID)
			}
			ids, err := t.op.InstancesOf(ctx, storage.InstancesByAccount, ws.BillingAccount)
			if err != nil {
				return err
			}
			for _, id := range ids {
				add(id, "bound to the workspace's billing center account")
			}
		}
	} else {
		if _, ok, err := t.op.Instance(ctx, q); err != nil {
			return err
		} else if ok {
			add(q, "instance id")
		}
		if id, ok, err := t.trail.ByOrder(ctx, q); err != nil {
			return err
		} else if ok {
			add(id, "order "+q)
		}
		for index, how := range map[string]string{storage.InstancesByUID: "bought by UID " + marketplace.MaskUID(q), storage.InstancesByAccount: "bound to billing center account " + q} {
			ids, err := t.op.InstancesOf(ctx, index, q)
			if err != nil {
				return err
			}
			for _, id := range ids {
				add(id, how)
			}
		}
	}
	if len(order) == 0 {
		switch {
		case strings.HasPrefix(q, "wksp_"):
			return fmt.Errorf("no purchase settles %s (a workspace on billing center settlement has none)", q)
		case isDigits(q):
			return fmt.Errorf("no instance, order or Alibaba Cloud UID %s here (an order id is found while its events are kept: %d days)", q, int(audit.Retention.Hours()/24))
		}
		return fmt.Errorf("no purchase is bound to a billing center account %q", q)
	}
	w := tabwriter.NewWriter(t.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "INSTANCE\tSTATUS\tPROGRESS\tSKU\tFOUND AS")
	for _, id := range order {
		inst, ok, err := t.op.Instance(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintf(w, "%s\t(no record)\t\t\t%s\n", id, found[id])
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", inst.ID, inst.Status, inst.Progress, inst.SKU, found[id])
	}
	return w.Flush()
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func settlement(s guance.Settlement) string {
	if s.Type == guance.SettledByCloud {
		return fmt.Sprintf("%s account %s through instance %s", s.Cloud, marketplace.MaskUID(s.UID), s.Instance)
	}
	return "its billing center account"
}

// --- show ---------------------------------------------------------------------

// show prints all there is to know of one purchase.
func (t *tool) show(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("show", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	events := fs.Int("events", 50, "the last N events of the trail (0: all)")
	windows := fs.Int("windows", 24, "the newest N metering windows")
	args, err := parseInterleaved(fs, args)
	if err != nil {
		return fmt.Errorf("show: %w", err)
	}
	if *events < 0 || *windows < 0 {
		return errors.New("show: -events and -windows count from 0 (0: every event)")
	}
	id, err := one("show", args, "an instance id (find one with: find ...)")
	if err != nil {
		return err
	}
	inst, ok, err := t.op.Instance(ctx, id)
	if err != nil {
		return err
	}
	trail, err := t.trail.Events(ctx, id, 0)
	if err != nil {
		return err
	}
	if !ok && len(trail) == 0 {
		return fmt.Errorf("no instance %s", id)
	}
	w := tabwriter.NewWriter(t.out, 0, 4, 2, ' ', 0)
	if ok {
		t.showInstance(w, inst)
	} else {
		fmt.Fprintf(w, "Instance %s: no record (only its trail)\n", id)
	}
	if err := t.showWorkspaces(ctx, w, inst); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nSessions (from the trail)")
	sessions := 0
	for _, ev := range trail {
		if ev.Kind == audit.SessionOpened {
			sessions++
			fmt.Fprintf(w, "  %s\topened\t%s\n", stamp(ev.At), ev.Detail["site"])
		}
	}
	if sessions == 0 {
		fmt.Fprintln(w, "  none")
	}
	if err := t.showMails(ctx, w, trail); err != nil {
		return err
	}
	if err := t.showWindows(ctx, w, id, *windows); err != nil {
		return err
	}
	shown := trail
	if *events > 0 && len(shown) > *events {
		shown = shown[len(shown)-*events:]
	}
	fmt.Fprintf(w, "\nTrail (%d of %d events, oldest first)\n", len(shown), len(trail))
	for _, ev := range shown {
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", stamp(ev.At), ev.Kind, ev.Actor, describe(ev))
	}
	return w.Flush()
}

func (t *tool) showInstance(w io.Writer, inst activation.Instance) {
	fmt.Fprintf(w, "Instance %s\n", inst.ID)
	row := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "  %s\t%s\n", name, value)
		}
	}
	row("status", string(inst.Status))
	row("progress", string(inst.Progress))
	row("product / SKU", inst.ProductCode+" / "+inst.SKU)
	if inst.Trial {
		row("trial", "yes")
	}
	row("Alibaba Cloud UID", marketplace.MaskUID(inst.AliUID))
	row("billing center account", inst.BillingAccount)
	row("expires", stamp(inst.ExpiredOn))
	row("frozen at", stamp(inst.FrozenAt))
	row("restored at", stamp(inst.RestoredAt))
	row("upgraded at", stamp(inst.UpgradedAt))
	keys := make([]string, 0, len(inst.Orders))
	for k := range inst.Orders {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	orders := make([]string, len(keys))
	for i, k := range keys {
		orders[i] = k + " " + inst.Orders[k]
	}
	row("orders", strings.Join(orders, ", "))
	row("login site", inst.LoginSite)
	if inst.DisputedAction != "" {
		row("DISPUTED", fmt.Sprintf("%s since %s: the reconciliation settles it (or: reask %s)", inst.DisputedAction, stamp(inst.DisputedAt), inst.ID))
	}
	if inst.Awaiting != "" {
		row("awaiting", fmt.Sprintf("%s, next check %s", inst.Awaiting, stamp(inst.CheckAt)))
	}
	if inst.Audit != "" {
		row("next comparison", stamp(inst.AuditAt))
	}
}

func (t *tool) showWorkspaces(ctx context.Context, w io.Writer, inst activation.Instance) error {
	fmt.Fprintf(w, "\nWorkspaces settled through it (%d)\n", len(inst.Workspaces))
	for _, id := range inst.Workspaces {
		ws, ok, err := t.op.Workspace(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintf(w, "  %s\t(no record)\n", id)
			continue
		}
		state := "in use"
		if ws.Suspended {
			state = "suspended"
		}
		fmt.Fprintf(w, "  %s\t%s\tsite %s\t%s\tsettled by %s\n", ws.ID, ws.Name, ws.Site, state, settlement(ws.Settlement))
	}
	return nil
}

func (t *tool) showMails(ctx context.Context, w io.Writer, trail []audit.Event) error {
	fmt.Fprintln(w, "\nMails")
	var ids []string
	for _, ev := range trail {
		if ev.Mail != "" && !slices.Contains(ids, ev.Mail) {
			ids = append(ids, ev.Mail)
		}
	}
	if len(ids) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, id := range ids {
		m, ok, err := t.op.Mail(ctx, id)
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintf(w, "  %s\t(expired: see the trail)\n", id)
			continue
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\tto %s\t%s\t%s\n", m.ID, m.Kind, m.State, maskAddress(m.To), attempts(m.Attempts), m.LastError)
	}
	return nil
}

func (t *tool) showWindows(ctx context.Context, w io.Writer, id string, limit int) error {
	list, err := t.op.Windows(ctx, id, limit)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nMetering windows (newest %d)\n", limit)
	if len(list) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, p := range list {
		fmt.Fprintf(w, "  %s\t%s\t%s\n", stamp(time.Unix(p.Window, 0)), p.State, p.Reason)
	}
	return nil
}

// describe is an event's details on one line.
func describe(ev audit.Event) string {
	var parts []string
	add := func(name, value string) {
		if value != "" {
			parts = append(parts, name+"="+value)
		}
	}
	add("action", ev.Action)
	add("order", ev.OrderID)
	add("status", ev.Status)
	add("account", ev.BillingAccount)
	add("workspace", ev.Workspace)
	add("site", ev.Site)
	add("mail", ev.Mail)
	add("mailKind", ev.MailKind)
	if !ev.Window.IsZero() {
		add("window", stamp(ev.Window))
	}
	keys := make([]string, 0, len(ev.Detail))
	for k := range ev.Detail {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		add(k, ev.Detail[k])
	}
	add("reason", fmt.Sprintf("%q", ev.Reason))
	if ev.Reason == "" {
		parts = parts[:len(parts)-1]
	}
	return strings.Join(parts, " ")
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// maskAddress shows an address's first letter and its domain.
func maskAddress(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" {
		return "***"
	}
	return local[:1] + "***@" + domain
}

// --- todo ---------------------------------------------------------------------

// todo lists what needs a person: the trail's events of that kind whose
// record still stands so, and the notifications the marketplace still
// lists as failed (the reconciliation has not applied them).
func (t *tool) todo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("todo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	since := fs.Duration("since", 30*24*time.Hour, "how far back")
	if _, err := parseInterleaved(fs, args); err != nil {
		return fmt.Errorf("todo: %w (a duration is written 720h, 90m)", err)
	}
	events, err := t.trail.Attention(ctx, t.now().Add(-*since))
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(t.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "Needs a person (events since %s whose record still stands so)\n", stamp(t.now().Add(-*since)))
	seen := map[string]bool{}
	open := 0
	for _, ev := range events {
		what, next, err := t.stillOpen(ctx, ev)
		if err != nil {
			return err
		}
		if what == "" || seen[what+ev.Instance] {
			continue
		}
		seen[what+ev.Instance] = true
		open++
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\n", stamp(ev.At), ev.Instance, what, next)
	}
	if open == 0 {
		fmt.Fprintln(w, "  nothing")
	}
	fmt.Fprintln(w, "\nFailed notifications the marketplace still lists (the reconciliation applies and confirms them)")
	list, total, err := t.market.FailedNotifications(ctx, 1, 50)
	switch {
	case err != nil:
		fmt.Fprintf(w, "  could not ask the marketplace: %v\n", err)
	case total == 0:
		fmt.Fprintln(w, "  none")
	default:
		for _, n := range list {
			instance := "?"
			if params, err := marketplace.ParseMessage(n.Message); err == nil && params["orderBizId"] != "" {
				instance = params["orderBizId"]
			}
			fmt.Fprintf(w, "  %s\t%s\t%s of instance %s\tops run reconcile; if it stays: the reconciliation's log names why\n", stamp(n.CreatedAt), n.ID, n.Action, instance)
		}
		if total > len(list) {
			fmt.Fprintf(w, "  and %d more\n", total-len(list))
		}
	}
	return w.Flush()
}

// stillOpen says what an attention event is and the command that answers
// it, if its record still stands so ("" if a later write settled it).
func (t *tool) stillOpen(ctx context.Context, ev audit.Event) (what, next string, err error) {
	switch ev.Kind {
	case audit.CallDisputed, audit.ActivationAbandoned:
		inst, ok, err := t.op.Instance(ctx, ev.Instance)
		if err != nil || !ok {
			return "", "", err
		}
		if ev.Kind == audit.CallDisputed && inst.DisputedAction != "" {
			return "disputed " + string(inst.DisputedAction), "ops reask " + inst.ID, nil
		}
		if ev.Kind == audit.ActivationAbandoned && inst.Awaiting == activation.AwaitingAbandoned {
			return "activation abandoned", "ops show " + inst.ID + "; ops reask " + inst.ID, nil
		}
	case audit.MailDead:
		m, ok, err := t.op.Mail(ctx, ev.Mail)
		if err != nil || !ok || m.State != outbox.StateDead {
			return "", "", err
		}
		return fmt.Sprintf("mail %s dead (%s)", m.Kind, m.LastError), "ops requeue-mail " + m.ID, nil
	case audit.WindowRefused, audit.WindowUncertain, audit.WindowLate:
		p, ok, err := t.op.Window(ctx, ev.Instance, ev.Window)
		if err != nil || !ok {
			return "", "", err
		}
		switch p.State {
		case metering.PushRefused, metering.PushUncertain, metering.PushLate:
			window := ev.Window.UTC().Format(time.RFC3339)
			return fmt.Sprintf("window %s %s", window, p.State), fmt.Sprintf("ops requeue-window %s %s, or mark-window ... pushed|written-off", ev.Instance, window), nil
		}
	}
	return "", "", nil
}

// parseInterleaved parses flags that may come before or after the
// positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
