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

// Box seals values with one key and opens them with that key or, while a
// rotation re-seals them, an older one (see Join). The associated data binds
// a ciphertext to where it is stored, so a value copied to another row or
// column does not decrypt.
type Box struct{ aeads []cipher.AEAD }

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
	return &Box{aeads: []cipher.AEAD{aead}}, nil
}

// Join returns a Box that seals with the first box's key and opens with the
// keys of all of them: what re-sealing under a new key needs while values
// sealed with the old one remain.
func Join(first *Box, others ...*Box) *Box {
	j := &Box{aeads: append([]cipher.AEAD{}, first.aeads...)}
	for _, o := range others {
		j.aeads = append(j.aeads, o.aeads...)
	}
	return j
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

// Seal encrypts plaintext with the Box's first key; aad names where the
// value lives (e.g. "partner/acme/pc_client_secret").
func (b *Box) Seal(plaintext []byte, aad string) []byte {
	aead := b.aeads[0]
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	out := append([]byte{version}, nonce...)
	return aead.Seal(out, nonce, plaintext, []byte(aad))
}

// KeyFix is what to do when stored data does not open with the configured
// key; the key check, the catalogue and the CLI all give it.
const KeyFix = "Give cspsync the key the data was sealed with (CSPSYNC_ENCRYPTION_KEY or CSPSYNC_ENCRYPTION_KEY_FILE; " +
	"after `cspsync keys rotate`, the new key) and restart the worker. If that key is lost, run " +
	"`cspsync connect --forget-unreadable` and sign in again, then `cspsync connect` for every other partner (README: Keys)."

// ErrDecrypt means the ciphertext was made with another key, or altered, or
// moved from where it was sealed.
var ErrDecrypt = errors.New("a stored secret does not open with the encryption key: the key differs from the one it was sealed with, or the value was altered")

// ErrWrongKey is the key check's verdict: the configured key does not open
// the stored data. It is an ErrDecrypt, so it is classified alike.
var ErrWrongKey error = wrongKey{}

type wrongKey struct{}

func (wrongKey) Error() string {
	return "the encryption key differs from the one the stored data was sealed with. " + KeyFix
}

func (wrongKey) Is(target error) bool { return target == ErrDecrypt }

// Open decrypts a value sealed with the same aad under any of the Box's keys.
func (b *Box) Open(ciphertext []byte, aad string) ([]byte, error) {
	for _, aead := range b.aeads {
		n := aead.NonceSize()
		if len(ciphertext) < 1+n || ciphertext[0] != version {
			return nil, ErrDecrypt
		}
		if pt, err := aead.Open(nil, ciphertext[1:1+n], ciphertext[1+n:], []byte(aad)); err == nil {
			return pt, nil
		}
	}
	return nil, ErrDecrypt
}
