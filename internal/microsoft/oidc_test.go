package microsoft_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/microsoft"
)

const (
	testClientID = "0d6a4b8e-1c2f-4e3a-9b5d-7f8e9a0b1c2d"
	testNonce    = "n-0S6_WzA2Mj"
)

var b64 = base64.RawURLEncoding

// keyServer publishes RSA keys at a jwks_uri, as a tenant does, and counts fetches.
type keyServer struct {
	mu      sync.Mutex
	keys    map[string]*rsa.PrivateKey
	fetches int
	srv     *httptest.Server
}

func newKeyServer(t *testing.T) *keyServer {
	ks := &keyServer{keys: map[string]*rsa.PrivateKey{}}
	ks.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.mu.Lock()
		defer ks.mu.Unlock()
		ks.fetches++
		var set []map[string]string
		for kid, k := range ks.keys {
			set = append(set, map[string]string{"kty": "RSA", "use": "sig", "kid": kid,
				"n": b64.EncodeToString(k.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": set})
	}))
	t.Cleanup(ks.srv.Close)
	return ks
}

func (ks *keyServer) publish(t *testing.T, kid string) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.keys[kid] = k
	return k
}

func (ks *keyServer) fetchCount() int { ks.mu.Lock(); defer ks.mu.Unlock(); return ks.fetches }

func (ks *keyServer) metadata() microsoft.OIDCMetadata {
	return microsoft.OIDCMetadata{Issuer: "https://login.example/tid-1/v2.0", JWKSURI: ks.srv.URL + "/keys",
		AuthorizationEndpoint: "https://login.example/tid-1/oauth2/v2.0/authorize", TokenEndpoint: "https://login.example/tid-1/oauth2/v2.0/token"}
}

func signJWT(t *testing.T, alg, kid string, key *rsa.PrivateKey, claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": alg, "kid": kid})
	c, _ := json.Marshal(claims)
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	require.NoError(t, err)
	return input + "." + b64.EncodeToString(sig)
}

func goodClaims(now time.Time) map[string]any {
	return map[string]any{"iss": "https://login.example/tid-1/v2.0", "aud": testClientID, "nonce": testNonce,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "tid": "tid-1",
		"preferred_username": "operator@contoso.example", "name": "Operator", "groups": []string{"g-1"}}
}

func TestIDTokenValidation(t *testing.T) {
	ks := newKeyServer(t)
	key := ks.publish(t, "k1")
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	now := time.Now()
	with := func(name string, v any) map[string]any {
		c := goodClaims(now)
		c[name] = v
		return c
	}
	cases := []struct {
		name, token, want string
	}{
		{"wrong issuer", signJWT(t, "RS256", "k1", key, with("iss", "https://login.example/other-tenant/v2.0")), "not by the partner tenant"},
		{"wrong audience", signJWT(t, "RS256", "k1", key, with("aud", "another-app")), "not for the Partner Center app"},
		{"wrong nonce", signJWT(t, "RS256", "k1", key, with("nonce", "replayed")), "nonce does not match"},
		{"no nonce", signJWT(t, "RS256", "k1", key, with("nonce", "")), "nonce does not match"},
		{"expired", signJWT(t, "RS256", "k1", key, with("exp", now.Add(-10*time.Minute).Unix())), "expired at"},
		{"not yet valid", signJWT(t, "RS256", "k1", key, with("nbf", now.Add(10*time.Minute).Unix())), "not valid before"},
		{"signed by another key under a published kid", signJWT(t, "RS256", "k1", other, goodClaims(now)), "signature does not verify"},
		{"unknown kid", signJWT(t, "RS256", "k-unknown", key, goodClaims(now)), "does not publish"},
		{"algorithm none", func() string {
			tok := signJWT(t, "none", "k1", key, goodClaims(now))
			return tok[:strings.LastIndex(tok, ".")+1] // no signature, as alg none has
		}(), "only RS256"},
		{"not a JWT", "abc.def", "not a signed JWT"},
	}
	a := &microsoft.Auth{HTTP: http.DefaultClient}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := a.ValidateIDToken(context.Background(), ks.metadata(), c.token, testClientID, testNonce, now)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}

	claims, err := a.ValidateIDToken(context.Background(), ks.metadata(), signJWT(t, "RS256", "k1", key, goodClaims(now)), testClientID, testNonce, now)
	require.NoError(t, err)
	assert.Equal(t, "operator@contoso.example", claims.UPN)
	assert.Equal(t, []string{"g-1"}, claims.Groups)

	// Within the allowed clock skew an expired token still passes.
	c := goodClaims(now)
	c["exp"] = now.Add(-time.Minute).Unix()
	_, err = a.ValidateIDToken(context.Background(), ks.metadata(), signJWT(t, "RS256", "k1", key, c), testClientID, testNonce, now)
	assert.NoError(t, err)
}

func TestSigningKeysAreCachedAndRefetchedForAnUnknownKid(t *testing.T) {
	ks := newKeyServer(t)
	k1 := ks.publish(t, "k1")
	a := &microsoft.Auth{HTTP: http.DefaultClient}
	now := time.Now()
	validate := func(kid string, key *rsa.PrivateKey) error {
		_, err := a.ValidateIDToken(context.Background(), ks.metadata(), signJWT(t, "RS256", kid, key, goodClaims(now)), testClientID, testNonce, now)
		return err
	}
	require.NoError(t, validate("k1", k1))
	require.NoError(t, validate("k1", k1))
	assert.Equal(t, 1, ks.fetchCount(), "a known kid is served from the cache")

	// The tenant rolls its keys: a token under the new kid makes cspsync fetch them again.
	k2 := ks.publish(t, "k2")
	require.NoError(t, validate("k2", k2))
	assert.Equal(t, 2, ks.fetchCount())
	require.NoError(t, validate("k1", k1))
	assert.Equal(t, 2, ks.fetchCount())
}
