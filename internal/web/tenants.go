package web

import (
	"html/template"
	"net/http"
	"time"

	"github.com/cspsync/cspsync/internal/control"
)

var tenantsTmpl = template.Must(template.New("tenants").Funcs(template.FuncMap{
	"when": func(t any) string {
		switch t := t.(type) {
		case *time.Time:
			if t != nil {
				return t.UTC().Format("2006-01-02 15:04 UTC")
			}
		case time.Time:
			return t.UTC().Format("2006-01-02 15:04 UTC")
		}
		return "never"
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tenants — cspsync</title>
<link rel="stylesheet" href="/static/cspsync.css">
</head><body>
<header class="session"><p>Signed in as {{.Operator.Name}} ({{.Operator.UPN}}), operator of partner {{.Operator.PartnerID}}</p>
<form class="inline" method="post" action="/auth/operator/logout"><input type="hidden" name="csrf" value="{{.Operator.CSRF}}"><button type="submit">Sign out</button></form></header>
<main>
<h1>Customer tenants</h1>
<p>{{len .Rows}} tenants. GDAP tenants need their own admin consent before cspsync can read them: a Global Administrator of that tenant follows its link.</p>
<table>
<caption>Tenants with relationship, consent, sync state and last error</caption>
<thead><tr><th scope="col">Customer</th><th scope="col">Tenant id</th><th scope="col">Relationship</th><th scope="col">Consent</th>
<th scope="col">State</th><th scope="col">Users</th><th scope="col">Last sync</th><th scope="col">Last error</th><th scope="col">Action</th></tr></thead>
<tbody>
{{range .Rows}}<tr data-tenant="{{.TenantID}}">
<th scope="row">{{.Name}}</th><td><code>{{.TenantID}}</code></td><td>{{.Relationship}}<br><small>{{.RelationshipSource}}{{with .GDAP.Summary}}; GDAP {{.}}{{end}}</small></td><td>{{.ConsentState}}</td>
<td class="tone-{{.SyncState.Tone}}">{{.SyncState}}{{with .SyncReason}}<br><small>{{.}}</small>{{end}}</td>
<td>{{with .Users}}{{.Active}} active of {{.All}}{{with .Running}}<br><small>{{.Kind}} round running: {{.Users}} users in {{.Pages}} pages since {{when .StartedAt}}</small>{{else}}{{with .LastRoundAt}}<br><small>last round {{when .}}</small>{{end}}{{end}}{{end}}</td>
<td class="when">{{when .LastSyncAt}}</td>
<td>{{with .Error}}<strong>{{.Code}}</strong>: {{.Remediation}}{{else}}—{{end}}</td>
<td>{{if and .ConsentState.Missing (not .LeftAt)}}<form method="post" action="/consent/start"><input type="hidden" name="csrf" value="{{$.Operator.CSRF}}"><input type="hidden" name="tenant" value="{{.TenantID}}">
<button type="submit">Grant admin consent<span class="visually-hidden"> for {{.Name}}</span></button></form>
{{with .LinkExpires}}<small>A link issued earlier works until {{when .}}; a new one replaces it.</small>{{end}}{{end}}</td>
</tr>
{{else}}<tr><td colspan="9">No tenants yet: connect a partner and run a discovery.</td></tr>{{end}}
</tbody></table>
</main></body></html>`))

// tenantsPage lists the operator's partner's tenants with their consent
// and sync state, the last error with its fix, and a consent button for
// tenants that need one.
func (s *Server) tenantsPage(w http.ResponseWriter, r *http.Request) {
	op, ok := s.operator(w, r)
	if !ok {
		return
	}
	rows, err := s.Control.Tenants(r.Context(), op.PartnerID)
	if err != nil {
		s.internal(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := tenantsTmpl.Execute(w, struct {
		Operator control.Operator
		Rows     []control.TenantRow
	}{op, rows}); err != nil {
		s.Log.Error("rendering tenants page", "error", err)
	}
}
