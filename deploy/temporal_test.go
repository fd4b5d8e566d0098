package deploy_test

// These tests hold the three places the Temporal server runs to one
// configuration: docker-compose.yml's temporal service, and
// scripts/temporal-cluster.sh (`make cluster` and the cluster tests) both run
// temporal-server on deploy/temporal/config with the same command line, and
// the configuration, rendered with each one's environment, points at the
// databases, ports and dynamic config each expects.

import (
	"bytes"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"

	"go.yaml.in/yaml/v3"

	"github.com/cspsync/cspsync/internal/config"
)

const (
	clusterScript = "../scripts/temporal-cluster.sh"
	serverRepoDir = "temporal" // deploy/temporal, the --root of every server
)

// serverConfig is the part of Temporal's server configuration cspsync sets.
type serverConfig struct {
	Persistence struct {
		DefaultStore    string `yaml:"defaultStore"`
		VisibilityStore string `yaml:"visibilityStore"`
		DataStores      map[string]struct {
			SQL *struct {
				PluginName   string `yaml:"pluginName"`
				DatabaseName string `yaml:"databaseName"`
				ConnectAddr  string `yaml:"connectAddr"`
				User         string `yaml:"user"`
				Password     string `yaml:"password"`
			} `yaml:"sql"`
		} `yaml:"datastores"`
	} `yaml:"persistence"`
	Global struct {
		Membership struct {
			BroadcastAddress string `yaml:"broadcastAddress"`
		} `yaml:"membership"`
	} `yaml:"global"`
	Services map[string]struct {
		RPC struct {
			GRPCPort       int    `yaml:"grpcPort"`
			HTTPPort       int    `yaml:"httpPort"`
			MembershipPort int    `yaml:"membershipPort"`
			BindOnIP       string `yaml:"bindOnIP"`
		} `yaml:"rpc"`
	} `yaml:"services"`
	DynamicConfigClient struct {
		Filepath string `yaml:"filepath"`
	} `yaml:"dynamicConfigClient"`
}

// serverCommand is how temporal-server is started: its arguments after the
// binary.
var serverCommand = regexp.MustCompile(`temporal-server"?((?:\s+-[-\w]+(?:\s+[\w/.-]+)?)+\s+start)\b`)

func serverArgs(t *testing.T, where, text string) []string {
	t.Helper()
	m := serverCommand.FindAllStringSubmatch(text, -1)
	if len(m) != 1 {
		t.Fatalf("%s: want one temporal-server command, have %d", where, len(m))
	}
	return strings.Fields(m[0][1])
}

// renderServerConfig renders the configuration the arguments name, with env
// as the environment, the way the server does (Go templates with sprig's
// functions; the file may use only env and default, which this mirrors).
func renderServerConfig(t *testing.T, args []string, env map[string]string) serverConfig {
	t.Helper()
	root, _ := flagValue(args, "--root")
	dir, _ := flagValue(args, "--config")
	name, _ := flagValue(args, "--env")
	if !strings.HasPrefix(root, "deploy/") {
		t.Fatalf("--root %q is not under deploy/", root)
	}
	file := filepath.Join(strings.TrimPrefix(root, "deploy/"), dir, name+".yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the server configuration: %v", err)
	}
	if !strings.HasPrefix(string(b), "# enable-template") {
		t.Fatalf("%s: must start with `# enable-template` for the server to render it", file)
	}
	tpl, err := template.New(file).Option("missingkey=error").Funcs(template.FuncMap{
		"env": func(k string) string { return env[k] },
		"default": func(d, v string) string {
			if v == "" {
				return d
			}
			return v
		},
	}).Parse(string(b))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out bytes.Buffer
	if err := tpl.Execute(&out, nil); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var cfg serverConfig
	if err := yaml.Unmarshal(out.Bytes(), &cfg); err != nil {
		t.Fatalf("%s rendered: %v\n%s", file, err, out.String())
	}
	return cfg
}

// sqlStores returns the default and the visibility store, each required to
// be SQL on PostgreSQL (SQL visibility: no Elasticsearch).
func sqlStores(t *testing.T, cfg serverConfig) (history, visibility struct{ plugin, db, addr, user, password string }) {
	t.Helper()
	for i, name := range []string{cfg.Persistence.DefaultStore, cfg.Persistence.VisibilityStore} {
		s := cfg.Persistence.DataStores[name].SQL
		if s == nil {
			t.Fatalf("store %q is not an SQL store", name)
		}
		if !slices.Contains([]string{"postgres12", "postgres12_pgx"}, s.PluginName) {
			t.Errorf("store %q uses %q, not PostgreSQL", name, s.PluginName)
		}
		v := struct{ plugin, db, addr, user, password string }{s.PluginName, s.DatabaseName, s.ConnectAddr, s.User, s.Password}
		if i == 0 {
			history = v
		} else {
			visibility = v
		}
	}
	return history, visibility
}

// checkPorts asserts every service has distinct ports below 32768: the
// server records them in a smallint column (cluster_membership).
func checkPorts(t *testing.T, who string, cfg serverConfig) {
	t.Helper()
	seen := map[int]string{}
	for _, svc := range []string{"frontend", "history", "matching", "worker"} {
		rpc := cfg.Services[svc].RPC
		for _, p := range []int{rpc.GRPCPort, rpc.MembershipPort, rpc.HTTPPort} {
			if p == 0 {
				continue
			}
			if p >= 32768 {
				t.Errorf("%s: %s port %d is not below 32768", who, svc, p)
			}
			if other, dup := seen[p]; dup {
				t.Errorf("%s: port %d used by %s and %s", who, p, other, svc)
			}
			seen[p] = svc
		}
		if rpc.GRPCPort == 0 || rpc.MembershipPort == 0 {
			t.Errorf("%s: service %s lacks its gRPC or membership port", who, svc)
		}
	}
}

func TestComposeRunsTheClusterConfiguration(t *testing.T) {
	c := loadCompose(t)
	s := c.svc(t, svcTemporal)
	pg := c.svc(t, svcPostgres)
	script, err := os.ReadFile(clusterScript)
	if err != nil {
		t.Fatal(err)
	}
	command := strings.Join(s.Command, "\n")
	args := serverArgs(t, svcTemporal, command)
	if local := serverArgs(t, clusterScript, string(script)); !slices.Equal(args, local) {
		t.Errorf("compose runs temporal-server %q, %s runs %q: one configuration, one command line", args, clusterScript, local)
	}
	if root, _ := flagValue(args, "--root"); root != "deploy/"+serverRepoDir {
		t.Errorf("--root %q, want deploy/%s", root, serverRepoDir)
	}

	// deploy/temporal is mounted, read-only, where --root resolves from the
	// working directory, as the repository root is for the script.
	root, _ := flagValue(args, "--root")
	if !path.IsAbs(s.WorkingDir) {
		t.Fatalf("temporal: working_dir %q, want an absolute path", s.WorkingDir)
	}
	m, ok := mountAt(s, path.Join(s.WorkingDir, root))
	if !ok || path.Clean(m.source) != "deploy/"+serverRepoDir || !m.readOnly {
		t.Errorf("temporal must mount ./deploy/%s read-only at %s (volumes %q)", serverRepoDir, path.Join(s.WorkingDir, root), s.Volumes)
	}

	// Rendered with compose's environment: the databases the schema service
	// creates on the postgresql service, with its credentials; the frontend
	// on the published port, on all interfaces, announcing the container's
	// address; the dynamic config from the mount.
	env := map[string]string{}
	for k, v := range s.Environment {
		env[k] = defaults(t, v)
	}
	if !strings.Contains(command, "export TEMPORAL_BROADCAST_ADDRESS") {
		t.Errorf("temporal listens on %s but does not set TEMPORAL_BROADCAST_ADDRESS", env["BIND_ON_IP"])
	}
	env["TEMPORAL_BROADCAST_ADDRESS"] = "172.18.0.3"
	cfg := renderServerConfig(t, args, env)
	history, visibility := sqlStores(t, cfg)
	schema := strings.Join(c.svc(t, svcSchema).Command, "\n")
	if !strings.Contains(schema, "for db in "+history.db+" "+visibility.db+";") {
		t.Errorf("%s does not create the databases the server uses (%s, %s)", svcSchema, history.db, visibility.db)
	}
	for _, st := range []struct{ plugin, db, addr, user, password string }{history, visibility} {
		if st.addr != svcPostgres+":5432" {
			t.Errorf("database %s at %q, want %s:5432", st.db, st.addr, svcPostgres)
		}
		if st.user != defaults(t, pg.Environment["POSTGRES_USER"]) || st.password != defaults(t, pg.Environment["POSTGRES_PASSWORD"]) {
			t.Errorf("database %s as %q/%q, but %s has POSTGRES_USER/PASSWORD %q/%q", st.db, st.user, st.password,
				svcPostgres, pg.Environment["POSTGRES_USER"], pg.Environment["POSTGRES_PASSWORD"])
		}
	}
	front := cfg.Services["frontend"].RPC
	if strconv.Itoa(front.GRPCPort) != temporalPort {
		t.Errorf("frontend on port %d, compose publishes %s", front.GRPCPort, temporalPort)
	}
	for name, svc := range cfg.Services {
		if svc.RPC.BindOnIP != "0.0.0.0" {
			t.Errorf("%s binds %q in compose, want 0.0.0.0", name, svc.RPC.BindOnIP)
		}
	}
	if cfg.Global.Membership.BroadcastAddress == "" {
		t.Error("broadcastAddress does not come from TEMPORAL_BROADCAST_ADDRESS")
	}
	checkPorts(t, "compose", cfg)
	dc := cfg.DynamicConfigClient.Filepath
	if !strings.HasPrefix(path.Join(s.WorkingDir, dc), path.Join(s.WorkingDir, root)+"/") {
		t.Fatalf("dynamic config %q is outside the mounted %s", dc, root)
	}
	checkDynamicConfig(t, filepath.Join(repoRoot, filepath.FromSlash(dc)))
}

func checkDynamicConfig(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("temporal dynamic config: %v", err)
	}
	var dyn map[string][]struct {
		Value       any            `yaml:"value"`
		Constraints map[string]any `yaml:"constraints"`
	}
	if err := yaml.Unmarshal(b, &dyn); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	vals := dyn[dynamicConfigKey]
	if len(vals) == 0 || vals[0].Value != true || len(vals[0].Constraints) != 0 {
		t.Errorf("%s: want %s: [{value: true, constraints: {}}], have %+v", file, dynamicConfigKey, vals)
	}
}

// The script's defaults are the configuration's, and those are what cspsync
// dials and stores by default: `make cluster` needs no settings.
func TestClusterScriptDefaultsMatchTheConfiguration(t *testing.T) {
	b, err := os.ReadFile(clusterScript)
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	defaultsOf := map[string]string{}
	for _, m := range regexp.MustCompile(`\$\{(\w+):=([^}]*)\}`).FindAllStringSubmatch(script, -1) {
		defaultsOf[m[1]] = m[2]
	}
	cfg := renderServerConfig(t, serverArgs(t, clusterScript, script), map[string]string{})
	history, visibility := sqlStores(t, cfg)
	for k, want := range map[string]string{
		"DBNAME": history.db, "VISIBILITY_DBNAME": visibility.db, "POSTGRES_USER": history.user,
		"POSTGRES_PWD": history.password, "POSTGRES_SEEDS": strings.Split(history.addr, ":")[0],
		"DB_PORT": strings.Split(history.addr, ":")[1], "FRONTEND_GRPC_PORT": strconv.Itoa(cfg.Services["frontend"].RPC.GRPCPort),
	} {
		if got, ok := defaultsOf[k]; !ok || got != want {
			t.Errorf("%s defaults %s to %q, the configuration to %q", clusterScript, k, got, want)
		}
	}
	if visibility.addr != history.addr || visibility.user != history.user {
		t.Errorf("visibility at %s as %s, history at %s as %s: the script prepares one server", visibility.addr, visibility.user, history.addr, history.user)
	}

	// cspsync's defaults reach this server and this PostgreSQL.
	front := cfg.Services["frontend"].RPC
	if addr := net.JoinHostPort(front.BindOnIP, strconv.Itoa(front.GRPCPort)); addr != config.DefaultTemporalAddress {
		t.Errorf("the local server serves %s, cspsync dials %s", addr, config.DefaultTemporalAddress)
	}
	db, err := url.Parse(config.DefaultDatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	if history.addr != db.Host || history.user != db.User.Username() {
		t.Errorf("the local server's databases are at %s as %s, cspsync's at %s as %s", history.addr, history.user, db.Host, db.User.Username())
	}
	checkPorts(t, clusterScript, cfg)
	checkDynamicConfig(t, filepath.Join(repoRoot, filepath.FromSlash(cfg.DynamicConfigClient.Filepath)))
}

// The script registers exactly cspsync's search attributes, all Keyword.
func TestClusterScriptRegistersSearchAttributes(t *testing.T) {
	b, err := os.ReadFile(clusterScript)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^SEARCH_ATTRIBUTES="([^"]*)"`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("%s: no SEARCH_ATTRIBUTES list", clusterScript)
	}
	got := strings.Fields(m[1])
	var want []string
	for name, typ := range config.SearchAttributes {
		want = append(want, name)
		if typ != "Keyword" {
			t.Errorf("search attribute %s is %s: the script registers Keyword only", name, typ)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s registers %q, config.SearchAttributes has %q", clusterScript, got, want)
	}
	if !strings.Contains(string(b), `search-attribute create --namespace "$TEMPORAL_NAMESPACE" --name "$sa" --type Keyword`) {
		t.Errorf("%s does not register each attribute as Keyword in its namespace", clusterScript)
	}
}
