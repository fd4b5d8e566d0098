package web

import (
	"cmp"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/control"
)

const (
	// maxBody bounds request bodies: the forms carry ids, a token and at
	// most a customer's site mappings.
	maxBody = 64 << 10
	// MaxHeaderBytes bounds the request line and headers (the server's setting).
	MaxHeaderBytes = 16 << 10

	sessionCookie = "cspsync_session"
	signInCookie  = "cspsync_sign_in"
	// returnCookie holds the page a sign-in returns to, beside the pending
	// sign-in and as short-lived.
	returnCookie = "cspsync_return"
	signInPath   = "/auth/operator/login"
)

// contentSecurityPolicy allows the one style sheet and the one script
// (served from here, no inline script), requests back to this origin only,
// and no frames around the pages. form-action is left out on purpose:
// it also governs the redirect to Microsoft that follows the consent form,
// whose address depends on the partner; the forms post only to this origin
// and the templates escape every value.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"

// site is what the public URL (CSPSYNC_PUBLIC_URL) decides: the origin
// forms must come from, the Host values requests may name, and whether
// cookies are Secure. X-Forwarded-* headers are never read: behind a reverse
// proxy the public URL is the external origin.
type site struct {
	origin string
	hosts  map[string]bool
	secure bool
}

func newSite(publicURL, listenAddr string) (site, error) {
	u, err := url.Parse(publicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return site{}, fmt.Errorf("%s %q: give the scheme and host browsers use, without a path (for example https://cspsync.example.com)", config.EnvPublicURL, publicURL)
	}
	defaultPort := map[string]string{"http": "80", "https": "443"}[u.Scheme]
	host, port := strings.ToLower(u.Hostname()), cmp.Or(u.Port(), defaultPort)
	hostport := host // as browsers write it: without the default port
	if strings.Contains(host, ":") {
		hostport = "[" + host + "]"
	}
	if port != defaultPort {
		hostport = net.JoinHostPort(host, port)
	}
	s := site{origin: u.Scheme + "://" + hostport, secure: u.Scheme == "https",
		hosts: map[string]bool{hostport: true, net.JoinHostPort(host, port): true}}
	// The listen address, unless it is all interfaces: a reverse proxy that
	// names its upstream, or someone on the machine itself.
	if h, p, err := net.SplitHostPort(listenAddr); err == nil && h != "" && !net.ParseIP(h).IsUnspecified() {
		s.hosts[net.JoinHostPort(strings.ToLower(h), p)] = true
	}
	return s, nil
}

// guard wraps every route: security headers, the Host check against DNS
// rebinding, HEAD answered without running any handler, and a body limit.
func (s site) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		// same-origin, not no-referrer: with no-referrer browsers send
		// "Origin: null" on the pages' own form posts, which the Origin
		// check needs; nothing is sent to other sites either way.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		// Health probes come from inside a container or the machine and
		// name no public host; the answer holds nothing.
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		if !s.hosts[strings.ToLower(r.Host)] {
			http.Error(w, fmt.Sprintf("This cspsync worker answers for %s only (CSPSYNC_PUBLIC_URL), not for host %q. Open %[1]s, or set CSPSYNC_PUBLIC_URL to the address browsers use.",
				s.origin, r.Host), http.StatusMisdirectedRequest)
			return
		}
		if r.Method == http.MethodHead && !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Allow", "GET, POST")
			http.Error(w, "HEAD is not served here: use GET.", http.StatusMethodNotAllowed)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

// sameOrigin is true when a request was sent by one of the site's pages:
// its Origin (or, without one, its Referer) is the public URL's origin.
func (s site) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		ref, err := url.Parse(r.Header.Get("Referer"))
		if err != nil || ref.Host == "" {
			return false
		}
		origin = ref.Scheme + "://" + ref.Host
	}
	return strings.EqualFold(origin, s.origin)
}

// cookie names a cookie; over https with the __Host- prefix, which binds it
// to this host, path / and Secure.
func (s *Server) cookie(name string) string {
	if s.site.secure {
		return "__Host-" + name
	}
	return name
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, ttl time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: s.cookie(name), Value: value, Path: "/", MaxAge: int(ttl.Seconds()),
		Secure: s.site.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func (s *Server) clearCookie(w http.ResponseWriter, name string) {
	s.setCookie(w, name, "", -time.Second)
}

func (s *Server) cookieValue(r *http.Request, name string) string {
	if c, err := r.Cookie(s.cookie(name)); err == nil {
		return c.Value
	}
	return ""
}

// operator returns the signed-in operator. Without one, a page request is
// sent to sign in and anything else is refused.
func (s *Server) operator(w http.ResponseWriter, r *http.Request) (control.Operator, bool) {
	return s.operatorReturning(w, r, r.URL.RequestURI())
}

// operatorReturning is operator with the page a sign-in returns to named:
// a fragment's is the page that embeds it, never the bare fragment.
func (s *Server) operatorReturning(w http.ResponseWriter, r *http.Request, back string) (control.Operator, bool) {
	op, err := s.Control.Operator(r.Context(), s.cookieValue(r, sessionCookie))
	switch {
	case err == nil:
		return op, true
	case !errors.Is(err, control.ErrNoSession):
		s.internal(w, err)
	case r.Method == http.MethodGet:
		http.Redirect(w, r, signInURL(back), http.StatusSeeOther)
	default:
		render(w, http.StatusForbidden, page{Title: "Sign in first", Problem: "Only a signed-in operator may do this.",
			Fix: "Sign in, then use the buttons on the tenants page.", SignIn: true})
	}
	return op, false
}

// form admits a state-changing request: a signed-in operator, posting from
// one of the site's pages (Origin), with the session's CSRF token.
func (s *Server) form(w http.ResponseWriter, r *http.Request) (control.Operator, bool) {
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			render(w, http.StatusRequestEntityTooLarge, page{Title: "Request too large", Problem: fmt.Sprintf("The form is larger than %d bytes.", maxBody)})
		} else {
			render(w, http.StatusBadRequest, page{Title: "Request not accepted", Problem: err.Error()})
		}
		return control.Operator{}, false
	}
	op, ok := s.operator(w, r)
	if !ok {
		return op, false
	}
	if !s.site.sameOrigin(r) {
		render(w, http.StatusForbidden, page{Title: "Request not accepted",
			Problem: "The request was not sent from a cspsync page (its Origin is not " + s.site.origin + ").",
			Fix:     "Use the buttons on the tenants page. Behind a reverse proxy, CSPSYNC_PUBLIC_URL must be the address browsers use.", Back: true})
		return op, false
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(op.CSRF)) != 1 {
		render(w, http.StatusForbidden, page{Title: "Request not accepted",
			Problem: "The form does not carry this session's token: it comes from an older session or from another site.",
			Fix:     "Reload the tenants page and try again.", Back: true})
		return op, false
	}
	return op, true
}

// maxReturnPath bounds the page a sign-in returns to.
const maxReturnPath = 2048

// signInURL is the sign-in page that returns to next once signed in.
func signInURL(next string) string {
	if next = returnPath(next); next == "" {
		return signInPath
	}
	return signInPath + "?" + url.Values{"next": {next}}.Encode()
}

// returnPath is next when a sign-in may return to it: a path of this site
// ("/customers/7?uq=ann"), never anything that leaves it. A scheme, a host,
// "//host" and "/\host" (which browsers read as "//host"), control
// characters, the sign-in's own pages and "/" itself give "" (the overview).
// The fragment is dropped: browsers never send one.
func returnPath(next string) string {
	next, _, _ = strings.Cut(next, "#")
	if len(next) > maxReturnPath || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") || next == "/" {
		return ""
	}
	for _, c := range next {
		if c < 0x20 || c == 0x7f {
			return ""
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || strings.HasPrefix(u.Path, "/auth/") {
		return ""
	}
	return next
}
