// Package routes names every path the HTTP API serves, in one place: the
// template's routes, the handlers' muxes, the pages' links and the
// redirects all use these. It imports nothing.
package routes

// The marketplace's calls.
const (
	// SPI is the lifecycle callback (MarketplaceCallbackFunction).
	SPI = "/aliyun/spi"
	// SSO is the authUrl: Login Without Password (SsoRedirectFunction).
	SSO = "/aliyun/sso"
)

// The activation page and the language switch (SsoRedirectFunction).
const (
	// Activate is where every flow starts and comes back to.
	Activate = "/activate"
	// Language is where the language switch posts.
	Language = "/activate/language"
	// SignOut ends the session.
	SignOut = "/activate/sign-out"
	// Problem is an error page by its code, in a language (the language
	// switch of an error page without a session).
	Problem = "/activate/problem"
)

// Registration (RegistrationFunction).
const (
	Register         = "/register"
	RegisterBasic    = "/register/basic"
	RegisterCompany  = "/register/company"
	RegisterActivate = "/register/activate"
	RegisterDone     = "/register/done"
)

// Binding (BillingBindFunction, then WorkspaceBindFunction).
const (
	BindBilling    = "/bind/billing"
	BindWorkspace  = "/bind/workspace"
	BindSite       = "/bind/workspace/site"
	BindConfirm    = "/bind/workspace/confirm"
	BindCreateHave = "/bind/workspace/create/have"
	BindCreateNew  = "/bind/workspace/create/new"
)

// VerificationCodes sends codes (VerificationCodeFunction).
const VerificationCodes = "/verification-codes"

// All are the paths above, for the test that holds the template's routes
// to them.
var All = []string{
	SPI, SSO, Activate, Language, SignOut, Problem, Register, RegisterBasic, RegisterCompany, RegisterActivate, RegisterDone,
	BindBilling, BindWorkspace, BindSite, BindConfirm, BindCreateHave, BindCreateNew, VerificationCodes,
}
