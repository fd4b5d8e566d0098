// Package web is the worker's HTTP server: the tenants page for signed-in
// operators and their sign-in, the OAuth redirect URIs that finish a
// partner's authorisation and a tenant's admin consent, and a health
// endpoint.
package web

import (
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/control"
)

// Server serves the browser round-trips and the tenants page.
type Server struct {
	Control *control.Control
	Log     *slog.Logger
	// PublicURL is where browsers reach the server (CSPSYNC_PUBLIC_URL).
	PublicURL string
	// ListenAddr is the server's listen address; requests may name it as
	// their Host too.
	ListenAddr string
	// TemporalUI is the Temporal UI's address the console links workflows
	// to; "" links none.
	TemporalUI string

	site site
}

//go:embed static/cspsync.css static/console.js
var static embed.FS

// Handler routes the server's paths. Every page and every state-changing
// route needs a signed-in operator; Microsoft's redirects do not, but
// accept only states cspsync issued.
func (s *Server) Handler() (http.Handler, error) {
	var err error
	if s.site, err = newSite(s.PublicURL, s.ListenAddr); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	s.routeConsole(mux)
	mux.HandleFunc("GET "+signInPath, s.signIn)
	mux.HandleFunc("GET "+config.OperatorCallbackPath, s.signInCallback)
	mux.HandleFunc("POST /auth/operator/logout", s.signOut)
	mux.HandleFunc("POST /consent/start", s.consentStart)
	mux.HandleFunc("GET "+config.ConsentCallbackPath, s.consentCallback)
	mux.HandleFunc("GET "+config.CallbackPath, s.authCallback)
	mux.HandleFunc("GET /static/cspsync.css", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "static/cspsync.css")
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return s.site.guard(mux), nil
}

// callback reads Microsoft's redirect.
func callback(r *http.Request) control.Callback {
	q := r.URL.Query()
	return control.Callback{State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error"),
		ErrorDescription: q.Get("error_description"), AdminConsent: q.Get("admin_consent"), Tenant: q.Get("tenant")}
}

// authCallback finishes the partner's sign-in.
func (s *Server) authCallback(w http.ResponseWriter, r *http.Request) {
	partner, err := s.Control.CompleteAuthorisation(r.Context(), callback(r))
	var refused *control.Refused
	switch {
	case errors.Is(err, control.ErrBadCallback):
		s.Log.Warn("rejected authorisation callback", "error", err)
		render(w, http.StatusBadRequest, page{Title: "Sign-in not accepted", Problem: err.Error()})
	case errors.As(err, &refused):
		s.Log.Warn("authorisation failed", "partner", partner, "code", refused.Code)
		render(w, http.StatusBadGateway, page{Title: "Microsoft refused the sign-in",
			Problem: refused.Code + ": " + refused.Cause, Fix: refused.Remediation})
	case err != nil:
		s.internal(w, err)
	default:
		s.Log.Info("partner authorised", "partner", partner)
		render(w, http.StatusOK, page{Title: "cspsync is authorised",
			Message: "Partner " + partner + " is connected. Tenant discovery has started; you can close this window and run `cspsync status`."})
	}
}

func (s *Server) internal(w http.ResponseWriter, err error) {
	s.Log.Error("request failed", "error", err)
	render(w, http.StatusInternalServerError, page{Title: "cspsync could not finish the request",
		Problem: err.Error(), Fix: "Check that PostgreSQL and Temporal are running, then try again."})
}

type page struct {
	Title, Message, Problem, Fix string
	Back                         bool     // link back to the tenants page
	SignIn                       bool     // link to sign in (again)
	Choices                      []choice // links to pick from
}

type choice struct{ Href, Label string }

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} — cspsync</title>
<link rel="stylesheet" href="/static/cspsync.css">
</head><body><main class="narrow">
<h1>{{.Title}}</h1>
{{with .Message}}<p>{{.}}</p>{{end}}
{{with .Problem}}<section class="problem" aria-labelledby="problem"><h2 id="problem">What happened</h2><p>{{.}}</p></section>{{end}}
{{with .Fix}}<section class="fix" aria-labelledby="fix"><h2 id="fix">How to fix it</h2><p>{{.}}</p></section>{{end}}
{{with .Choices}}<ul>{{range .}}<li><a href="{{.Href}}">{{.Label}}</a></li>{{end}}</ul>{{end}}
{{if .SignIn}}<p><a href="` + signInPath + `">Sign in</a></p>{{end}}
{{if .Back}}<p><a href="/">Back to the tenants</a></p>{{end}}
</main></body></html>`))

func render(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, p)
}
