package web

import (
	"bytes"
	"cmp"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cspsync/cspsync/internal/control"
)

//go:embed templates/*.html
var templateFiles embed.FS

// pages holds each console page, parsed with the layout.
var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"iso": func(t any) string { return at(t).Format(time.RFC3339) },
		"abs": func(t any) string { return at(t).Format("2006-01-02 15:04:05 UTC") },
		"inc": func(i int) int { return i + 1 },
		"rate": func(users int, since time.Time) string {
			if s := time.Since(since).Seconds(); s >= 1 && users > 0 {
				return strconv.FormatFloat(float64(users)/s, 'f', 1, 64)
			}
			return ""
		},
	}
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html"))
	out := map[string]*template.Template{}
	for _, name := range []string{"overview", "customers", "customer", "mappings", "errors", "check", "log", "licences", "settings"} {
		t := template.Must(base.Clone())
		out[name] = template.Must(t.ParseFS(templateFiles, "templates/"+name+".html"))
	}
	// The customer page's pieces the scripts fetch alone.
	out["progress"], out["preview"] = base, out["mappings"]
	return out
}()

// at is the time a template was given, in UTC; zero for none.
func at(t any) time.Time {
	switch t := t.(type) {
	case *time.Time:
		if t != nil {
			return t.UTC()
		}
	case time.Time:
		return t.UTC()
	}
	return time.Time{}
}

type navLink struct {
	Href, Label string
	Current     bool
}

var nav = []navLink{{"/", "Overview", false}, {"/customers", "Customers", false}, {"/licences", "Licences", false},
	{"/errors", "Errors", false}, {"/check", "Check", false}, {"/log", "Inbound log", false}, {"/settings", "Field mappings and settings", false},
	{"/tenants", "Consent", false}}

// consolePage is what the layout renders around a page's body.
type consolePage struct {
	Title, Flash, Problem string
	Op                    control.Operator
	Nav                   []navLink
	Data                  any
	Status                int // 200 unless set
}

// show renders a console page; section is the nav entry it belongs to.
func (s *Server) show(w http.ResponseWriter, r *http.Request, name, section string, p consolePage) {
	for _, n := range nav {
		n.Current = n.Href == section
		p.Nav = append(p.Nav, n)
	}
	if p.Flash == "" {
		p.Flash = flashes[r.URL.Query().Get("done")]
	}
	s.execute(w, p.Status, pages[name], "layout", p)
}

func (s *Server) execute(w http.ResponseWriter, status int, t *template.Template, name string, data any) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		s.internal(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(cmp.Or(status, http.StatusOK))
	_, _ = w.Write(b.Bytes())
}

// flashes are what an action's redirect (?done=) tells the operator.
var flashes = map[string]string{
	"relationship": "Relationship changed; the tenant's workflow follows it at once.",
	"sync":         "Sync requested: the tenant's workflow starts a cycle now.",
	"reset-delta":  "Delta reset: the tenant's next users round reads every user again.",
	"mappings":     "Site mappings saved; the next users round applies them.",
	"retry":        "Retry requested: the error stays listed until the retry succeeds.",
	"field":        "Field mapping saved; the next users round applies it.",
	"licence":      "Licence change done and verified: Microsoft and the PSA agree (`cspsync licences changes` lists it).",
}

// consoleHandler serves one console request for the signed-in operator
// op. An error it returns is one the operator cannot fix (the database,
// Temporal): the internal-error page. Problems the operator can fix it
// renders itself, on its page.
type consoleHandler func(w http.ResponseWriter, r *http.Request, op control.Operator) error

// page admits a console page: a signed-in operator, or the way to sign in.
func (s *Server) page(h consoleHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if op, ok := s.operator(w, r); ok {
			s.serve(w, r, op, h)
		}
	}
}

// fragment serves a piece of the page parent names (the script refreshes it
// in place): without a session it sends the browser to sign in and return
// to that page, not to the bare piece.
func (s *Server) fragment(parent func(r *http.Request) string, h consoleHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if op, ok := s.operatorReturning(w, r, parent(r)); ok {
			s.serve(w, r, op, h)
		}
	}
}

// action admits a console form: parsed and bounded, from a signed-in
// operator, sent by one of the site's pages, with the session's CSRF token.
func (s *Server) action(h consoleHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if op, ok := s.form(w, r); ok {
			s.serve(w, r, op, h)
		}
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, op control.Operator, h consoleHandler) {
	if err := h(w, r, op); err != nil {
		s.internal(w, err)
	}
}

// withCustomer serves a request about the customer the path's {id} names:
// one of the operator's, or the not-found page.
func (s *Server) withCustomer(h func(w http.ResponseWriter, r *http.Request, op control.Operator, d control.CustomerDetail) error) consoleHandler {
	return func(w http.ResponseWriter, r *http.Request, op control.Operator) error {
		d, err := s.Control.CustomerDetail(r.Context(), op.PartnerID, r.PathValue("id"), "", "")
		if err != nil {
			s.notFound(w, r, op, err)
			return nil
		}
		return h(w, r, op, d)
	}
}

func (s *Server) routeConsole(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", s.page(s.overviewPage))
	mux.HandleFunc("GET /tenants", s.tenantsPage)
	mux.HandleFunc("GET /customers", s.page(s.customersPage))
	mux.HandleFunc("GET /customers/{id}", s.page(s.customerPage))
	mux.HandleFunc("GET /customers/{id}/progress", s.fragment(customerPage, s.progressFragment))
	mux.HandleFunc("POST /customers/{id}/{action}", s.action(s.withCustomer(s.customerAction)))
	mux.HandleFunc("GET /customers/{id}/mappings", s.page(s.withCustomer(s.mappingsPage)))
	mux.HandleFunc("POST /customers/{id}/mappings", s.action(s.withCustomer(s.mappingsPost)))
	mux.HandleFunc("GET /errors", s.page(s.errorsPage))
	mux.HandleFunc("POST /errors/{id}/retry", s.action(s.retryError))
	mux.HandleFunc("GET /check", s.page(s.checkPage))
	mux.HandleFunc("GET /log", s.page(s.logPage))
	mux.HandleFunc("GET /licences", s.page(s.licencesPage))
	mux.HandleFunc("GET /settings", s.page(s.settingsPage))
	mux.HandleFunc("POST /settings/field-mapping", s.action(s.fieldMappingPost))
	mux.HandleFunc("GET /static/console.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "static/console.js")
	})
}

func (s *Server) overviewPage(w http.ResponseWriter, r *http.Request, op control.Operator) error {
	all, err := s.Control.Status(r.Context())
	if err != nil {
		return err
	}
	i := slices.IndexFunc(all, func(p control.PartnerStatus) bool { return p.Partner == op.PartnerID })
	if i < 0 {
		s.internal(w, errors.New("partner "+op.PartnerID+" is no longer connected"))
		return nil
	}
	s.show(w, r, "overview", "/", consolePage{Title: "Overview of partner " + op.PartnerID, Op: op, Data: all[i]})
	return nil
}

func (s *Server) customersPage(w http.ResponseWriter, r *http.Request, op control.Operator) error {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("page"))
	per, _ := strconv.Atoi(q.Get("per_page"))
	list, err := s.Control.CustomerList(r.Context(), op.PartnerID, control.CustomerQuery{Search: q.Get("q"), State: q.Get("state"),
		Relationship: q.Get("relationship"), TopLevel: q.Get("top_level"), HasErrors: q.Get("errors") != "", Page: page, PerPage: per})
	if err != nil {
		return err
	}
	data := struct {
		control.CustomerList
		Prev, Next string
	}{CustomerList: list}
	link := func(p int) string {
		v := url.Values{}
		for k := range q {
			v.Set(k, q.Get(k))
		}
		v.Set("page", strconv.Itoa(p))
		return "/customers?" + v.Encode()
	}
	if list.Page > 1 {
		data.Prev = link(list.Page - 1)
	}
	if list.Page < list.Pages {
		data.Next = link(list.Page + 1)
	}
	s.show(w, r, "customers", "/customers", consolePage{Title: "Customers", Op: op, Data: data})
	return nil
}

// customerData is the customer page's data.
type customerData struct {
	control.CustomerDetail
	WorkflowURL           string
	ConsentLink           *control.ConsentLink
	UserSearch, UserState string
	UserStates            []string
}

func (s *Server) customerPage(w http.ResponseWriter, r *http.Request, op control.Operator) error {
	s.renderCustomer(w, r, op, nil, "", 0)
	return nil
}

func (s *Server) renderCustomer(w http.ResponseWriter, r *http.Request, op control.Operator, link *control.ConsentLink, problem string, status int) {
	q := r.URL.Query()
	d, err := s.Control.CustomerDetail(r.Context(), op.PartnerID, r.PathValue("id"), q.Get("uq"), q.Get("ustate"))
	if err != nil {
		s.notFound(w, r, op, err)
		return
	}
	data := customerData{CustomerDetail: d, ConsentLink: link, UserSearch: q.Get("uq"), UserState: cmp.Or(q.Get("ustate"), "all"),
		UserStates: []string{"all", "active", "inactive", "manual"}}
	if d.WorkflowID != "" && s.TemporalUI != "" {
		data.WorkflowURL = strings.TrimRight(s.TemporalUI, "/") + "/namespaces/" + url.PathEscape(d.Namespace) + "/workflows/" + url.PathEscape(d.WorkflowID)
	}
	s.show(w, r, "customer", "/customers", consolePage{Title: d.Name, Op: op, Data: data, Problem: problem, Status: status})
}

// notFound answers for a customer the operator cannot see or named wrongly.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request, op control.Operator, err error) {
	s.show(w, r, "check", "", consolePage{Title: "Not found", Op: op, Problem: err.Error(), Status: http.StatusNotFound})
}

func customerPage(r *http.Request) string { return "/customers/" + url.PathEscape(r.PathValue("id")) }

func (s *Server) progressFragment(w http.ResponseWriter, r *http.Request, op control.Operator) error {
	d, err := s.Control.CustomerDetail(r.Context(), op.PartnerID, r.PathValue("id"), "", "")
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return nil
	}
	s.execute(w, 0, pages["progress"], "progress", d.TenantRow.Users)
	return nil
}

// customerAction carries out a customer page's buttons.
func (s *Server) customerAction(w http.ResponseWriter, r *http.Request, op control.Operator, d control.CustomerDetail) error {
	ctx := r.Context()
	action := r.PathValue("action")
	var err error
	switch action {
	case "relationship":
		_, err = s.Control.SetRelationship(ctx, d.TenantID, r.PostForm.Get("relationship"))
	case "consent-link":
		var link control.ConsentLink
		// Not shadowed: a link that cannot be made is shown on the page below.
		if link, _, err = s.Control.ConsentURL(ctx, d.TenantID); err == nil {
			s.Log.Info("consent link created", "partner", op.PartnerID, "tenant", d.TenantID, "operator", op.UPN)
			s.renderCustomer(w, r, op, &link, "", 0)
			return nil
		}
	case "sync":
		_, err = s.Control.SyncTenant(ctx, d.TenantID)
	case "reset-delta":
		_, err = s.Control.ResetDelta(ctx, op.PartnerID, d.TenantID)
	case "licence":
		// The change's workflow judges it (managed customer, free seat, usage location, …)
		// and its refusal, with the fix, comes back as the page's problem.
		_, err = s.Control.ChangeCustomerLicence(ctx, op.PartnerID, r.PathValue("id"), op.UPN,
			r.PostForm.Get("user"), r.PostForm.Get("sku"), r.PostForm.Get("change"))
	default:
		http.NotFound(w, r)
		return nil
	}
	if err != nil {
		s.renderCustomer(w, r, op, nil, err.Error(), http.StatusBadRequest)
		return nil
	}
	s.Log.Info("console action", "action", action, "partner", op.PartnerID, "tenant", d.TenantID, "operator", op.UPN)
	http.Redirect(w, r, "/customers/"+strconv.FormatInt(d.ID, 10)+"?done="+action, http.StatusSeeOther)
	return nil
}

// mappingsData is the site-mapping editor's data.
type mappingsData struct {
	Customer control.Customer
	Sites    []control.Site
	Text     string
	Preview  *control.MappingPreview
}

func (s *Server) mappingsPage(w http.ResponseWriter, r *http.Request, op control.Operator, d control.CustomerDetail) error {
	var lines []string
	for _, m := range d.Mappings {
		lines = append(lines, m.Filter+" => "+m.Site)
	}
	s.show(w, r, "mappings", "/customers", consolePage{Title: "Site mappings of " + d.Name, Op: op,
		Data: mappingsData{Customer: d.Customer, Sites: d.Sites, Text: strings.Join(lines, "\n")}})
	return nil
}

// parseMappings reads the editor's text: one 'FILTER => SITE' a line.
func parseMappings(text string) ([]control.SiteMapping, error) {
	var ms []control.SiteMapping
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := control.ParseSiteMapping(len(ms)+1, line)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// mappingsPost previews or saves the editor's mappings. The script asks
// for the preview alone (fragment=1) while the operator types; without
// script the Preview button renders the whole page.
func (s *Server) mappingsPost(w http.ResponseWriter, r *http.Request, op control.Operator, d control.CustomerDetail) error {
	ctx := r.Context()
	text := r.PostForm.Get("mappings")
	data := mappingsData{Customer: d.Customer, Sites: d.Sites, Text: text}
	page := consolePage{Title: "Site mappings of " + d.Name, Op: op}
	ms, err := parseMappings(text)
	if err == nil && r.PostForm.Get("action") == "save" {
		if err = s.Control.SetSiteMappings(ctx, strconv.FormatInt(d.ID, 10), ms); err == nil {
			s.Log.Info("site mappings saved", "partner", op.PartnerID, "customer", d.ID, "operator", op.UPN, "mappings", len(ms))
			http.Redirect(w, r, fmt.Sprintf("/customers/%d?done=mappings", d.ID), http.StatusSeeOther)
			return nil
		}
	}
	if err == nil {
		var p control.MappingPreview
		if p, err = s.Control.PreviewSiteMappings(ctx, op.PartnerID, strconv.FormatInt(d.ID, 10), ms); err == nil {
			data.Preview = &p
		}
	}
	if err != nil {
		page.Problem, page.Status = err.Error(), http.StatusBadRequest
	}
	if r.PostForm.Get("fragment") != "" {
		if err != nil {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = fmt.Fprintf(w, `<div class="problem" id="problems"><p class="pre">%s</p></div>`, template.HTMLEscapeString(err.Error()))
			return nil
		}
		s.execute(w, 0, pages["preview"], "preview", data)
		return nil
	}
	page.Data = data
	s.show(w, r, "mappings", "/customers", page)
	return nil
}

func (s *Server) errorsPage(w http.ResponseWriter, r *http.Request, op control.Operator) error {
	groups, err := s.Control.ErrorGroups(r.Context(), op.PartnerID)
	if err != nil {
		return err
	}
	s.show(w, r, "errors", "/errors", consolePage{Title: "Open errors", Op: op, Data: groups})
	return nil
}

func (s *Server) retryError(w http.ResponseWriter, r *http.Request, op control.Operator) error {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	e, err := s.Control.RetryError(r.Context(), op.PartnerID, id)
	if err != nil {
		s.show(w, r, "errors", "/errors", consolePage{Title: "Open errors", Op: op, Problem: err.Error(), Status: http.StatusBadRequest})
		return nil
	}
	s.Log.Info("error retried", "partner", op.PartnerID, "tenant", e.TenantID, "code", e.Code, "operator", op.UPN)
	http.Redirect(w, r, "/errors?done=retry", http.StatusSeeOther)
	return nil
}

func (s *Server) checkPage(w http.ResponseWriter, r *http.Request, op control.Operator) error {
	var items []control.CheckItem
	if r.URL.Query().Get("run") != "" {
		items = s.Control.Check(r.Context())
	}
	s.show(w, r, "check", "/check", consolePage{Title: "Configuration check", Op: op, Data: items})
	return nil
}

func (s *Server) logPage(w http.ResponseWriter, r *http.Request, op control.Operator) error {
	q := r.URL.Query()
	tenants, err := s.Control.Customers(r.Context(), op.PartnerID, true)
	if err != nil {
		return err
	}
	data := struct {
		Tenants      []control.Customer
		Results      []string
		Query        control.LogQuery
		Since, Until string
		Rows         []control.LogEntry
	}{Tenants: tenants, Results: control.LogResults(), Since: q.Get("since"), Until: q.Get("until"),
		Query: control.LogQuery{TenantID: q.Get("tenant"), User: q.Get("user"), Result: q.Get("result"), Limit: 200}}
	page := consolePage{Title: "Inbound log", Op: op}
	for _, f := range []struct {
		text string
		to   *time.Time
	}{{data.Since, &data.Query.Since}, {data.Until, &data.Query.Until}} {
		if f.text == "" {
			continue
		}
		if *f.to, err = time.Parse("2006-01-02T15:04", f.text); err != nil {
			page.Problem = fmt.Sprintf("%q is not a time: give it as 2026-01-31T14:00 (UTC)", f.text)
		}
	}
	if data.Query.TenantID != "" && page.Problem == "" {
		if data.Rows, err = s.Control.FilteredInboundLog(r.Context(), op.PartnerID, data.Query); err != nil {
			page.Problem = err.Error()
		}
	}
	page.Data = data
	s.show(w, r, "log", "/log", page)
	return nil
}

func (s *Server) licencesPage(w http.ResponseWriter, r *http.Request, op control.Operator) error {
	rep, err := s.Control.Licences(r.Context(), op.PartnerID)
	if err != nil {
		return err
	}
	data := struct {
		Report     control.LicenceReport
		Chart      template.HTML
		MostUnused []control.CustomerSeats
		Customer   string
		History    []control.LicenceEvent
	}{Report: rep, Chart: seatsChart(rep)}
	data.MostUnused = slices.Clone(rep.Customers)
	slices.SortStableFunc(data.MostUnused, func(a, b control.CustomerSeats) int { return cmp.Compare(b.Total.Unused, a.Total.Unused) })
	data.MostUnused = slices.DeleteFunc(data.MostUnused[:min(10, len(data.MostUnused))], func(c control.CustomerSeats) bool { return c.Total.Unused == 0 })
	page := consolePage{Title: "Licences", Op: op}
	if id := r.URL.Query().Get("customer"); id != "" {
		d, err := s.Control.CustomerDetail(r.Context(), op.PartnerID, id, "", "")
		if err != nil {
			page.Problem = err.Error()
		} else {
			data.Customer, data.History = d.Name, d.History
		}
	}
	page.Data = data
	s.show(w, r, "licences", "/licences", page)
	return nil
}

// maxChartCustomers bounds the chart's bars: the customers with the most paid seats.
const maxChartCustomers = 25

// seatsChart draws paid, assigned and unused seats per customer as SVG
// bars, labelled in text so that colour is never the only cue.
func seatsChart(rep control.LicenceReport) template.HTML {
	cs := slices.Clone(rep.Customers)
	slices.SortStableFunc(cs, func(a, b control.CustomerSeats) int { return cmp.Compare(b.Total.Paid, a.Total.Paid) })
	cs = cs[:min(maxChartCustomers, len(cs))]
	if len(cs) == 0 {
		return "<p>No licence imported yet.</p>"
	}
	top := 1
	for _, c := range cs {
		top = max(top, c.Total.Paid, c.Total.Assigned)
	}
	const labelW, barW, row = 220, 420, 54
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" role="img" aria-labelledby="chart-title" width="%d" height="%d" viewBox="0 0 %[1]d %[2]d" xmlns="http://www.w3.org/2000/svg">`,
		labelW+barW+140, row*len(cs)+10)
	b.WriteString(`<title id="chart-title">Paid, assigned and unused seats per customer (the customers with the most paid seats)</title>`)
	for i, c := range cs {
		y := i*row + 5
		w := func(n int) int { return n * barW / top }
		fmt.Fprintf(&b, `<text x="0" y="%d" class="label">%s</text>`, y+28, template.HTMLEscapeString(c.Customer))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="14" class="paid"/><text x="%d" y="%d" class="value">paid %d</text>`,
			labelW, y, w(c.Total.Paid), labelW+w(c.Total.Paid)+4, y+12, c.Total.Paid)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="14" class="assigned"/><text x="%d" y="%d" class="value">assigned %d</text>`,
			labelW, y+16, w(c.Total.Assigned), labelW+w(c.Total.Assigned)+4, y+28, c.Total.Assigned)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="14" class="unused"/><text x="%d" y="%d" class="value">unused %d</text>`,
			labelW, y+32, w(c.Total.Unused), labelW+w(c.Total.Unused)+4, y+44, c.Total.Unused)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every text in it is escaped above
}

func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request, op control.Operator) error {
	s.renderSettings(w, r, op, fieldForm{Customer: r.URL.Query().Get("customer")}, "", 0)
	return nil
}

// fieldForm is the field-mapping form as the operator filled it in, and
// the preview of it when asked for.
type fieldForm struct {
	Customer, PreviewCustomer, Field, Expression string
	Preview                                      *control.FieldPreview
}

func (s *Server) renderSettings(w http.ResponseWriter, r *http.Request, op control.Operator, form fieldForm, problem string, status int) {
	ctx := r.Context()
	data := struct {
		Mappings                 []control.FieldMapping
		Settings                 control.UserSettings
		CustomerID, CustomerName string
		Form                     fieldForm
	}{CustomerID: form.Customer, Form: form}
	page := consolePage{Title: "Field mappings and settings", Op: op, Problem: problem, Status: status}
	var err error
	if form.Customer != "" {
		d, derr := s.Control.CustomerDetail(ctx, op.PartnerID, form.Customer, "", "")
		if derr != nil {
			s.notFound(w, r, op, derr)
			return
		}
		data.CustomerName = d.Name
	}
	if data.Mappings, err = s.Control.FieldMappings(ctx, op.PartnerID, form.Customer); err == nil {
		data.Settings, err = s.Control.UserSettings(ctx, op.PartnerID)
	}
	if err != nil {
		s.internal(w, err)
		return
	}
	page.Data = data
	s.show(w, r, "settings", "/settings", page)
}

// fieldMappingPost previews (action=preview) or saves a field mapping.
func (s *Server) fieldMappingPost(w http.ResponseWriter, r *http.Request, op control.Operator) error {
	form := fieldForm{Customer: r.PostForm.Get("customer"), PreviewCustomer: r.PostForm.Get("preview_customer"),
		Field: r.PostForm.Get("field"), Expression: r.PostForm.Get("expression")}
	if form.Customer != "" {
		if _, err := s.Control.CustomerDetail(r.Context(), op.PartnerID, form.Customer, "", ""); err != nil {
			s.notFound(w, r, op, err)
			return nil
		}
	}
	if r.PostForm.Get("action") == "preview" {
		p, err := s.Control.PreviewFieldMapping(r.Context(), op.PartnerID, form.Customer, form.PreviewCustomer, form.Field, form.Expression)
		if err != nil {
			s.renderSettings(w, r, op, form, err.Error(), http.StatusBadRequest)
			return nil
		}
		form.Preview = &p
		s.renderSettings(w, r, op, form, "", 0)
		return nil
	}
	if err := s.Control.SetFieldMapping(r.Context(), op.PartnerID, form.Customer, form.Field, form.Expression); err != nil {
		s.renderSettings(w, r, op, form, err.Error(), http.StatusBadRequest)
		return nil
	}
	target := "/settings?done=field"
	if form.Customer != "" {
		target += "&customer=" + url.QueryEscape(form.Customer)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}
