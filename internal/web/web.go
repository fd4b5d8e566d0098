// Package web is the worker's HTTP server: the OAuth redirect URIs that
// finish a partner's authorisation (and, later, tenant admin consent) and a
// health endpoint.
package web

import (
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
}

// Handler routes the server's paths.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.tenantsPage)
	mux.HandleFunc("GET /consent/start", s.consentStart)
	mux.HandleFunc("GET "+config.ConsentCallbackPath, s.consentCallback)
	mux.HandleFunc("GET "+config.CallbackPath, s.authCallback)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return mux
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
	s.Log.Error("callback failed", "error", err)
	render(w, http.StatusInternalServerError, page{Title: "cspsync could not finish the sign-in",
		Problem: err.Error(), Fix: "Check that PostgreSQL and Temporal are running, then start again with `cspsync connect`."})
}

type page struct {
	Title, Message, Problem, Fix string
	Back                         bool // link back to the tenants page
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} — cspsync</title>
<style>body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
.problem{border-left:4px solid #b00020;padding-left:1rem}.fix{border-left:4px solid #1b5e20;padding-left:1rem}</style>
</head><body><main>
<h1>{{.Title}}</h1>
{{with .Message}}<p>{{.}}</p>{{end}}
{{with .Problem}}<section class="problem" aria-labelledby="problem"><h2 id="problem">What happened</h2><p>{{.}}</p></section>{{end}}
{{with .Fix}}<section class="fix" aria-labelledby="fix"><h2 id="fix">How to fix it</h2><p>{{.}}</p></section>{{end}}
{{if .Back}}<p><a href="/">Back to the tenants</a></p>{{end}}
</main></body></html>`))

func render(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, p)
}
