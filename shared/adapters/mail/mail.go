// Package mail renders the product's mails (in Chinese or English, each with
// a text and an HTML part) and sends them through Amazon SES (API v1).
package mail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"

	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
)

// Message is a rendered mail.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// SES is the part of the SES client the sender uses.
type SES interface {
	SendEmail(ctx context.Context, in *ses.SendEmailInput, opts ...func(*ses.Options)) (*ses.SendEmailOutput, error)
}

// Sender sends mails from one address.
type Sender struct {
	Client SES
	From   string
	// Timeout bounds each send: a mail must never hold a caller for long
	// (and the local SES answers only SendEmail; anything else hangs).
	Timeout time.Duration
}

// Send sends m. The error names the step, never the recipient (personal
// data), and keeps the SES error for errors.As.
func (s *Sender) Send(ctx context.Context, m Message) error {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	utf8 := aws.String("UTF-8")
	_, err := s.Client.SendEmail(ctx, &ses.SendEmailInput{
		Source:      aws.String(s.From),
		Destination: &types.Destination{ToAddresses: []string{m.To}},
		Message: &types.Message{
			Subject: &types.Content{Data: aws.String(m.Subject), Charset: utf8},
			Body: &types.Body{
				Text: &types.Content{Data: aws.String(m.Text), Charset: utf8},
				Html: &types.Content{Data: aws.String(m.HTML), Charset: utf8},
			},
		},
	})
	if err != nil {
		return fmt.Errorf("send mail through SES: %w", err)
	}
	return nil
}

// SendCode mails a verification code (verification.Mailer).
func (s *Sender) SendCode(ctx context.Context, c verification.Mail) error {
	m, err := Code(c)
	if err != nil {
		return err
	}
	return s.Send(ctx, m)
}

// Code renders the mail of a verification code: what it is for, the code
// and how long it works. The code is never in the subject, which lock
// screens show.
func Code(c verification.Mail) (Message, error) {
	lang := i18n.Or(c.Lang, i18n.ZH)
	subject := i18n.T(lang, "mail.code.subject")
	doing := i18n.T(lang, "mail.code."+string(c.Purpose))
	warn := ""
	if b := c.For; c.Purpose == verification.BindBilling && b.Account != "" && b.Buyer != "" && b.Instance != "" {
		// Say exactly what the code binds, and where it may be typed: a
		// code typed into someone else's page would bind their purchase.
		doing = i18n.T(lang, "mail.code.bind-billing.for", b.Account, b.Buyer, b.Instance)
		warn = i18n.T(lang, "mail.code.bind-billing.warn")
	}
	valid := i18n.T(lang, "mail.code.valid", int(c.Validity.Minutes()))
	var html bytes.Buffer
	if err := codeHTML(lang, subject, doing, c.Code, valid, warn).Render(context.Background(), &html); err != nil {
		return Message{}, fmt.Errorf("render code mail: %w", err)
	}
	lines := []string{doing, i18n.T(lang, "mail.code.is") + " " + c.Code, valid}
	if warn != "" {
		lines = append(lines, warn)
	}
	text := textMail(lang, append(lines, i18n.T(lang, "mail.code.ignore"))...)
	return Message{To: c.To, Subject: subject, Text: text, HTML: html.String()}, nil
}

// Welcome renders the mail to a buyer who registered: the account, the
// workspace and its site, where to sign in. No password, ever.
func Welcome(to, langName string, f map[string]string) (Message, error) {
	lang := i18n.Or(langName, i18n.ZH)
	subject := i18n.T(lang, "mail.welcome.subject")
	site := i18n.T(lang, "site."+f["site"])
	paragraphs := []string{
		i18n.T(lang, "mail.welcome.body", f["username"], f["workspace"], site),
		i18n.T(lang, "mail.welcome.billing"),
	}
	return paragraphsMail(to, lang, subject, paragraphs, f["loginUrl"])
}

// Released renders the notice to a billing center account that an
// instance bound to it was released: its workspaces went back to billing
// center settlement, data kept.
func Released(to, langName string, f map[string]string) (Message, error) {
	lang := i18n.Or(langName, i18n.ZH)
	subject := i18n.T(lang, "mail.released.subject")
	count, _ := strconv.Atoi(f["workspaces"])
	paragraphs := []string{i18n.T(lang, "mail.released.body", f["instance"])}
	if count > 0 {
		paragraphs = append(paragraphs, i18n.T(lang, "mail.released.workspaces", count, f["account"]))
	}
	paragraphs = append(paragraphs, i18n.T(lang, "mail.released.next"))
	return paragraphsMail(to, lang, subject, paragraphs, "")
}

// paragraphsMail is a mail of plain paragraphs and an optional link.
func paragraphsMail(to string, lang i18n.Lang, subject string, paragraphs []string, link string) (Message, error) {
	var html bytes.Buffer
	if err := paragraphsHTML(lang, subject, paragraphs, link).Render(context.Background(), &html); err != nil {
		return Message{}, fmt.Errorf("render mail: %w", err)
	}
	text := paragraphs
	if link != "" {
		text = append(append([]string(nil), paragraphs...), i18n.T(lang, "mail.welcome.login", link))
	}
	return Message{To: to, Subject: subject, Text: textMail(lang, text...), HTML: html.String()}, nil
}

// textMail is the text part: the greeting, paragraphs, the signature.
func textMail(lang i18n.Lang, paragraphs ...string) string {
	parts := append([]string{i18n.T(lang, "mail.greeting")}, paragraphs...)
	parts = append(parts, i18n.T(lang, "mail.signature"))
	return strings.Join(parts, "\n\n") + "\n"
}

// SendOutbox renders and sends an outbox item (outbox.Mailer); secret is
// what the item sealed (a verification code).
func (s *Sender) SendOutbox(ctx context.Context, item outbox.Item, secret string) error {
	m, err := ForOutbox(item, secret)
	if err != nil {
		return err
	}
	return s.Send(ctx, m)
}

// ErrUnknownKind means an outbox item of a kind no renderer knows.
var ErrUnknownKind = errors.New("mail: unknown outbox kind")

// ForOutbox renders an outbox item by its kind.
func ForOutbox(item outbox.Item, secret string) (Message, error) {
	switch item.Kind {
	case outbox.KindCode:
		return Code(verification.Mail{To: item.To, Code: secret, Purpose: verification.Purpose(item.Fields["purpose"]), Lang: item.Lang, Validity: verification.CodeTTL,
			For: verification.Binding{Account: item.Fields["account"], Buyer: item.Fields["buyer"], Instance: item.Fields["instance"]}})
	case outbox.KindWelcome:
		return Welcome(item.To, item.Lang, item.Fields)
	case outbox.KindReleased:
		return Released(item.To, item.Lang, item.Fields)
	}
	return Message{}, fmt.Errorf("%w %q", ErrUnknownKind, item.Kind)
}

// NewClient returns an SES (API v1) client.
func NewClient(cfg aws.Config) *ses.Client { return ses.NewFromConfig(cfg) }
