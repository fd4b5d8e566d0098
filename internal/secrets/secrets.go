// Package secrets encrypts what cspsync keeps at rest (client secrets, PKCE
// verifiers, MSAL token caches) with AES-256-GCM.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeySize is the AES-256 key length in bytes.
const KeySize = 32

// version prefixes every ciphertext so the format can change without guessing.
const version byte = 1

// Box seals and opens values with one key. The associated data binds a
// ciphertext to where it is stored, so a value copied to another row or
// column does not decrypt.
type Box struct{ aead cipher.AEAD }

// NewBox builds a Box from a raw 32-byte key.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("encryption key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Load returns a Box for the key given inline (base64 or hex of 32 bytes) or,
// when that is empty, read from keyFile. The errors say which setting to fix.
func Load(inline, keyFile string) (*Box, error) {
	const fix = "set CSPSYNC_ENCRYPTION_KEY to 32 random bytes in base64 (for example `openssl rand -base64 32`) or CSPSYNC_ENCRYPTION_KEY_FILE to a file holding it"
	src, text := "CSPSYNC_ENCRYPTION_KEY", inline
	if text == "" {
		if keyFile == "" {
			return nil, fmt.Errorf("no encryption key configured: %s", fix)
		}
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("reading encryption key file: %w; %s", err, fix)
		}
		src, text = keyFile, string(b)
	}
	key, err := ParseKey(text)
	if err != nil {
		return nil, fmt.Errorf("malformed encryption key in %s: %w; %s", src, err, fix)
	}
	return NewBox(key)
}

// ParseKey decodes a key written as base64 (standard or URL alphabet) or hex.
func ParseKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	for _, dec := range []func(string) ([]byte, error){
		base64.StdEncoding.DecodeString,
		base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString,
		base64.RawURLEncoding.DecodeString,
		hex.DecodeString,
	} {
		if k, err := dec(text); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	return nil, fmt.Errorf("want %d bytes encoded as base64 or hex", KeySize)
}

// NewKeyText returns a fresh random key in the form ParseKey reads.
func NewKeyText() string {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.StdEncoding.EncodeToString(k)
}

// Seal encrypts plaintext; aad names where the value lives (e.g. "partner/acme/pc_client_secret").
func (b *Box) Seal(plaintext []byte, aad string) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	out := append([]byte{version}, nonce...)
	return b.aead.Seal(out, nonce, plaintext, []byte(aad))
}

// ErrDecrypt means the ciphertext was made with another key, or altered, or
// moved from where it was sealed.
var ErrDecrypt = errors.New("cannot decrypt stored secret: the encryption key differs from the one it was written with (restore the original CSPSYNC_ENCRYPTION_KEY, or reconnect the partner to store new secrets)")

// Open decrypts a value sealed with the same aad.
func (b *Box) Open(ciphertext []byte, aad string) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(ciphertext) < 1+n || ciphertext[0] != version {
		return nil, ErrDecrypt
	}
	pt, err := b.aead.Open(nil, ciphertext[1:1+n], ciphertext[1+n:], []byte(aad))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}
