package web

import (
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/cspsync/cspsync/internal/control"
)

type tenantRow struct {
	control.TenantRow
	ConsentURL string
}

var tenantsTmpl = template.Must(template.New("tenants").Funcs(template.FuncMap{
	"when": func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tenants — cspsync</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;line-height:1.4}
table{border-collapse:collapse;width:100%}td.when{white-space:nowrap}th,td{border-bottom:1px solid #ccc;padding:.4rem;text-align:left;vertical-align:top}
.tone-ok{color:#1b5e20}.tone-waiting{color:#8a4b00}.tone-attention{color:#b00020}
a.button{display:inline-block;padding:.3rem .6rem;border:1px solid #0b57d0;border-radius:4px;color:#0b57d0;text-decoration:none}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}</style>
</head><body><main>
<h1>Customer tenants</h1>
<p>{{len .}} tenants. GDAP tenants need their own admin consent before cspsync can read them: a Global Administrator of that tenant follows its link.</p>
<table>
<caption>Tenants with relationship, consent, sync state and last error</caption>
<thead><tr><th scope="col">Customer</th><th scope="col">Tenant id</th><th scope="col">Relationship</th><th scope="col">Consent</th>
<th scope="col">State</th><th scope="col">Last sync</th><th scope="col">Last error</th><th scope="col">Action</th></tr></thead>
<tbody>
{{range .}}<tr data-tenant="{{.TenantID}}">
<th scope="row">{{.Name}}</th><td><code>{{.TenantID}}</code></td><td>{{.Relationship}}</td><td>{{.ConsentState}}</td>
<td class="tone-{{.SyncState.Tone}}">{{.SyncState}}{{with .SyncReason}}<br><small>{{.}}</small>{{end}}</td>
<td class="when">{{when .LastSyncAt}}</td>
<td>{{with .Error}}<strong>{{.Code}}</strong>: {{.Remediation}}{{else}}—{{end}}</td>
<td>{{if .ConsentState.Missing}}<a class="button" href="{{.ConsentURL}}">Grant admin consent<span class="visually-hidden"> for {{.Name}}</span></a>{{end}}</td>
</tr>
{{else}}<tr><td colspan="8">No tenants yet: connect a partner and run a discovery.</td></tr>{{end}}
</tbody></table>
</main></body></html>`))

// tenantsPage lists every tenant with its consent and sync state, the last
// error with its fix, and a consent link for tenants that need one.
func (s *Server) tenantsPage(w http.ResponseWriter, r *http.Request) {
	tenants, err := s.Control.Tenants(r.Context())
	if err != nil {
		s.internal(w, err)
		return
	}
	rows := make([]tenantRow, 0, len(tenants))
	for _, t := range tenants {
		rows = append(rows, tenantRow{TenantRow: t, ConsentURL: "/consent/start?" + url.Values{"tenant": {t.TenantID}}.Encode()})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := tenantsTmpl.Execute(w, rows); err != nil {
		s.Log.Error("rendering tenants page", "error", err)
	}
}
