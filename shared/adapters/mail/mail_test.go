package mail

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/guance/aliyun-marketplace/shared/domain/outbox"
	"github.com/guance/aliyun-marketplace/shared/domain/verification"
)

type captured struct{ in *ses.SendEmailInput }

func (c *captured) SendEmail(_ context.Context, in *ses.SendEmailInput, _ ...func(*ses.Options)) (*ses.SendEmailOutput, error) {
	c.in = in
	return &ses.SendEmailOutput{MessageId: aws.String("m1")}, nil
}

func TestCodeMailInBothLanguages(t *testing.T) {
	for lang, want := range map[string][]string{
		"zh": {"观测云验证码", "绑定到您的费用中心账号", "10 分钟内有效"},
		"en": {"Your Guance verification code", "binding the Guance Commercial Plan", "valid for 10 minutes"},
		"fr": {"观测云验证码"}, // unknown language: Chinese
	} {
		c := &captured{}
		m := &Sender{Client: c, From: "no-reply@example.com"}
		if err := m.SendCode(context.Background(), verification.Mail{To: "a@example.com", Code: "042042", Purpose: verification.BindBilling, Lang: lang, Validity: 10 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		subject, text, html := *c.in.Message.Subject.Data, *c.in.Message.Body.Text.Data, *c.in.Message.Body.Html.Data
		if *c.in.Source != "no-reply@example.com" || c.in.Destination.ToAddresses[0] != "a@example.com" {
			t.Fatalf("%s: envelope %+v", lang, c.in)
		}
		if strings.Contains(subject, "042042") {
			t.Fatalf("%s: the code must not be in the subject (lock screens show it)", lang)
		}
		for _, part := range []string{text, html} {
			if !strings.Contains(part, "042042") {
				t.Fatalf("%s: code missing from a part", lang)
			}
			for _, w := range want[1:] {
				if !strings.Contains(part, w) {
					t.Fatalf("%s: %q missing from\n%s", lang, w, part)
				}
			}
		}
		if subject != want[0] {
			t.Fatalf("%s: subject %q", lang, subject)
		}
	}
}

// TestSESFailures runs the real SES client against a server that refuses
// or hangs: both come back as errors within the mailer's deadline.
func TestSESFailures(t *testing.T) {
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`<ErrorResponse><Error><Type>Sender</Type><Code>MessageRejected</Code><Message>Email address is not verified.</Message></Error></ErrorResponse>`))
	}))
	defer refuse.Close()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer hang.Close()
	defer close(release)

	for name, url := range map[string]string{"refused": refuse.URL, "hanging": hang.URL} {
		client := ses.New(ses.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")})
		m := &Sender{Client: client, From: "no-reply@example.com", Timeout: 300 * time.Millisecond}
		start := time.Now()
		err := m.SendCode(context.Background(), verification.Mail{To: "a@example.com", Code: "1", Purpose: verification.Register, Lang: "en", Validity: time.Minute})
		if err == nil || time.Since(start) > 3*time.Second {
			t.Fatalf("%s: err %v after %s", name, err, time.Since(start))
		}
		if strings.Contains(err.Error(), "a@example.com") {
			t.Fatalf("%s: the error names the recipient", name)
		}
		if name == "hanging" && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("hanging: %v, want a deadline error", err)
		}
	}
}

func TestWelcomeMail(t *testing.T) {
	for lang, want := range map[string][]string{
		"en": {"Welcome to Guance", "Your Guance account alice is ready", `"prod"`, "Hangzhou (cn1)", "Sign in at: https://console.example/login"},
		"zh": {"欢迎使用观测云", "观测云账号 alice 已创建", "杭州（cn1）", "登录地址：https://console.example/login"},
	} {
		m, err := ForOutbox(outbox.Item{Kind: outbox.KindWelcome, To: "a@example.com", Lang: lang, Fields: map[string]string{
			"username": "alice", "workspace": "prod", "site": "cn1", "loginUrl": "https://console.example/login",
		}}, "")
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != want[0] || m.To != "a@example.com" || !strings.Contains(m.HTML, `href="https://console.example/login"`) {
			t.Fatalf("%s: %+v", lang, m)
		}
		for _, w := range want[1:] {
			if !strings.Contains(m.Text, w) {
				t.Errorf("%s: text lacks %q:\n%s", lang, w, m.Text)
			}
		}
	}
	if _, err := ForOutbox(outbox.Item{Kind: "nonsense"}, ""); err == nil {
		t.Fatal("an unknown kind must be an error")
	}
}

// TestBindBillingCodeSaysWhatItBinds: the code mailed to a billing center
// account's address names the account, the Alibaba Cloud account (masked)
// and the instance it would be bound to, and where the code may be typed:
// a code typed into someone else's page would bind their purchase.
func TestBindBillingCodeSaysWhatItBinds(t *testing.T) {
	for lang, want := range map[string][]string{
		"en": {`"acme"`, "1234********3456", "5604018", "only on a page you opened yourself"},
		"zh": {"“acme”", "1234********3456", "5604018", "只在您本人"},
	} {
		m, err := ForOutbox(outbox.Item{Kind: outbox.KindCode, To: "billing@acme.example", Lang: lang, Fields: map[string]string{
			"purpose": "bind-billing", "account": "acme", "buyer": "1234********3456", "instance": "5604018",
		}}, "123456")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(m.Text, w) || !strings.Contains(m.HTML, strings.ReplaceAll(w, `"`, "&#34;")) {
				t.Errorf("%s: the mail lacks %q:\n%s", lang, w, m.Text)
			}
		}
	}
}
