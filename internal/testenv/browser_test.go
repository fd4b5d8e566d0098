package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key}
}

// writePEM writes the CA certificate to a PEM file and returns its path.
func (ca *testCA) writePEM(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600))
	return f
}

// leaf issues a server certificate for 127.0.0.1 and localhost.
func (ca *testCA) leaf(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(0, 1, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key}
}

// httpsServer serves h over HTTPS with a certificate that ca issued.
func httpsServer(t *testing.T, ca *testCA, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t)}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestBrowser walks the shape of the sign-in flow: a plain-HTTP page links to
// an HTTPS sign-in form (certificate from a CA that only the test's PEM file
// trusts), the form posts over HTTPS and redirects back to a plain-HTTP
// callback on localhost.
func TestBrowser(t *testing.T) {
	start := time.Now()
	ca := newTestCA(t, "cspsync browser test CA")
	caFile := ca.writePEM(t)

	var app *httptest.Server
	signin := httpsServer(t, ca, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/signin" && r.Method == http.MethodGet:
			fmt.Fprint(w, `<!doctype html><title>Sign in</title>
<form method="post" action="/signin">
  <label for="login">Email</label> <input id="login" name="login" type="email">
  <label for="pw">Password</label> <input id="pw" name="passwd" type="password">
  <button type="submit">Sign in</button>
</form>`)
		case r.URL.Path == "/signin" && r.Method == http.MethodPost:
			if r.TLS == nil || r.PostFormValue("passwd") != "hunter2" {
				http.Error(w, "bad sign-in", http.StatusForbidden)
				return
			}
			// Back to the app on http://localhost, as the OAuth redirect does.
			u, _ := url.Parse(app.URL)
			cb := "http://localhost:" + u.Port() + "/callback?user=" + url.QueryEscape(r.PostFormValue("login"))
			http.Redirect(w, r, cb, http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	app = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			fmt.Fprintf(w, `<!doctype html><title>cspsync</title><p><a href="%s/signin">Sign in with Microsoft</a>`, signin.URL)
		case "/callback":
			fmt.Fprintf(w, `<!doctype html><title>Done</title><h1>Welcome %s</h1>`, html.EscapeString(r.URL.Query().Get("user")))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(app.Close)
	require.True(t, strings.HasPrefix(app.URL, "http://127.0.0.1:"), app.URL)

	ctx := Browser(t, caFile)
	started := time.Since(start)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(app.URL+"/"),
		// A plain string is a search: XPath, CSS or text.
		chromedp.Click(`//a[normalize-space()="Sign in with Microsoft"]`),
		chromedp.WaitVisible(chromedp.CSS(`input[name="login"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="login"]`), "admin@contoso.example"),
		// An input by its label's text.
		chromedp.SendKeys(`//input[@id=//label[normalize-space()="Password"]/@for]`, "hunter2"),
		chromedp.Click(`//button[normalize-space()="Sign in"]`),
		chromedp.WaitVisible(`//h1[starts-with(normalize-space(), "Welcome")]`),
	))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(loc, "http://localhost:"), loc)
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	require.NoError(t, err)
	require.Equal(t, "Welcome admin@contoso.example", strings.TrimSpace(body))

	// Verification is still on: a certificate from another CA is refused.
	other := httpsServer(t, newTestCA(t, "untrusted CA"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><p>should not load`)
	}))
	err = chromedp.Do(ctx, chromedp.Navigate(other.URL+"/"))
	require.Error(t, err)
	require.Contains(t, err.Error(), "ERR_CERT_AUTHORITY_INVALID")

	t.Logf("browser up in %v, whole test %v", started.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
