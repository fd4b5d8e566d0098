package sim

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The interactive endpoints render plain, accessible HTML forms. Their state travels in one
// signed hidden field ("flow"), so a sign-in survives a simulator restart and needs no cookies.

type flowStage string

const (
	stagePassword flowStage = "password"
	stageMFA      flowStage = "mfa"
	stageConsent  flowStage = "consent"
)

type flowKind string

const (
	kindAuthorize    flowKind = "authorize"
	kindAdminConsent flowKind = "adminconsent"
)

type flowState struct {
	Kind        flowKind  `json:"k"`
	Stage       flowStage `json:"s"`
	Seg         string    `json:"seg"` // tenant segment of the authority
	ClientID    string    `json:"cid"`
	RedirectURI string    `json:"ru"`
	Scope       string    `json:"sc"`
	State       string    `json:"st,omitempty"`
	Challenge   string    `json:"cc,omitempty"`
	Method      string    `json:"ccm,omitempty"`
	Nonce       string    `json:"n,omitempty"`
	LoginHint   string    `json:"lh,omitempty"`
	UserID      string    `json:"u,omitempty"`
	MFA         bool      `json:"m,omitempty"`
	Target      string    `json:"t,omitempty"` // tenant being consented
	Expires     int64     `json:"exp"`
}

// flowLifetime bounds how long a sign-in page may sit before being submitted.
const flowLifetime = time.Hour

// interactive holds what authorize and adminconsent validate alike.
type interactive struct {
	app    *App
	target *org // nil for a tenantless authority
	redir  string
}

// validateInteractive applies Entra ID's rules for browser requests. Problems with the client
// or the redirect URI must never redirect (the redirect URI is not trusted yet), so they come
// back as an error page.
func (s *Server) validateInteractive(seg string, q url.Values) (interactive, *aadError) {
	var in interactive
	if !isTenantless(seg) {
		if in.target = s.dir.lookup(seg); in.target == nil {
			return in, errTenantNotFound(seg)
		}
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		return in, errMissingParam("client_id")
	}
	if in.app = s.dir.apps[clientID]; in.app == nil {
		return in, errAppNotFound(clientID, directoryName(seg, in.target))
	}
	if e := s.appAvailable(in.app, in.target); e != nil {
		return in, e
	}
	in.redir = q.Get("redirect_uri")
	if in.redir == "" && len(in.app.RedirectURIs) > 0 {
		in.redir = in.app.RedirectURIs[0]
	}
	if !redirectAllowed(in.app, in.redir) {
		return in, newAAD(400, "invalid_request", 50011, "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.", in.redir, in.app.ClientID)
	}
	return in, nil
}

// redirectAllowed matches registered redirect URIs exactly, except that Entra ID ignores the
// port of http loopback URIs so native apps can listen on any free port.
func redirectAllowed(app *App, uri string) bool {
	got, err := url.Parse(uri)
	if err != nil || uri == "" {
		return false
	}
	for _, reg := range app.RedirectURIs {
		if reg == uri {
			return true
		}
		want, err := url.Parse(reg)
		if err != nil || want.Scheme != "http" || got.Scheme != "http" || !isLoopback(want.Hostname()) {
			continue
		}
		if strings.EqualFold(want.Hostname(), got.Hostname()) && pathOrSlash(want.Path) == pathOrSlash(got.Path) && want.RawQuery == got.RawQuery {
			return true
		}
	}
	return false
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

func pathOrSlash(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	seg, q := r.PathValue("tenant"), r.URL.Query()
	in, e := s.validateInteractive(seg, q)
	if e != nil {
		s.errorPage(w, r, e)
		return
	}
	fail := func(e *aadError) { s.redirectError(w, r, in.redir, e, q.Get("state")) }
	if rt := q.Get("response_type"); rt != "code" {
		fail(newAAD(400, "unsupported_response_type", 700054, "response_type '%s' is not enabled for the application.", rt))
		return
	}
	if rm := q.Get("response_mode"); rm != "" && rm != "query" {
		s.errorPage(w, r, newAAD(400, "invalid_request", 900144, "The cspsync simulator only supports response_mode=query, not '%s'.", rm))
		return
	}
	if _, e := parseScopes(q.Get("scope"), directoryName(seg, in.target)); e != nil {
		fail(e)
		return
	}
	method := q.Get("code_challenge_method")
	if q.Get("code_challenge") != "" && method == "" {
		method = "plain" // RFC 7636 default
	}
	if method != "" && method != "plain" && method != "S256" {
		fail(newAAD(400, "invalid_request", 50149, "The code_challenge_method '%s' is not supported. Use 'S256' or 'plain'.", method))
		return
	}
	s.renderPage(w, http.StatusOK, s.signInPage(flowState{
		Kind: kindAuthorize, Stage: stagePassword, Seg: seg, ClientID: in.app.ClientID,
		RedirectURI: in.redir, Scope: q.Get("scope"), State: q.Get("state"),
		Challenge: q.Get("code_challenge"), Method: method, Nonce: q.Get("nonce"), LoginHint: q.Get("login_hint"),
	}, in.app, ""))
}

func (s *Server) handleAdminConsent(w http.ResponseWriter, r *http.Request) {
	seg, q := r.PathValue("tenant"), r.URL.Query()
	in, e := s.validateInteractive(seg, q)
	if e != nil {
		s.errorPage(w, r, e)
		return
	}
	if q.Get("scope") == "" {
		s.redirectError(w, r, in.redir, errMissingParam("scope"), q.Get("state"))
		return
	}
	s.renderPage(w, http.StatusOK, s.signInPage(flowState{
		Kind: kindAdminConsent, Stage: stagePassword, Seg: seg, ClientID: in.app.ClientID,
		RedirectURI: in.redir, Scope: q.Get("scope"), State: q.Get("state"),
	}, in.app, ""))
}

// handleAdminConsentV1 is the v1 endpoint, /{tenant}/adminconsent: no scope parameter, the
// admin consents to the permissions configured on the app's registration, and the redirect
// carries admin_consent and tenant without a scope.
func (s *Server) handleAdminConsentV1(w http.ResponseWriter, r *http.Request) {
	seg, q := r.PathValue("tenant"), r.URL.Query()
	in, e := s.validateInteractive(seg, q)
	if e != nil {
		s.errorPage(w, r, e)
		return
	}
	s.renderPage(w, http.StatusOK, s.signInPage(flowState{
		Kind: kindAdminConsent, Stage: stagePassword, Seg: seg, ClientID: in.app.ClientID,
		RedirectURI: in.redir, State: q.Get("state"),
	}, in.app, ""))
}

// handleLogin advances a sign-in: password, then MFA, then (admin consent only) the consent
// decision.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, errMalformedRequest())
		return
	}
	var f flowState
	if s.sign.open(purposeFlow, r.PostForm.Get("flow"), &f) != nil || f.Seg != r.PathValue("tenant") {
		s.errorPage(w, r, errMalformedRequest())
		return
	}
	if s.now().Unix() > f.Expires {
		s.errorPage(w, r, newAAD(400, "invalid_request", 50089, "Authentication failed due to flow token expired."))
		return
	}
	app := s.dir.apps[f.ClientID]
	switch f.Stage {
	case stagePassword:
		upn := strings.TrimSpace(r.PostForm.Get("login"))
		f.LoginHint = upn
		acct := s.dir.accounts[strings.ToLower(upn)]
		var target *org
		if !isTenantless(f.Seg) {
			target = s.dir.lookup(f.Seg)
		}
		switch {
		case acct == nil:
			s.renderPage(w, http.StatusOK, s.signInPage(f, app, newAAD(400, "invalid_request", 50034, "The user account %s does not exist in the '%s' directory. To sign into this application, the account must be added to the directory.", upn, directoryName(f.Seg, target)).Error()))
			return
		case r.PostForm.Get("passwd") != acct.Password:
			s.renderPage(w, http.StatusOK, s.signInPage(f, app, newAAD(400, "invalid_request", 50126, "Error validating credentials due to invalid username or password.").Error()))
			return
		case target != nil && !acct.canAccess(target):
			// Entra ID authenticates the user at their home tenant first, then finds they have
			// no account in the tenant of the request (a customer's user and the partner's
			// single-tenant app, for instance).
			s.errorPage(w, r, errUserNotInTenant(acct, target, app, s.base))
			return
		}
		f.UserID = acct.ID
		if acct.MFARegistered && !s.sc.AutoMFA {
			f.Stage = stageMFA
			s.renderPage(w, http.StatusOK, s.mfaPage(f, ""))
			return
		}
		// Without a registered method there is no second factor: the code is issued but marked
		// single-factor, and policy then refuses it at the token endpoint (AADSTS50076).
		f.MFA = acct.MFARegistered
		s.afterSignIn(w, r, f, app)
	case stageMFA:
		acct := s.dir.byOID[f.UserID]
		if r.PostForm.Get("otc") != acct.MFACode {
			s.renderPage(w, http.StatusOK, s.mfaPage(f, newAAD(400, "invalid_request", 500121, "Authentication failed during strong authentication request. You didn't enter the expected verification code.").Error()))
			return
		}
		f.MFA = true
		s.afterSignIn(w, r, f, app)
	case stageConsent:
		s.decideConsent(w, r, f, app, r.PostForm.Get("consent") == "accept")
	default:
		s.errorPage(w, r, errMalformedRequest())
	}
}

// afterSignIn finishes an authenticated user's request: an authorization code for authorize,
// the consent page for adminconsent.
func (s *Server) afterSignIn(w http.ResponseWriter, r *http.Request, f flowState, app *App) {
	acct := s.dir.byOID[f.UserID]
	target := acct.home
	if !isTenantless(f.Seg) {
		target = s.dir.lookup(f.Seg)
	}
	if e := s.appAvailable(app, target); e != nil {
		s.errorPage(w, r, e)
		return
	}
	if f.Kind == kindAdminConsent {
		f.Stage, f.Target = stageConsent, target.ID
		s.renderPage(w, http.StatusOK, s.consentPage(f, app, target))
		return
	}
	if !s.consented(target) {
		s.redirectError(w, r, f.RedirectURI, errConsentRequired(app), f.State)
		return
	}
	code := randomToken()
	s.mu.Lock()
	now := s.now()
	for k, c := range s.codes { // drop expired codes so the map stays small
		if now.After(c.expires) {
			delete(s.codes, k)
		}
	}
	s.codes[code] = &authCode{
		clientID: app.ClientID, redirectURI: f.RedirectURI, challenge: f.Challenge, method: f.Method,
		scope: f.Scope, nonce: f.Nonce, userID: acct.ID, tenantID: target.ID, mfa: f.MFA, expires: now.Add(authCodeLifetime),
	}
	s.stats.SignIns++
	s.mu.Unlock()
	redirectWith(w, r, f.RedirectURI, url.Values{"code": {code}}, f.State)
}

func (s *Server) decideConsent(w http.ResponseWriter, r *http.Request, f flowState, app *App, accept bool) {
	if !accept {
		// Admin consent's error redirect carries admin_consent=True too ("Admin consent on the
		// Microsoft identity platform"), so a client must look at error first.
		e, t := newAAD(400, "consent_required", 65004, "User declined to consent to access the app."), s.newTrace(r)
		redirectWith(w, r, f.RedirectURI, url.Values{"admin_consent": {"True"}, "error": {e.err}, "error_description": {t.describe(e)}}, f.State)
		return
	}
	if err := s.setConsent(f.Target, true); err != nil {
		s.errorPage(w, r, newAAD(500, "server_error", 90033, "A transient error has occurred. Please try again. (%v)", err))
		return
	}
	s.mu.Lock()
	s.stats.AdminConsents++
	s.mu.Unlock()
	params := url.Values{"admin_consent": {"True"}, "tenant": {f.Target}}
	if f.Scope != "" { // v2.0; the v1 endpoint asked for no scope and names none
		params.Set("scope", f.Scope)
	}
	redirectWith(w, r, f.RedirectURI, params, f.State)
}

// redirectWith sends the browser back to the app with params (and state, echoed verbatim).
func redirectWith(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values, state string) {
	u, _ := url.Parse(redirectURI) // validated against the registration already
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if state != "" {
		q.Set("state", state)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI string, e *aadError, state string) {
	t := s.newTrace(r)
	redirectWith(w, r, redirectURI, url.Values{"error": {e.err}, "error_description": {t.describe(e)}}, state)
}

// page is the data of the one HTML template.
type page struct {
	Title, Heading, Lead, Error string
	Action, Flow                string
	Stage                       flowStage
	LoginHint                   string
	AppName, TenantName         string
	Scopes                      []string
	Details                     [][2]string
}

func (s *Server) sealFlow(f flowState) string {
	f.Expires = s.now().Add(flowLifetime).Unix()
	return s.sign.seal(purposeFlow, f)
}

func (s *Server) signInPage(f flowState, app *App, errMsg string) page {
	return page{
		Title: "Sign in to your account", Heading: "Sign in", Lead: "to continue to " + app.DisplayName,
		Error: errMsg, Action: "/" + url.PathEscape(f.Seg) + "/login", Flow: s.sealFlow(f),
		Stage: stagePassword, LoginHint: f.LoginHint,
	}
}

func (s *Server) mfaPage(f flowState, errMsg string) page {
	return page{
		Title: "Verify your identity", Heading: "Enter code",
		Lead:  "Enter the code displayed in the authenticator app on your mobile device.",
		Error: errMsg, Action: "/" + url.PathEscape(f.Seg) + "/login", Flow: s.sealFlow(f), Stage: stageMFA,
	}
}

func (s *Server) consentPage(f flowState, app *App, target *org) page {
	return page{
		Title: "Permissions requested", Heading: "Permissions requested",
		Lead:   "Accepting grants these permissions to the app for all users in your organization.",
		Action: "/" + url.PathEscape(f.Seg) + "/login", Flow: s.sealFlow(f), Stage: stageConsent,
		AppName: app.DisplayName, TenantName: target.Name, Scopes: consentScopes(f.Scope),
	}
}

// errorPage shows an Entra-style error page. It never redirects: the request could not be
// trusted enough to send the browser anywhere.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, e *aadError) {
	t := s.newTrace(r)
	s.renderPage(w, http.StatusBadRequest, page{
		Title: "Sign in to your account", Heading: "Sorry, but we're having trouble signing you in.",
		Error:   e.Error(),
		Details: [][2]string{{"Request Id", t.traceID}, {"Correlation Id", t.correlationID}, {"Timestamp", t.timestamp}},
	})
}

func (s *Server) renderPage(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	if err := pageTemplate.Execute(w, p); err != nil {
		s.log.Error("rendering page", "err", err)
	}
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;background:#f2f2f2;margin:0;color:#1b1b1b}
main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;box-shadow:0 2px 6px rgba(0,0,0,.2)}
header{font-size:.8rem;color:#555;text-align:center;padding:.5rem}
label{display:block;margin-top:1rem;font-weight:600}
input[type=email],input[type=password],input[type=text]{width:100%;box-sizing:border-box;padding:.5rem;font-size:1rem;border:1px solid #666}
button{margin-top:1.5rem;padding:.5rem 1.5rem;font-size:1rem;background:#0067b8;color:#fff;border:0;cursor:pointer}
button.secondary{background:#ccc;color:#1b1b1b;margin-right:.5rem}
button:focus,input:focus{outline:3px solid #1b1b1b;outline-offset:2px}
[role=alert]{color:#a80000;font-weight:600}
</style>
</head>
<body>
<header><p>cspsync Microsoft cloud simulator &mdash; not a Microsoft service</p></header>
<main>
<h1>{{.Heading}}</h1>
{{if .Lead}}<p>{{.Lead}}</p>{{end}}
{{if .Error}}<p role="alert" id="error">{{.Error}}</p>{{end}}
{{if .Details}}<dl>{{range .Details}}<dt>{{index . 0}}</dt><dd>{{index . 1}}</dd>{{end}}</dl>{{end}}
{{if .Action}}<form method="post" action="{{.Action}}"{{if .Error}} aria-describedby="error"{{end}}>
<input type="hidden" name="flow" value="{{.Flow}}">
{{if eq .Stage "password"}}
<label for="login">Email address</label>
<input id="login" name="login" type="email" autocomplete="username" required value="{{.LoginHint}}"{{if not .LoginHint}} autofocus{{end}}>
<label for="passwd">Password</label>
<input id="passwd" name="passwd" type="password" autocomplete="current-password" required{{if .LoginHint}} autofocus{{end}}>
<button type="submit">Sign in</button>
{{else if eq .Stage "mfa"}}
<label for="otc">Code</label>
<input id="otc" name="otc" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]*" required autofocus>
<button type="submit">Verify</button>
{{else if eq .Stage "consent"}}
<p><strong>{{.AppName}}</strong> requests access to <strong>{{.TenantName}}</strong>. This app would like to:</p>
<ul>{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>
<button type="submit" name="consent" value="cancel" class="secondary">Cancel</button>
<button type="submit" name="consent" value="accept">Accept</button>
{{end}}
</form>{{end}}
</main>
</body>
</html>
`))

// consentScopes lists what the consent page shows: the requested scopes, or for the v1
// endpoint the permissions configured on the app.
func consentScopes(scope string) []string {
	if scope == "" {
		return []string{"https://graph.microsoft.com/.default (the permissions configured for the app)"}
	}
	return strings.Fields(scope)
}
