package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// RecordedDelta is a sequence of users/delta exchanges as Microsoft documents or a real tenant
// answered them, for serving one tenant's change tracking verbatim in front of the simulator
// (ServeRecordedDelta). Everything else of the tenant (tokens, users read by id, sign-ins)
// stays the simulator's.
type RecordedDelta struct {
	// Source names where the exchanges come from (a documentation page, a capture).
	Source string `json:"source"`
	// Note says anything a reader must know about how the exchanges were put together.
	Note      string             `json:"note,omitempty"`
	Exchanges []RecordedExchange `json:"exchanges"`
}

// RecordedExchange is one request and the answer to it. Request is "GET <url>": a request with
// a $skiptoken or $deltatoken must carry that token; one with neither stands for a round's
// initial request, whatever its $select (a client selects its own properties).
type RecordedExchange struct {
	Request  string          `json:"request"`
	Response json.RawMessage `json:"response"`
}

// graphOrigin is the host recorded links name; served, they name the simulator instead, so
// that a client follows them to it.
const graphOrigin = "https://graph.microsoft.com"

// LoadRecordedDelta reads a RecordedDelta from a JSON file.
func LoadRecordedDelta(path string) (RecordedDelta, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return RecordedDelta{}, fmt.Errorf("sim: recorded delta: %w", err)
	}
	var r RecordedDelta
	if err := json.Unmarshal(b, &r); err != nil {
		return RecordedDelta{}, fmt.Errorf("sim: recorded delta %s: %w", path, err)
	}
	for i, x := range r.Exchanges {
		if _, _, err := x.token(); err != nil {
			return RecordedDelta{}, fmt.Errorf("sim: recorded delta %s: exchange %d: %w", path, i+1, err)
		}
		if !json.Valid(x.Response) {
			return RecordedDelta{}, fmt.Errorf("sim: recorded delta %s: exchange %d: the response is not JSON", path, i+1)
		}
	}
	return r, nil
}

// token returns the state token the request carries ("" for an initial request) and its name.
func (x RecordedExchange) token() (string, string, error) {
	method, raw, ok := strings.Cut(x.Request, " ")
	if !ok || method != http.MethodGet {
		return "", "", fmt.Errorf("request %q is not \"GET <url>\"", x.Request)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("request %q: %w", x.Request, err)
	}
	for _, name := range []string{"$skiptoken", "$deltatoken"} {
		if v := u.Query().Get(name); v != "" {
			return v, name, nil
		}
	}
	return "", "", nil
}

// recordedDelta is a RecordedDelta being served; next is the exchange the next request gets.
type recordedDelta struct {
	RecordedDelta
	next int
}

// ServeRecordedDelta answers the tenant's users/delta requests from r's exchanges, in order,
// verbatim but for links to Graph, which name the simulator. A request that is not the one the
// next exchange expects, or one after the last, gets a 400 that says which was expected.
func (s *Server) ServeRecordedDelta(tenantID string, r RecordedDelta) error {
	if s.dir.customer(tenantID) == nil {
		return errUnknownTenant(tenantID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recorded == nil {
		s.recorded = map[string]*recordedDelta{}
	}
	s.recorded[strings.ToLower(tenantID)] = &recordedDelta{RecordedDelta: r}
	return nil
}

// serveRecorded answers a users/delta request of a tenant that has recorded exchanges, and
// reports whether it had.
func (s *Server) serveRecorded(w http.ResponseWriter, r *http.Request, o *org) bool {
	q := r.URL.Query()
	got, gotName := q.Get("$skiptoken"), "$skiptoken"
	if got == "" {
		got, gotName = q.Get("$deltatoken"), "$deltatoken"
	}
	s.mu.Lock()
	rec := s.recorded[strings.ToLower(o.ID)]
	if rec == nil {
		s.mu.Unlock()
		return false
	}
	var refusal string
	var body []byte
	switch i := rec.next; {
	case i >= len(rec.Exchanges):
		refusal = fmt.Sprintf("The recorded users/delta exchanges of tenant %s are all served (%d); no answer for %s.", o.ID, len(rec.Exchanges), r.URL.RequestURI())
	default:
		x := rec.Exchanges[i]
		if want, wantName, _ := x.token(); want != got || want != "" && wantName != gotName {
			refusal = fmt.Sprintf("Recorded exchange %d of tenant %s expects %s; got %s.", i+1, o.ID, x.Request, r.URL.RequestURI())
		} else {
			rec.next++
			body = []byte(strings.ReplaceAll(string(x.Response), graphOrigin, s.base))
		}
	}
	s.mu.Unlock()
	if refusal != "" {
		s.writeGraphError(w, http.StatusBadRequest, "BadRequest", "%s", refusal)
		return true
	}
	writeRawJSON(w, body)
	return true
}
