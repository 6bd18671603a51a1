// Package verificationtest has a mailer for tests that keeps the code mails
// instead of sending them, and can be told to fail.
package verificationtest

import (
	"context"
	"sync"

	"github.com/guance/aliyun-marketplace/shared/domain/verification"
)

// Outbox is a verification.Mailer that keeps what it is given.
type Outbox struct {
	mu    sync.Mutex
	mails []verification.Mail
	// Fail, when set, is returned instead of keeping the mail.
	Fail error
}

// SendCode keeps m, or returns Fail.
func (o *Outbox) SendCode(_ context.Context, m verification.Mail) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.Fail != nil {
		return o.Fail
	}
	o.mails = append(o.mails, m)
	return nil
}

// Mails returns the mails kept so far.
func (o *Outbox) Mails() []verification.Mail {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]verification.Mail(nil), o.mails...)
}

// Last returns the newest mail.
func (o *Outbox) Last() verification.Mail {
	mails := o.Mails()
	return mails[len(mails)-1]
}

// SetFail sets or clears the failure.
func (o *Outbox) SetFail(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.Fail = err
}
