// Package mail sends the product's mails through Amazon SES (API v1), in
// Chinese or English, each with a text and an HTML part.
package mail

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"text/template"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ses"
	"github.com/aws/aws-sdk-go-v2/service/ses/types"

	"github.com/guance/aliyun-marketplace/shared/verification"
)

// SES is the part of the SES client the mailer uses.
type SES interface {
	SendEmail(ctx context.Context, in *ses.SendEmailInput, opts ...func(*ses.Options)) (*ses.SendEmailOutput, error)
}

// Mailer sends mails from one address.
type Mailer struct {
	Client SES
	From   string
	// Timeout bounds each send: a mail must never hold a request for long
	// (and the local SES answers only SendEmail; anything else hangs).
	Timeout time.Duration
}

//go:embed templates/*
var files embed.FS

var (
	textTemplates = template.Must(template.ParseFS(files, "templates/*.txt"))
	htmlTemplates = htmltemplate.Must(htmltemplate.ParseFS(files, "templates/*.html"))
)

type texts struct {
	Subject, Greeting, Doing, CodeIs, Valid, Ignore, Signature string
}

var codeTexts = map[string]texts{
	"zh": {
		Subject: "观测云验证码", Greeting: "您好：", CodeIs: "您的验证码是：",
		Valid: "验证码 %d 分钟内有效，只能使用一次。", Ignore: "如果这不是您本人的操作，请忽略本邮件，您的账号不会有任何变化。",
		Signature: "观测云",
	},
	"en": {
		Subject: "Your Guance verification code", Greeting: "Hello,", CodeIs: "Your verification code is:",
		Valid: "The code is valid for %d minutes and works once.", Ignore: "If this was not you, ignore this mail; nothing changes on any account.",
		Signature: "Guance",
	},
}

var purposeTexts = map[string]map[verification.Purpose]string{
	"zh": {
		verification.Register:        "您正在注册观测云账号并开通阿里云云市场购买的观测云商业版。",
		verification.BindBilling:     "您正在将阿里云云市场购买的观测云商业版绑定到您的费用中心账号。",
		verification.CreateWorkspace: "您正在创建由阿里云账号结算的观测云工作空间。",
	},
	"en": {
		verification.Register:        "You are registering a Guance account to activate the Guance Commercial Plan bought on the Alibaba Cloud Marketplace.",
		verification.BindBilling:     "You are binding the Guance Commercial Plan bought on the Alibaba Cloud Marketplace to your billing center account.",
		verification.CreateWorkspace: "You are creating a Guance workspace settled by your Alibaba Cloud account.",
	},
}

type codeView struct {
	texts
	Doing string
	Code  string
	Valid string
	Lang  string
}

// SendCode mails a verification code.
func (m *Mailer) SendCode(ctx context.Context, c verification.Mail) error {
	lang := c.Lang
	if _, ok := codeTexts[lang]; !ok {
		lang = "zh"
	}
	t := codeTexts[lang]
	view := codeView{texts: t, Doing: purposeTexts[lang][c.Purpose], Code: c.Code, Valid: fmt.Sprintf(t.Valid, int(c.Validity.Minutes())), Lang: lang}
	var text, html bytes.Buffer
	if err := textTemplates.ExecuteTemplate(&text, "code.txt", view); err != nil {
		return fmt.Errorf("render code mail: %w", err)
	}
	if err := htmlTemplates.ExecuteTemplate(&html, "code.html", view); err != nil {
		return fmt.Errorf("render code mail: %w", err)
	}
	return m.send(ctx, c.To, t.Subject, text.String(), html.String())
}

func (m *Mailer) send(ctx context.Context, to, subject, text, html string) error {
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	utf8 := aws.String("UTF-8")
	_, err := m.Client.SendEmail(ctx, &ses.SendEmailInput{
		Source:      aws.String(m.From),
		Destination: &types.Destination{ToAddresses: []string{to}},
		Message: &types.Message{
			Subject: &types.Content{Data: aws.String(subject), Charset: utf8},
			Body: &types.Body{
				Text: &types.Content{Data: aws.String(text), Charset: utf8},
				Html: &types.Content{Data: aws.String(html), Charset: utf8},
			},
		},
	})
	if err != nil {
		// The address is personal data: the error names the step, not the recipient.
		return fmt.Errorf("send mail through SES: %w", err)
	}
	return nil
}
