// Package web is the worker's HTTP server: the OAuth redirect URIs that
// finish a partner's authorisation (and, later, tenant admin consent) and a
// health endpoint.
package web

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/workflows"
)

// OpAuthorise names the partner sign-in in integration_errors.
const OpAuthorise = "authorise"

// Server serves the browser round-trips and the tenants page.
type Server struct {
	Store     *store.Store
	Auth      *microsoft.Auth
	Temporal  client.Client
	TaskQueue string
	PublicURL string
	Log       *slog.Logger
}

func (s *Server) control() *control.Control {
	return &control.Control{Store: s.Store, Temporal: s.Temporal, TaskQueue: s.TaskQueue}
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

// authCallback finishes the partner's sign-in: the state must be one cspsync
// issued and not yet used (else 400, with nothing stored or signalled); the
// code is redeemed with MSAL and the tokens kept encrypted.
func (s *Server) authCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req, err := s.Store.ConsumeAuthRequest(r.Context(), q.Get("state"))
	if err != nil || req.Kind != "authorise" {
		if err == nil {
			err = store.ErrUnknownState
		}
		s.Log.Warn("rejected authorisation callback", "error", err)
		render(w, http.StatusBadRequest, page{Title: "Sign-in not accepted", Problem: err.Error()})
		return
	}
	// Microsoft redirected with an error instead of a code.
	if code := q.Get("error"); code != "" {
		f := microsoft.FromCode(microsoft.AADSTSCode(q.Get("error_description"), code), 0, q.Get("error_description"), 0, nil)
		s.failAuthorisation(r.Context(), w, req.PartnerID, f)
		return
	}
	account, err := s.Auth.RedeemCode(r.Context(), req.PartnerID, q.Get("code"), req.CodeVerifier, req.RedirectURI)
	if err != nil {
		s.failAuthorisation(r.Context(), w, req.PartnerID, microsoft.Classify(err))
		return
	}
	ctx := r.Context()
	if err := s.Store.SetPartnerAuthorised(ctx, req.PartnerID, account); err != nil {
		s.internal(w, err)
		return
	}
	if err := s.Store.ResolvePartnerErrors(ctx, req.PartnerID); err != nil {
		s.internal(w, err)
		return
	}
	if err := workflows.SignalPartner(ctx, s.Temporal, s.TaskQueue, req.PartnerID, workflows.SignalAuthorised, struct{}{}); err != nil {
		s.internal(w, err)
		return
	}
	s.Log.Info("partner authorised", "partner", req.PartnerID)
	render(w, http.StatusOK, page{Title: "cspsync is authorised",
		Message: "Partner " + req.PartnerID + " is connected. Tenant discovery has started; you can close this window and run `cspsync status`."})
}

// failAuthorisation records the classified failure once, marks the partner as
// needing attention and tells the workflow; no retry follows.
func (s *Server) failAuthorisation(ctx context.Context, w http.ResponseWriter, partnerID string, f *microsoft.Failure) {
	s.Log.Warn("authorisation failed", "partner", partnerID, "code", f.Code)
	err := errors.Join(
		s.Store.RecordError(ctx, store.IntegrationError{PartnerID: partnerID, Operation: OpAuthorise,
			Code: f.Code, Message: f.Message, Remediation: f.Remediation}),
		s.Store.SetPartnerAuthState(ctx, partnerID, store.AuthNeedsReauthorisation),
		workflows.SignalPartner(ctx, s.Temporal, s.TaskQueue, partnerID, workflows.SignalAuthorisationFailed,
			activities.ErrorInfo{Code: f.Code, Cause: f.Cause, Remediation: f.Remediation, At: time.Now()}),
	)
	if err != nil {
		s.internal(w, err)
		return
	}
	render(w, http.StatusBadGateway, page{Title: "Microsoft refused the sign-in",
		Problem: f.Code + ": " + f.Cause, Fix: f.Remediation})
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
