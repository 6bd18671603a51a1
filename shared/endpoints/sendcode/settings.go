package sendcode

import (
	"time"

	"github.com/guance/aliyun-marketplace/shared/endpoints/web"
	"github.com/guance/aliyun-marketplace/shared/platform/config"
)

// Settings are the VerificationCodeFunction's configuration, under the
// template's variable names. The code-hashing secret is read apart.
type Settings struct {
	Web         web.Settings
	MailFrom    string        // MAIL_FROM
	MailTimeout time.Duration // MAIL_TIMEOUT
}

// LoadSettings reads the settings; env reports what is missing or wrong.
func LoadSettings(env *config.Env) Settings {
	return Settings{
		MailFrom:    env.Required("MAIL_FROM"),
		Web:         web.LoadSettings(env),
		MailTimeout: env.Duration("MAIL_TIMEOUT", 4*time.Second),
	}
}
