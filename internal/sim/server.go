package sim

import (
	"compress/gzip"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a Server.
type Options struct {
	// Addr is the listen address; empty means "127.0.0.1:0" (a free port). Use a fixed port when
	// clients keep MSAL caches across simulator restarts: MSAL keys its cache by host and port.
	Addr string
	// StateDir keeps the CA, the token signing keys and runtime state, so a restarted simulator
	// is trusted by the same ca.pem, publishes the same ID token key and accepts earlier
	// refresh, continuation and delta tokens.
	// Empty means a temporary directory removed by Close.
	StateDir string
	// AccessTokenLifetime is the access token lifetime; zero means 3599s as Entra ID typically
	// grants. MSAL treats tokens expiring within 5 minutes as expired, so a shorter lifetime
	// makes every AcquireTokenSilent refresh.
	AccessTokenLifetime time.Duration
	// Now is the clock; nil means time.Now. Tests move it to expire delta or refresh tokens.
	Now func() time.Time
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
}

// Server simulates Entra ID, Partner Center and Microsoft Graph on one HTTPS origin.
type Server struct {
	opts Options
	// assignReplyHold: see HoldAssignLicenseReplies.
	assignReplyHold time.Duration
	sc              Scenario
	stateDir        string
	ownsDir         bool // StateDir was a temporary directory created by New
	ca              certAuthority
	sign            signer
	idKey           idTokenKey
	dir             *directory
	log             *slog.Logger

	mu     sync.Mutex // guards everything below and the mutable parts of dir
	state  persistedState
	codes  map[string]*authCode
	faults map[string]Fault
	stats  Stats
	// buckets meter Graph resource units for throttling, by app and tenant.
	buckets map[string]*bucket
	// deltaResponses is the users/delta mode SetDeltaResponses forces, "" for none.
	deltaResponses string
	// recorded holds the tenants whose users/delta answers come from recorded exchanges.
	recorded map[string]*recordedDelta

	srv  *http.Server
	base string
}

// New prepares a simulator for sc; call Start to serve it.
func New(sc Scenario, opts Options) (*Server, error) {
	if err := sc.validate(); err != nil {
		return nil, fmt.Errorf("sim: invalid scenario: %w", err)
	}
	// The caller may go on editing its copy. Users, the bulk of a large scenario, are copied
	// into the directory; the rest goes through a JSON round trip.
	users := sc.Tenants
	sc.Tenants = make([]Tenant, len(users))
	for i, t := range users {
		t.Users = nil
		sc.Tenants[i] = t
	}
	sc, err := sc.clone()
	if err != nil {
		return nil, fmt.Errorf("sim: copy scenario: %w", err)
	}
	for i := range sc.Tenants {
		sc.Tenants[i].Users = users[i].Users
	}
	s := &Server{opts: opts, sc: sc, stateDir: opts.StateDir, log: opts.Logger,
		codes: map[string]*authCode{}, faults: map[string]Fault{}, stats: newStats(), buckets: map[string]*bucket{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.stateDir == "" {
		dir, err := os.MkdirTemp("", "cspsync-sim-")
		if err != nil {
			return nil, fmt.Errorf("sim: state directory: %w", err)
		}
		s.stateDir, s.ownsDir = dir, true
	} else if err := os.MkdirAll(s.stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("sim: state directory: %w", err)
	}
	if s.ca, err = loadOrCreateCA(s.stateDir); err != nil {
		return nil, s.abandon(fmt.Errorf("sim: %w", err))
	}
	key, err := loadOrCreateKey(s.stateDir)
	if err != nil {
		return nil, s.abandon(fmt.Errorf("sim: %w", err))
	}
	s.sign = signer{key}
	if s.idKey, err = loadOrCreateIDTokenKey(s.stateDir); err != nil {
		return nil, s.abandon(fmt.Errorf("sim: %w", err))
	}
	if s.state, err = loadState(s.stateDir); err != nil {
		return nil, s.abandon(fmt.Errorf("sim: %w", err))
	}
	s.dir = newDirectory(sc)
	for i := range sc.Tenants {
		sc.Tenants[i].Users = nil // the directory has them; snapshot rebuilds the list
	}
	s.state.apply(s.dir)
	s.state.applyLicences(s.dir, &s.sc)
	return s, nil
}

func (s *Server) abandon(err error) error {
	if s.ownsDir {
		os.RemoveAll(s.stateDir)
	}
	return err
}

// Start listens and serves HTTPS in the background.
func (s *Server) Start() error {
	if s.srv != nil {
		return errors.New("sim: already started")
	}
	addr := s.opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("sim: listen address %q: %w", addr, err)
	}
	cert, err := s.ca.leaf(host)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1" // listening everywhere; loopback is always covered by the certificate
	}
	port := ln.Addr().(*net.TCPAddr).Port
	s.base = "https://" + net.JoinHostPort(host, strconv.Itoa(port))
	s.srv = &http.Server{
		Handler:           s.middleware(s.routes()),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	go s.srv.ServeTLS(ln, "", "") // returns http.ErrServerClosed on Close
	s.log.Info("simulator listening", "url", s.base, "stateDir", s.stateDir)
	return nil
}

// URL is the single base URL of all three clouds: Entra ID at /{tenant}/…, Partner Center at
// /v1/… and Graph at /v1.0/….
func (s *Server) URL() string { return s.base }

// CAFile is the PEM file of the CA that issued the server certificate.
func (s *Server) CAFile() string { return filepath.Join(s.stateDir, caCertFile) }

// Close stops serving and removes a temporary state directory.
func (s *Server) Close() error {
	var err error
	if s.srv != nil {
		// Close, not Shutdown: graceful HTTP/2 shutdown waits about a second for clients to
		// act on GOAWAY, and a simulator has no work worth draining.
		err = s.srv.Close()
	}
	if s.ownsDir {
		err = errors.Join(err, os.RemoveAll(s.stateDir))
	}
	return err
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

func (s *Server) tokenLifetime() time.Duration {
	if s.opts.AccessTokenLifetime > 0 {
		return s.opts.AccessTokenLifetime
	}
	return 3599 * time.Second
}

// persistLocked saves the runtime state; the caller holds s.mu. A failure only costs durability
// across restarts, so callers without an error result log it.
func (s *Server) persistLocked() error {
	if err := s.state.save(s.stateDir); err != nil {
		s.log.Error("saving simulator state", "err", err)
		return fmt.Errorf("sim: save state: %w", err)
	}
	return nil
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	// Entra ID
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.handleDiscovery)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.handleKeys)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", s.handleAuthorize)
	mux.HandleFunc("GET /{tenant}/v2.0/adminconsent", s.handleAdminConsent)
	mux.HandleFunc("GET /{tenant}/adminconsent", s.handleAdminConsentV1)
	mux.HandleFunc("POST /{tenant}/login", s.handleLogin)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.handleToken)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/logout", s.handleLogout)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/logout", s.handleLogout)
	// Partner Center
	mux.HandleFunc("GET /v1/customers", s.partnerCenter(s.pcCustomers))
	mux.HandleFunc("GET /v1/customers/{customer}", s.partnerCenter(s.pcCustomerByID))
	mux.HandleFunc("GET /v1/customers/{customer}/subscriptions", s.partnerCenter(s.pcSubscriptions))
	mux.HandleFunc("GET /v1/customers/{customer}/subscriptions/{subscription}", s.partnerCenter(s.pcSubscription))
	mux.HandleFunc("GET /v1/customers/{customer}/subscribedskus", s.partnerCenter(s.pcSubscribedSkus))
	// Microsoft Graph
	mux.HandleFunc("GET /oidc/userinfo", s.graph(s.graphUserInfo))
	mux.HandleFunc("POST /oidc/userinfo", s.graph(s.graphUserInfo))
	mux.HandleFunc("GET /v1.0/organization", s.graph(s.graphOrganization))
	mux.HandleFunc("GET /v1.0/organization/{id}", s.graph(s.graphOrganizationByID))
	mux.HandleFunc("GET /v1.0/users", s.graph(s.graphUsers))
	mux.HandleFunc("GET /v1.0/users/{user}", s.graph(s.graphUser))
	mux.HandleFunc("GET /v1.0/users/{user}/memberOf", s.graph(s.graphMemberOf))
	mux.HandleFunc("GET /v1.0/groups", s.graph(s.graphGroups))
	mux.HandleFunc("GET /v1.0/groups/delta", s.graph(s.graphGroupsDelta))
	mux.HandleFunc("GET /v1.0/groups/delta()", s.graph(s.graphGroupsDelta))
	mux.HandleFunc("POST /v1.0/users/{user}/assignLicense", s.graph(s.graphAssignLicense))
	mux.HandleFunc("GET /v1.0/subscribedSkus", s.graph(s.graphSubscribedSkus))
	mux.HandleFunc("GET /v1.0/tenantRelationships/delegatedAdminRelationships", s.graph(s.graphRelationships))
	mux.HandleFunc("GET /v1.0/tenantRelationships/delegatedAdminRelationships/{relationship}/accessAssignments", s.graph(s.graphAccessAssignments))
	// Simulator control
	s.adminRoutes(mux)
	// Unknown paths answer in the error shape of the API they fall under. (Catch-alls such as
	// "/v1.0/" would conflict with the "/{tenant}/…" patterns, so dispatch by prefix here.)
	pcNotFound, graphNotFound := s.partnerCenter(s.pcNotFound), s.graph(s.graphNotFound)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/"):
			pcNotFound(w, r)
		case strings.HasPrefix(r.URL.Path, "/v1.0/"):
			graphNotFound(w, r)
		default:
			http.NotFound(w, r)
		}
	})
	return mux
}

// middleware decodes gzip request bodies (the Graph SDK compresses POSTs) and logs requests.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, "request body is not valid gzip: "+err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = struct {
				io.Reader
				io.Closer
			}{zr, r.Body}
			r.Header.Del("Content-Encoding")
			r.ContentLength = -1
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r)
		s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration", time.Since(start).Round(time.Microsecond))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}
