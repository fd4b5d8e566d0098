package deploy_test

// These tests validate docker-compose.yml, deploy/Dockerfile and the Temporal
// dynamic config statically (no Docker engine needed) against internal/config,
// so that renaming an environment variable, changing a default port or adding
// a search attribute fails here instead of in someone's deployment.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/cspsync/cspsync/internal/config"
)

const (
	composePath    = "../docker-compose.yml"
	dockerfilePath = "Dockerfile"
	repoRoot       = ".."

	svcPostgres  = "postgresql"
	svcSchema    = "temporal-admin-tools"
	svcTemporal  = "temporal"
	svcNamespace = "temporal-create-namespace"
	svcUI        = "temporal-ui"
	svcWorker    = "cspsync-worker"
	svcSim       = "cspsync-sim"
	svcMigrate   = "cspsync-migrate"

	simProfile       = "simulator"
	temporalPort     = "7233" // the Temporal frontend's gRPC port
	temporalUIPort   = "8080" // where temporalio/ui listens in its container
	workerBinary     = "cspsync-worker"
	cliBinary        = "cspsync"
	testEncryptKey   = "test-key-not-used"
	serverImage      = "temporalio/server"
	adminToolsImage  = "temporalio/admin-tools"
	dynamicConfigKey = "system.forceSearchAttributesCacheRefreshOnRead"
)

// knownEnv is every environment variable internal/config defines. The worker
// service may set only these: anything else is a typo or a setting the code
// no longer reads.
var knownEnv = []string{
	config.EnvDatabaseURL, config.EnvEncryptionKey, config.EnvEncryptionKeyFile,
	config.EnvTemporalAddress, config.EnvTemporalNamespace, config.EnvTaskQueue,
	config.EnvHTTPAddr, config.EnvPublicURL, config.EnvCAFile, config.EnvDataDir,
	config.EnvSimAddr, config.EnvSimScenario, config.EnvSimTenants,
	config.EnvOperators, config.EnvOperatorGroup, config.EnvOperatorsEveryone, config.EnvMaxConcurrentActivities,
	config.EnvMaxConcurrentWorkflowTasks, config.EnvTaskQueueActivitiesPerSecond,
}

// workerEnv is what the worker service must set.
var workerEnv = []string{
	config.EnvDatabaseURL, config.EnvEncryptionKey, config.EnvTemporalAddress,
	config.EnvTemporalNamespace, config.EnvTaskQueue, config.EnvHTTPAddr,
	config.EnvPublicURL, config.EnvCAFile, config.EnvOperators, config.EnvOperatorGroup, config.EnvOperatorsEveryone,
	config.EnvMaxConcurrentActivities, config.EnvMaxConcurrentWorkflowTasks, config.EnvTaskQueueActivitiesPerSecond,
}

// ---- the compose model (the subset this file uses) ----

type composeFile struct {
	Services map[string]*service `yaml:"services"`
	Volumes  map[string]any      `yaml:"volumes"`
}

type service struct {
	Image       string     `yaml:"image"`
	Build       *build     `yaml:"build"`
	Entrypoint  stringList `yaml:"entrypoint"`
	Command     stringList `yaml:"command"`
	Environment envMap     `yaml:"environment"`
	Ports       []string   `yaml:"ports"`
	Volumes     []string   `yaml:"volumes"`
	DependsOn   dependsMap `yaml:"depends_on"`
	Profiles    []string   `yaml:"profiles"`
	Healthcheck *struct {
		Test stringList `yaml:"test"`
	} `yaml:"healthcheck"`
	Hostname   string `yaml:"hostname"`
	Restart    string `yaml:"restart"`
	WorkingDir string `yaml:"working_dir"`
}

type build struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func (b *build) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		b.Context = n.Value
		return nil
	}
	type plain build
	return n.Decode((*plain)(b))
}

// stringList is compose's "string or list of strings".
type stringList []string

func (s *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = strings.Fields(n.Value)
		return nil
	}
	return n.Decode((*[]string)(s))
}

// envMap is compose's environment, as a map or as a list of NAME=value.
type envMap map[string]string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	*e = envMap{}
	if n.Kind == yaml.SequenceNode {
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			(*e)[k] = v
		}
		return nil
	}
	var m map[string]*string
	if err := n.Decode(&m); err != nil {
		return err
	}
	for k, v := range m {
		if v == nil {
			(*e)[k] = ""
		} else {
			(*e)[k] = *v
		}
	}
	return nil
}

type dependsOn struct {
	Condition string `yaml:"condition"`
	Required  *bool  `yaml:"required"`
}

// dependsMap is compose's depends_on, as a map or as a list of names.
type dependsMap map[string]dependsOn

func (d *dependsMap) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsMap{}
	if n.Kind == yaml.SequenceNode {
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		for _, name := range names {
			(*d)[name] = dependsOn{Condition: "service_started"}
		}
		return nil
	}
	return n.Decode((*map[string]dependsOn)(d))
}

// ---- helpers ----

func loadCompose(t *testing.T) *composeFile {
	t.Helper()
	b, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", composePath, err)
	}
	if len(c.Services) == 0 {
		t.Fatalf("%s has no services", composePath)
	}
	return &c
}

func (c *composeFile) svc(t *testing.T, name string) *service {
	t.Helper()
	s := c.Services[name]
	if s == nil {
		t.Fatalf("service %q missing from %s", name, composePath)
	}
	return s
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate expands compose variables the way `docker compose` does, with
// env as the environment: ${X}, $X, ${X:-default}, ${X-default},
// ${X:?error}, ${X?error}, and $$ for a literal $.
func interpolate(s string, env map[string]string) (string, error) {
	const dollar = "\x00"
	s = strings.ReplaceAll(s, "$$", dollar)
	var firstErr error
	s = varRef.ReplaceAllStringFunc(s, func(m string) string {
		g := varRef.FindStringSubmatch(m)
		name, op, arg := g[1], g[2], g[3]
		if name == "" {
			name = g[4]
		}
		v, set := env[name]
		switch op {
		case ":-":
			if v == "" {
				return arg
			}
		case "-":
			if !set {
				return arg
			}
		case ":?", "?":
			if !set || (op == ":?" && v == "") {
				if firstErr == nil {
					firstErr = fmt.Errorf("required variable %s is missing: %s", name, arg)
				}
			}
		}
		return v
	})
	if strings.Contains(s, "$") {
		return "", fmt.Errorf("unsupported interpolation in %q", s)
	}
	return strings.ReplaceAll(s, dollar, "$"), firstErr
}

// defaults expands s with only the variables that must be set, i.e. what
// `docker compose up` does on a machine that sets nothing else.
func defaults(t *testing.T, s string) string {
	t.Helper()
	v, err := interpolate(s, map[string]string{config.EnvEncryptionKey: testEncryptKey})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type portMapping struct{ hostIP, host, container string }

func parsePort(t *testing.T, spec string) portMapping {
	t.Helper()
	spec, _, _ = strings.Cut(spec, "/")
	parts := strings.Split(spec, ":")
	switch len(parts) {
	case 2:
		return portMapping{host: parts[0], container: parts[1]}
	case 3:
		return portMapping{hostIP: parts[0], host: parts[1], container: parts[2]}
	}
	t.Fatalf("port %q: want [ip:]host:container", spec)
	return portMapping{}
}

// published returns the service's port mapping for containerPort.
func published(t *testing.T, name string, s *service, containerPort string) portMapping {
	t.Helper()
	for _, p := range s.Ports {
		if m := parsePort(t, defaults(t, p)); m.container == containerPort {
			return m
		}
	}
	t.Fatalf("service %s does not publish container port %s (ports %q)", name, containerPort, s.Ports)
	return portMapping{}
}

func portOf(t *testing.T, hostport string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("%q: %v", hostport, err)
	}
	return port
}

type mount struct {
	source, target string
	readOnly       bool
}

func mounts(s *service) []mount {
	var out []mount
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		m := mount{source: parts[0]}
		if len(parts) > 1 {
			m.target = parts[1]
		}
		if len(parts) > 2 {
			m.readOnly = slices.Contains(strings.Split(parts[2], ","), "ro")
		}
		out = append(out, m)
	}
	return out
}

func mountAt(s *service, target string) (mount, bool) {
	for _, m := range mounts(s) {
		if m.target == target {
			return m, true
		}
	}
	return mount{}, false
}

// imageRepo is the image without its tag or digest.
func imageRepo(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[:i]
	}
	return image
}

func imageTag(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[i+1:]
	}
	return ""
}

// flagValue returns the value following flag in args.
func flagValue(args []string, flag string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v, true
		}
		if a == flag && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// checkTemporalAddress asserts addr is the Temporal service's frontend.
func checkTemporalAddress(t *testing.T, c *composeFile, who, addr string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("%s: %s=%q: %v", who, config.EnvTemporalAddress, addr, err)
		return
	}
	if host != svcTemporal || port != temporalPort {
		t.Errorf("%s: %s=%q, want %s:%s", who, config.EnvTemporalAddress, addr, svcTemporal, temporalPort)
	}
	if s := c.Services[host]; s == nil || imageRepo(s.Image) != serverImage {
		t.Errorf("%s: %s points at %q, which is not a %s service", who, config.EnvTemporalAddress, host, serverImage)
	}
}

// ---- tests ----

func TestComposeServices(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{svcPostgres, svcSchema, svcTemporal, svcNamespace, svcUI, svcWorker, svcSim} {
		if c.Services[name] == nil {
			t.Errorf("service %q missing", name)
		}
	}
}

func TestComposeImagesArePinned(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		if s.Image == "" {
			t.Errorf("service %s has no image (services built here must name their image too, so they share one)", name)
			continue
		}
		image := defaults(t, s.Image)
		tag := imageTag(image)
		switch {
		case strings.Contains(image, "@sha256:"):
		case tag == "":
			t.Errorf("service %s: image %q has no tag", name, image)
		case tag == "latest":
			t.Errorf("service %s: image %q uses latest", name, image)
		}
		if s.Build != nil && (s.Build.Context != "." || s.Build.Dockerfile != "deploy/Dockerfile") {
			t.Errorf("service %s builds %+v, want context . and deploy/Dockerfile", name, *s.Build)
		}
	}
	// The schema tool must match the server it prepares the database for.
	server := imageTag(c.svc(t, svcTemporal).Image)
	for _, name := range []string{svcSchema, svcNamespace} {
		s := c.svc(t, name)
		if imageRepo(s.Image) != adminToolsImage || !strings.HasPrefix(imageTag(s.Image), server+"-") {
			t.Errorf("service %s: image %q, want %s:%s-… to match %s", name, s.Image, adminToolsImage, server, c.Services[svcTemporal].Image)
		}
	}
	if w, s := c.svc(t, svcWorker), c.svc(t, svcSim); w.Image != s.Image || w.Build == nil || s.Build == nil {
		t.Errorf("worker (%q) and simulator (%q) must build and share the cspsync image", w.Image, s.Image)
	}
}

func TestComposeWorkerEnvironment(t *testing.T) {
	c := loadCompose(t)
	w := c.svc(t, svcWorker)
	env := w.Environment
	for k := range env {
		if !slices.Contains(knownEnv, k) {
			t.Errorf("worker sets %s, which internal/config does not define", k)
		}
	}
	for _, k := range workerEnv {
		if _, ok := env[k]; !ok {
			t.Errorf("worker does not set %s", k)
		}
	}

	// The key must be supplied: no default that would seal secrets with a
	// well-known key.
	if _, err := interpolate(env[config.EnvEncryptionKey], nil); err == nil {
		t.Errorf("%s=%q: `docker compose up` must refuse to start without it (use ${%[1]s:?…})", config.EnvEncryptionKey, env[config.EnvEncryptionKey])
	}
	if v := defaults(t, env[config.EnvEncryptionKey]); v != testEncryptKey {
		t.Errorf("%s=%q does not pass the variable through", config.EnvEncryptionKey, env[config.EnvEncryptionKey])
	}

	checkTemporalAddress(t, c, svcWorker, defaults(t, env[config.EnvTemporalAddress]))
	if v := defaults(t, env[config.EnvTemporalNamespace]); v != config.DefaultTemporalNamespace {
		t.Errorf("%s defaults to %q, want %q", config.EnvTemporalNamespace, v, config.DefaultTemporalNamespace)
	}
	if v := defaults(t, env[config.EnvTaskQueue]); v != config.DefaultTaskQueue {
		t.Errorf("%s defaults to %q, want %q", config.EnvTaskQueue, v, config.DefaultTaskQueue)
	}
	// The concurrency settings pass through, defaulting to the worker's own.
	for k, want := range map[string]string{
		config.EnvMaxConcurrentActivities:      fmt.Sprint(config.DefaultMaxConcurrentActivities),
		config.EnvMaxConcurrentWorkflowTasks:   fmt.Sprint(config.DefaultMaxConcurrentWorkflowTasks),
		config.EnvTaskQueueActivitiesPerSecond: fmt.Sprint(config.DefaultTaskQueueActivitiesPerSecond),
	} {
		if v := defaults(t, env[k]); v != want {
			t.Errorf("%s defaults to %q, want %q", k, v, want)
		}
		if v, _ := interpolate(env[k], map[string]string{config.EnvEncryptionKey: testEncryptKey, k: "7"}); v != "7" {
			t.Errorf("%s=%q does not pass the variable through", k, env[k])
		}
	}
	if v := defaults(t, env[config.EnvCAFile]); v != "" {
		t.Errorf("%s defaults to %q, want empty (real Microsoft)", config.EnvCAFile, v)
	}

	// HTTP server: all interfaces in the container, on the default port,
	// published on the same port, which the public URL names.
	httpAddr := defaults(t, env[config.EnvHTTPAddr])
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		t.Fatalf("%s=%q: %v", config.EnvHTTPAddr, httpAddr, err)
	}
	if want := portOf(t, config.DefaultHTTPAddr); port != want {
		t.Errorf("%s port %s, want %s (config.DefaultHTTPAddr)", config.EnvHTTPAddr, port, want)
	}
	if host != "0.0.0.0" && host != "" {
		t.Errorf("%s=%q: listen on all interfaces, or the published port reaches nothing", config.EnvHTTPAddr, httpAddr)
	}
	pub := published(t, svcWorker, w, port)
	if pub.host != port {
		t.Errorf("worker publishes %s on host port %s, want %s", port, pub.host, port)
	}
	publicURL := defaults(t, env[config.EnvPublicURL])
	if publicURL != config.DefaultPublicURL {
		t.Errorf("%s defaults to %q, want %q", config.EnvPublicURL, publicURL, config.DefaultPublicURL)
	}
	if u, err := url.Parse(publicURL); err != nil || u.Port() != pub.host {
		t.Errorf("%s=%q does not name the published port %s", config.EnvPublicURL, publicURL, pub.host)
	}
	if w.Healthcheck == nil || !slices.Contains(w.Healthcheck.Test, "http://127.0.0.1:"+port+"/healthz") {
		t.Errorf("worker healthcheck must GET http://127.0.0.1:%s/healthz, have %v", port, w.Healthcheck)
	}

	// Database: the cspsync database on the postgresql service, with its
	// credentials.
	dbURL := defaults(t, env[config.EnvDatabaseURL])
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("%s=%q: %v", config.EnvDatabaseURL, dbURL, err)
	}
	pg := c.svc(t, svcPostgres)
	if u.Hostname() != svcPostgres || (u.Port() != "" && u.Port() != "5432") {
		t.Errorf("%s host %q, want the %s service", config.EnvDatabaseURL, u.Host, svcPostgres)
	}
	if imageRepo(pg.Image) != "postgres" {
		t.Errorf("service %s runs %q, not postgres", svcPostgres, pg.Image)
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "cspsync" {
		t.Errorf("%s database %q, want cspsync", config.EnvDatabaseURL, db)
	}
	pw, _ := u.User.Password()
	if user, wantUser := u.User.Username(), defaults(t, pg.Environment["POSTGRES_USER"]); user != wantUser && !(wantUser == "" && user == "postgres") {
		t.Errorf("%s user %q, but %s's POSTGRES_USER is %q", config.EnvDatabaseURL, user, svcPostgres, wantUser)
	}
	if want := defaults(t, pg.Environment["POSTGRES_PASSWORD"]); pw != want {
		t.Errorf("%s password %q, but %s's POSTGRES_PASSWORD is %q", config.EnvDatabaseURL, pw, svcPostgres, want)
	}
}

func TestComposeTemporal(t *testing.T) {
	c := loadCompose(t)
	s := c.svc(t, svcTemporal)
	pg := c.svc(t, svcPostgres)
	env := s.Environment
	want := map[string]string{
		"DB":             "postgres12",
		"DB_PORT":        "5432",
		"POSTGRES_SEEDS": svcPostgres,
		"POSTGRES_USER":  defaults(t, pg.Environment["POSTGRES_USER"]),
		"POSTGRES_PWD":   defaults(t, pg.Environment["POSTGRES_PASSWORD"]),
		"BIND_ON_IP":     "0.0.0.0",
	}
	for k, v := range want {
		if got := defaults(t, env[k]); got != v {
			t.Errorf("temporal: %s=%q, want %q", k, got, v)
		}
	}
	if pub := published(t, svcTemporal, s, temporalPort); pub.host != temporalPort {
		t.Errorf("temporal publishes %s on %s, want %s", temporalPort, pub.host, temporalPort)
	}

	// Its configuration is deploy/temporal's: TestComposeRunsTheClusterConfiguration.
}

func TestComposeSchemaSetup(t *testing.T) {
	c := loadCompose(t)
	script := strings.Join(c.svc(t, svcSchema).Command, "\n")
	for _, want := range []string{"temporal-sql-tool", "--plugin postgres12", "--ep " + svcPostgres,
		"temporal temporal_visibility", "create", "setup-schema -v 0.0", "update-schema",
		"/etc/temporal/schema/postgresql/v12/temporal/versioned", "/etc/temporal/schema/postgresql/v12/visibility/versioned"} {
		if !strings.Contains(script, want) {
			t.Errorf("%s command lacks %q", svcSchema, want)
		}
	}
}

func TestComposeUI(t *testing.T) {
	c := loadCompose(t)
	s := c.svc(t, svcUI)
	pub := published(t, svcUI, s, temporalUIPort)
	if want := fmt.Sprint(config.DefaultTemporalUIPort); pub.host != want {
		t.Errorf("UI published on %s, want %s (config.DefaultTemporalUIPort)", pub.host, want)
	}
	checkTemporalAddress(t, c, svcUI, defaults(t, s.Environment["TEMPORAL_ADDRESS"]))
	origin := fmt.Sprintf("http://localhost:%d", config.DefaultTemporalUIPort)
	if !slices.Contains(strings.Split(s.Environment["TEMPORAL_CORS_ORIGINS"], ","), origin) {
		t.Errorf("TEMPORAL_CORS_ORIGINS=%q lacks %s", s.Environment["TEMPORAL_CORS_ORIGINS"], origin)
	}
}

var searchAttributeCreate = regexp.MustCompile(`search-attribute\s+create\b.*`)

func TestComposeNamespaceRegistersSearchAttributes(t *testing.T) {
	c := loadCompose(t)
	s := c.svc(t, svcNamespace)
	checkTemporalAddress(t, c, svcNamespace, defaults(t, s.Environment["TEMPORAL_ADDRESS"]))
	if got, want := defaults(t, s.Environment["NAMESPACE"]), defaults(t, c.svc(t, svcWorker).Environment[config.EnvTemporalNamespace]); got != want {
		t.Errorf("%s creates namespace %q, the worker uses %q", svcNamespace, got, want)
	}
	script := strings.Join(s.Command, "\n")
	for _, want := range []string{"operator cluster health", `operator namespace create --namespace "$$NAMESPACE"`} {
		if !strings.Contains(script, want) {
			t.Errorf("%s command lacks %q", svcNamespace, want)
		}
	}
	got := map[string]string{}
	for _, line := range searchAttributeCreate.FindAllString(script, -1) {
		args := strings.Fields(line)
		name, ok1 := flagValue(args, "--name")
		typ, ok2 := flagValue(args, "--type")
		ns, ok3 := flagValue(args, "--namespace")
		if !ok1 || !ok2 || !ok3 {
			t.Errorf("%s: %q needs --namespace, --name and --type", svcNamespace, line)
			continue
		}
		if ns != `"$$NAMESPACE"` {
			t.Errorf("%s: %q registers in %s, not the created namespace", svcNamespace, line, ns)
		}
		got[name] = typ
	}
	for name, typ := range config.SearchAttributes {
		if got[name] != typ {
			t.Errorf("%s does not register search attribute %s as %s (have %q)", svcNamespace, name, typ, got[name])
		}
	}
	for name := range got {
		if _, ok := config.SearchAttributes[name]; !ok {
			t.Errorf("%s registers %s, which is not in config.SearchAttributes", svcNamespace, name)
		}
	}
}

// The worker migrates its schema but does not create its database: a
// one-shot `cspsync migrate` on the worker's database creates it first.
func TestComposeMigratesBeforeTheWorker(t *testing.T) {
	c := loadCompose(t)
	m := c.svc(t, svcMigrate)
	w := c.svc(t, svcWorker)
	if len(m.Entrypoint) < 2 || path.Base(m.Entrypoint[0]) != cliBinary || m.Entrypoint[1] != "migrate" {
		t.Errorf("%s entrypoint %q, want [.../%s migrate]", svcMigrate, m.Entrypoint, cliBinary)
	}
	if m.Image != w.Image || m.Build == nil {
		t.Errorf("%s must build and run the cspsync image (%q), has %q", svcMigrate, w.Image, m.Image)
	}
	if m.Restart != "no" {
		t.Errorf("%s is one-shot: restart %q, want \"no\"", svcMigrate, m.Restart)
	}
	for _, k := range []string{config.EnvDatabaseURL, config.EnvEncryptionKey} {
		if m.Environment[k] != w.Environment[k] {
			t.Errorf("%s sets %s=%q, the worker %q", svcMigrate, k, m.Environment[k], w.Environment[k])
		}
	}
	if d, ok := w.DependsOn[svcMigrate]; !ok || d.Condition != "service_completed_successfully" {
		t.Errorf("%s must wait for %s to complete successfully", svcWorker, svcMigrate)
	}
	if d, ok := m.DependsOn[svcPostgres]; !ok || d.Condition != "service_healthy" {
		t.Errorf("%s must wait for %s to be healthy", svcMigrate, svcPostgres)
	}
}

func TestComposeSimulator(t *testing.T) {
	c := loadCompose(t)
	s := c.svc(t, svcSim)
	w := c.svc(t, svcWorker)
	if !slices.Equal(s.Profiles, []string{simProfile}) {
		t.Errorf("%s profiles %q, want [%s]", svcSim, s.Profiles, simProfile)
	}
	if len(s.Entrypoint) < 2 || path.Base(s.Entrypoint[0]) != cliBinary || s.Entrypoint[1] != "sim" {
		t.Errorf("%s entrypoint %q, want [.../%s sim]", svcSim, s.Entrypoint, cliBinary)
	}
	args := append(append([]string{}, s.Entrypoint...), s.Command...)

	addr, ok := flagValue(args, "--sim-addr")
	if !ok {
		t.Fatalf("%s: no --sim-addr in %q", svcSim, args)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("--sim-addr %q: %v", addr, err)
	}
	if want := portOf(t, config.DefaultSimAddr); port != want {
		t.Errorf("--sim-addr port %s, want %s (config.DefaultSimAddr)", port, want)
	}
	// The simulator issues its certificate for the listen host, so the
	// worker can verify https://<service>:port only if that host is the
	// service's name.
	if host != svcSim || (s.Hostname != "" && s.Hostname != svcSim) {
		t.Errorf("--sim-addr host %q (hostname %q): want %s, the name the worker dials", host, s.Hostname, svcSim)
	}
	if pub := published(t, svcSim, s, port); pub.host != port {
		t.Errorf("%s publishes %s on host port %s", svcSim, port, pub.host)
	}

	// ca.pem reaches the worker: the state directory is a named volume that
	// the worker mounts read-only at the same path, and the documented
	// CSPSYNC_CA_FILE value is inside it.
	stateDir, ok := flagValue(args, "--state-dir")
	if !ok {
		t.Fatalf("%s: no --state-dir in %q", svcSim, args)
	}
	sm, ok := mountAt(s, stateDir)
	if !ok {
		t.Fatalf("%s: --state-dir %s is not a volume", svcSim, stateDir)
	}
	if _, named := c.Volumes[sm.source]; !named {
		t.Errorf("%s: state volume %q is not a named volume", svcSim, sm.source)
	}
	wm, ok := mountAt(w, stateDir)
	if !ok || wm.source != sm.source || !wm.readOnly {
		t.Errorf("worker must mount %s at %s read-only (have %+v)", sm.source, stateDir, wm)
	}
	raw, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	if doc := config.EnvCAFile + "=" + stateDir + "/ca.pem"; !strings.Contains(string(raw), doc) {
		t.Errorf("%s should document %s for the simulator profile", composePath, doc)
	}
	if s.Healthcheck == nil || !slices.Contains(s.Healthcheck.Test, stateDir+"/ca.pem") {
		t.Errorf("%s healthcheck should verify with %s/ca.pem", svcSim, stateDir)
	}

	// Without the profile the worker must still start.
	if d, ok := w.DependsOn[svcSim]; ok && (d.Required == nil || *d.Required) {
		t.Errorf("worker depends on %s without required: false: `docker compose up` without --profile %s would fail", svcSim, simProfile)
	}
}

func TestComposeDependsOn(t *testing.T) {
	c := loadCompose(t)
	conditions := []string{"service_started", "service_healthy", "service_completed_successfully"}
	for name, s := range c.Services {
		for dep, d := range s.DependsOn {
			target := c.Services[dep]
			if target == nil {
				t.Errorf("%s depends on undefined service %s", name, dep)
				continue
			}
			if !slices.Contains(conditions, d.Condition) {
				t.Errorf("%s depends on %s with condition %q", name, dep, d.Condition)
			}
			if d.Condition == "service_healthy" && (target.Healthcheck == nil || len(target.Healthcheck.Test) == 0) {
				t.Errorf("%s waits for %s to be healthy, but it has no healthcheck", name, dep)
			}
			if d.Condition == "service_completed_successfully" && target.Restart != "" && target.Restart != "no" {
				t.Errorf("%s waits for one-shot %s to complete, but it restarts (%s)", name, dep, target.Restart)
			}
			if len(target.Profiles) > 0 && len(s.Profiles) == 0 && (d.Required == nil || *d.Required) {
				t.Errorf("%s (no profile) requires %s (profiles %q)", name, dep, target.Profiles)
			}
		}
	}
	// No cycles.
	state := map[string]int{}
	var visit func(string, []string)
	visit = func(n string, trail []string) {
		switch state[n] {
		case 1:
			t.Errorf("depends_on cycle: %s", strings.Join(append(trail, n), " -> "))
			return
		case 2:
			return
		}
		state[n] = 1
		if s := c.Services[n]; s != nil {
			for dep := range s.DependsOn {
				visit(dep, append(trail, n))
			}
		}
		state[n] = 2
	}
	for name := range c.Services {
		visit(name, nil)
	}
}

// ---- Dockerfile ----

type instruction struct {
	cmd, args string
}

// parseDockerfile returns the stages, each its instructions, with line
// continuations joined and comments dropped.
func parseDockerfile(t *testing.T) [][]instruction {
	t.Helper()
	f, err := os.Open(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages [][]instruction
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %s before FROM", dockerfilePath, in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if body, more := strings.CutSuffix(line, "\\"); more {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	flush()
	return stages
}

var goBuild = regexp.MustCompile(`go build\b[^&;]*?-o\s+(\S+)[^&;]*?\s(\./\S+)`)

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("%s: want a multi-stage build, have %d stage(s)", dockerfilePath, len(stages))
	}

	// Builder: both binaries, with the module and build caches mounted.
	built := map[string]string{} // package -> output path
	for _, st := range stages[:len(stages)-1] {
		for _, in := range st {
			if in.cmd != "RUN" {
				continue
			}
			for _, m := range goBuild.FindAllStringSubmatch(in.args, -1) {
				built[m[2]] = m[1]
				for _, cache := range []string{"target=/go/pkg/mod", "target=/root/.cache/go-build"} {
					if !strings.Contains(in.args, "--mount=type=cache,"+cache) {
						t.Errorf("go build of %s runs without the cache mount %s", m[2], cache)
					}
				}
			}
		}
	}
	if path.Base(built["./worker"]) != workerBinary {
		t.Errorf("builder must build ./worker as %s, builds %v", workerBinary, built)
	}
	if path.Base(built["./starter"]) != cliBinary {
		t.Errorf("builder must build ./starter as %s, builds %v", cliBinary, built)
	}

	// Final stage: the binaries in /usr/local/bin, a non-root user, the
	// worker as entrypoint, curl for the compose healthchecks.
	final := stages[len(stages)-1]
	var user, entrypoint, runs string
	copied := map[string]bool{}
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "RUN":
			runs += in.args + "\n"
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) > 2 && strings.HasPrefix(f[0], "--from=") && strings.TrimSuffix(f[len(f)-1], "/") == "/usr/local/bin" {
				for _, src := range f[1 : len(f)-1] {
					copied[path.Base(src)] = true
				}
			}
		}
	}
	if !copied[workerBinary] || !copied[cliBinary] {
		t.Errorf("final stage must copy %s and %s into /usr/local/bin (copies %v)", workerBinary, cliBinary, copied)
	}
	name, _, _ := strings.Cut(user, ":")
	if user == "" || name == "root" || name == "0" {
		t.Errorf("final stage runs as %q: want a non-root USER", user)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || len(ep) == 0 || ep[0] != "/usr/local/bin/"+workerBinary {
		t.Errorf("ENTRYPOINT %s, want [\"/usr/local/bin/%s\"] (exec form, so signals reach the worker)", entrypoint, workerBinary)
	}
	if !strings.Contains(runs, "curl") {
		t.Errorf("final stage must install curl: the compose healthchecks use it")
	}
	if !strings.Contains(runs, "ca-certificates") {
		t.Errorf("final stage must install ca-certificates: the Microsoft clients use the system roots")
	}
}

func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for _, want := range []string{".git", ".bin", ".data", "bin"} {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.Trim(strings.TrimSpace(l), "/") == want }) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}
