package web

import (
	"github.com/guance/aliyun-marketplace/shared/domain/sites"
	"github.com/guance/aliyun-marketplace/shared/endpoints/i18n"
)

// Form is what a form page shows back: the values typed (never a
// password) and the error of each field at fault.
type Form struct {
	Values map[string]string
	Errors map[string]i18n.Message
}

// Value is the value of the field name.
func (f Form) Value(name string) string { return f.Values[name] }

// Err is the error of the field name (zero when none).
func (f Form) Err(name string) i18n.Message { return f.Errors[name] }

// HasErrors reports whether any field is at fault.
func (f Form) HasErrors() bool { return len(f.Errors) > 0 }

// SiteOptions are the Guance sites, in the order the pages list them.
func SiteOptions() []Option {
	opts := make([]Option, len(sites.All))
	for i, s := range sites.All {
		opts[i] = Option{Value: s.Code, Label: "site." + s.Code}
	}
	return opts
}

// LangOptions are the workspace languages.
func LangOptions() []Option {
	return []Option{{Value: string(i18n.ZH), Label: "lang.zh"}, {Value: string(i18n.EN), Label: "lang.en"}}
}
