package sim

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
)

// signer authenticates everything the simulator hands out and later accepts back: access and
// refresh tokens, paging cursors, delta tokens and sign-in form state. All are self-contained and
// MACed with one key persisted in the state directory, so a restarted simulator still accepts
// what an earlier run issued. Each use has its own purpose label so that one kind of token can
// never be replayed as another.
type signer struct{ key []byte }

const (
	purposeJWT     = "jwt"
	purposeRefresh = "refresh-token"
	purposeFlow    = "sign-in-flow"
	purposeCursor  = "cursor"
	purposeDelta   = "delta"
	// purposeGroupDelta seals groups/delta state tokens.
	purposeGroupDelta = "group-delta"
)

var (
	errMalformed = errors.New("token is malformed")
	errSignature = errors.New("token signature is invalid")
)

var b64 = base64.RawURLEncoding

func (s signer) mac(purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

// seal encodes v as an opaque "payload.mac" string.
func (s signer) seal(purpose string, v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		panic("sim: sealing unmarshalable value: " + err.Error()) // only internal structs are sealed
	}
	return b64.EncodeToString(raw) + "." + b64.EncodeToString(s.mac(purpose, raw))
}

// open verifies and decodes a string made by seal with the same purpose.
func (s signer) open(purpose, tok string, v any) error {
	payload, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return errMalformed
	}
	raw, err1 := b64.DecodeString(payload)
	mac, err2 := b64.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return errMalformed
	}
	if !hmac.Equal(mac, s.mac(purpose, raw)) {
		return errSignature
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return errMalformed
	}
	return nil
}

// jwtHeader is fixed: access tokens are HS256 because only the simulator itself ever verifies
// them (clients treat Microsoft access tokens as opaque). ID tokens are RS256 (see idTokenKey).
var jwtHeader = b64.EncodeToString([]byte(`{"typ":"JWT","alg":"HS256","kid":"cspsync-sim"}`))

func (s signer) jwt(claims any) string {
	raw, err := json.Marshal(claims)
	if err != nil {
		panic("sim: marshal claims: " + err.Error())
	}
	input := jwtHeader + "." + b64.EncodeToString(raw)
	return input + "." + b64.EncodeToString(s.mac(purposeJWT, []byte(input)))
}

// parseJWT distinguishes a token that is not a JWT at all (errMalformed, which Graph reports as
// a compact-token parsing failure) from one whose signature does not verify.
func (s signer) parseJWT(tok string, claims any) error {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errMalformed
	}
	raw, err := b64.DecodeString(parts[1])
	if err != nil {
		return errMalformed
	}
	if err := json.Unmarshal(raw, claims); err != nil {
		return errMalformed
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, s.mac(purposeJWT, []byte(parts[0]+"."+parts[1]))) {
		return errSignature
	}
	return nil
}

// newUUID returns a random version-4 UUID for request, trace and correlation ids.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return formatUUID(b)
}

// derivedUUID returns a stable UUID for objects the scenario does not list explicitly (service
// principals, commerce ids, relationship ids), so they stay the same across restarts.
func derivedUUID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	var b [16]byte
	copy(b[:], sum[:])
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// randomToken returns an unguessable opaque string (authorization codes).
func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return b64.EncodeToString(b[:])
}
