package testenv

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// EnvChromium names the Chromium binary the browser tests run; by default
// Debian's /usr/bin/chromium.
const EnvChromium = "CSPSYNC_CHROMIUM"

const defaultChromium = "/usr/bin/chromium"

// Browser starts headless Chromium for one test and returns a chromedp context; closed at test end.
//
// The browser trusts the CA certificate(s) in the PEM file caFile (the
// simulator's: Stack.Sim.CAFile()) on top of its usual roots; caFile ""
// adds none. The browser is already running when Browser returns, so callers
// may derive timeouts from the context without the timeout killing the
// browser. chromedp v0.2x has a generic API: Do runs steps, Run returns a
// value, and a plain string selector is a search (XPath, CSS or text) while
// chromedp.CSS("...") is a CSS selector:
//
//	ctx := testenv.Browser(t, s.Sim.CAFile())
//	ctx, cancel := context.WithTimeout(ctx, time.Minute)
//	defer cancel()
//	err := chromedp.Do(ctx,
//		chromedp.Navigate("http://localhost:8080/"),
//		chromedp.Click(`//a[normalize-space()="Connect"]`),
//		chromedp.SendKeys(chromedp.CSS(`input[name="login"]`), "admin@contoso.example"),
//		chromedp.SendKeys(`//input[@id=//label[normalize-space()="Password"]/@for]`, "secret"),
//		chromedp.Click(`//button[normalize-space()="Sign in"]`),
//		chromedp.WaitVisible(`//h1[contains(., "Connected")]`),
//	)
//	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
//
// If the test fails, the page the browser was on (URL and text) is logged.
//
// How the CA is trusted: Chromium on Linux takes locally added trust anchors
// from the user's NSS database, $HOME/.pki/nssdb. Browser points HOME at a
// fresh directory for this browser only and adds the CA there with certutil
// (Debian package libnss3-tools), so certificate verification stays fully on:
// a certificate that does not chain to that CA, or names another host, is
// still refused. The alternatives are worse: --ignore-certificate-errors
// turns verification off for every host, and
// --ignore-certificate-errors-spki-list skips verification for whichever
// certificate carries a pinned key (the simulator's leaf, made anew per run)
// instead of checking the chain to the CA. If Chromium or certutil is missing
// the test fails, naming the apt-get install that brings it (.ci/run installs
// both).
func Browser(t testing.TB, caFile string) context.Context {
	t.Helper()
	bin := os.Getenv(EnvChromium)
	if bin == "" {
		bin = defaultChromium
	}
	if _, err := exec.LookPath(bin); err != nil {
		t.Fatalf("headless Chromium not found at %s (%v): install Debian's browser with "+
			"`apt-get update && apt-get install -y chromium libnss3-tools` (.ci/run does), or set %s",
			bin, err, EnvChromium)
	}

	home, err := os.MkdirTemp("", "cspsync-browser-home-")
	if err != nil {
		t.Fatalf("browser home: %v", err)
	}
	t.Cleanup(func() { removeAllRetry(t, home) })
	if caFile != "" {
		trustCA(t, home, caFile)
	}

	out := &lockedBuffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.Env("HOME="+home),
		chromedp.NoSandbox, // we run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		// The machine has no network: keep Chromium from phoning home, else
		// its connections get refused and slow things down.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1280, 1024),
		chromedp.CombinedOutput(out),
	)
	// chromedp gives each allocation a fresh --user-data-dir and removes it.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
	})
	// Start the browser now, on a context without deadline: the first Run
	// ties the browser's life to its context.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v\nbrowser output:\n%s", bin, err, tail(out.String(), 4000))
	}
	t.Cleanup(func() { // runs before the browser closes
		if t.Failed() {
			logPage(t, ctx)
		}
	})
	return ctx
}

// trustCA adds the CA certificates of caFile to an NSS database under home.
func trustCA(t testing.TB, home, caFile string) {
	t.Helper()
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		t.Fatalf("certutil not found (%v): install it with "+
			"`apt-get update && apt-get install -y libnss3-tools` (.ci/run does)", err)
	}
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatalf("reading CA file: %v", err)
	}
	db := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatalf("NSS database: %v", err)
	}
	run := func(args ...string) {
		cmd := exec.Command(certutil, append([]string{"-d", "sql:" + db}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("certutil %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("-N", "--empty-password")
	// certutil -A reads one certificate: add each one of a bundle.
	n := 0
	for rest := pemData; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		n++
		f := filepath.Join(home, "ca.pem")
		if err := os.WriteFile(f, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatalf("CA file: %v", err)
		}
		run("-A", "-t", "C,,", "-n", "cspsync-test-ca-"+itoa(n), "-i", f)
	}
	if n == 0 {
		t.Fatalf("no CERTIFICATE in %s", caFile)
	}
}

// logPage logs where the browser is, for a failed test.
func logPage(t testing.TB, ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Logf("browser: cannot read the page: %v", err)
		return
	}
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		t.Logf("browser was at %s; cannot read its text: %v", url, err)
		return
	}
	t.Logf("browser was at %s; page text:\n%s", url, tail(text, 4000))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// removeAllRetry removes dir; a browser process exiting late may still write
// into it for a moment.
func removeAllRetry(t testing.TB, dir string) {
	var err error
	for range 20 {
		if err = os.RemoveAll(dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("removing %s: %v", dir, err)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
