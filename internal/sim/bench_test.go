package sim

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
)

// The benchmark world of the later cspsync benchmark: 50 tenants of 2,000 users and one of
// 100,000.
var benchOpts = GenerateOptions{Seed: 1, Tenants: 51, UsersPerTenant: 2000, TenantUsers: []int{100_000}}

// BenchmarkGenerateBenchmarkWorld generates the world and builds a server on it, and reports
// the heap a server of it holds.
func BenchmarkGenerateBenchmarkWorld(b *testing.B) {
	var heap uint64
	for b.Loop() {
		s, err := New(Generate(benchOpts), Options{StateDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		heap = m.HeapAlloc
		runtime.KeepAlive(s)
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(heap)/(1<<20), "MB-heap")
	b.ReportMetric(float64(heap)/float64(50*2000+100_000), "heap-bytes/user")
}

// BenchmarkDeltaFullRound100k serves a whole initial users/delta round of the 100,000-user
// tenant (200-user pages, cspsync's properties) through the handler, without TLS or network,
// and reports users served per second.
func BenchmarkDeltaFullRound100k(b *testing.B) {
	sc := Generate(GenerateOptions{Seed: 1, Tenants: 1, TenantUsers: []int{100_000}})
	sc.Tenants[0].PremiumLicence = true
	s, err := New(sc, Options{StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.base = "https://sim.invalid"
	o := s.dir.customers[0]
	call := graphCall{org: o}
	sel := "$select=id,displayName,givenName,surname,userPrincipalName,mail,jobTitle,department,companyName,officeLocation,employeeId,businessPhones,mobilePhone,accountEnabled,userType,usageLocation,assignedLicenses,onPremisesSamAccountName,onPremisesSyncEnabled"
	served, size := 0, 0
	for b.Loop() {
		next := s.base + "/v1.0/users/delta?" + sel
		for next != "" {
			req := httptest.NewRequest(http.MethodGet, next, nil)
			rec := &countingWriter{header: http.Header{}}
			s.graphUsersDelta(rec, req, call)
			p := rec.page
			served += len(p.Value)
			size += rec.n
			next = p.NextLink
		}
	}
	b.ReportMetric(float64(served)/b.Elapsed().Seconds(), "users/s")
	b.ReportMetric(float64(size)/float64(served), "bytes/user")
}

// BenchmarkListUsersPage999 encodes one 999-user page of list users.
func BenchmarkListUsersPage999(b *testing.B) {
	sc := Generate(GenerateOptions{Seed: 1, Tenants: 1, TenantUsers: []int{5000}})
	s, err := New(sc, Options{StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.base = "https://sim.invalid"
	call := graphCall{org: s.dir.customers[0]}
	u := s.base + "/v1.0/users?$top=999&$select=id,displayName,userPrincipalName,mail,jobTitle,department,accountEnabled,assignedLicenses,businessPhones,mobilePhone,userType"
	served := 0
	for b.Loop() {
		rec := &countingWriter{header: http.Header{}, skipDecode: true}
		s.graphUsers(rec, httptest.NewRequest(http.MethodGet, u, nil), call)
		served += 999
	}
	b.ReportMetric(float64(served)/b.Elapsed().Seconds(), "users/s")
}

// countingWriter keeps only what the benchmark needs of a page (its nextLink and how many
// users it holds), found without a JSON decode so that the benchmark measures the server.
type countingWriter struct {
	header     http.Header
	n          int
	page       usersPage
	skipDecode bool
}

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) WriteHeader(int)     {}
func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	if !w.skipDecode {
		w.page = usersPage{Value: make([]map[string]any, bytes.Count(p, []byte(`"id":`)))}
		const key = `"@odata.nextLink":"`
		if i := bytes.Index(p, []byte(key)); i >= 0 {
			rest := p[i+len(key):]
			w.page.NextLink = string(rest[:bytes.IndexByte(rest, '"')])
		}
	}
	return len(p), nil
}

// BenchmarkGDAPAccessAssignments2000 serves, through the handler, the access assignments of
// each of a partner's 2,000 GDAP relationships, one request each as a discovery reads them,
// and reports the requests served per second.
func BenchmarkGDAPAccessAssignments2000(b *testing.B) {
	s, err := New(Generate(GenerateOptions{Seed: 1, Tenants: 2000, GDAP: 2000}), Options{StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.base = "https://sim.invalid"
	call := graphCall{org: s.dir.partner, claims: accessClaims{Scp: gdapReadScope}}
	var ids []string
	for _, o := range s.dir.customers {
		ids = append(ids, derivedUUID("gdap", o.ID)+"-"+derivedUUID("gdap-customer", o.ID))
	}
	served := 0
	for b.Loop() {
		for _, id := range ids {
			req := httptest.NewRequest(http.MethodGet, s.base+"/v1.0/"+gdapRelationshipsPath+"/"+id+"/"+gdapAccessAssignmentsChild, nil)
			req.SetPathValue("relationship", id)
			rec := &countingWriter{header: http.Header{}}
			s.graphAccessAssignments(rec, req, call)
			if len(rec.page.Value) != 1 {
				b.Fatalf("relationship %s: %d access assignments, want 1", id, len(rec.page.Value))
			}
			served++
		}
	}
	b.ReportMetric(float64(served)/b.Elapsed().Seconds(), "requests/s")
}
