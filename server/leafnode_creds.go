package server

import (
	"encoding/base64"
	"os"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// leafCreds reads a remote's credentials file: the user JWT and the key
// pair of its seed.
func leafCreds(path string) (string, nkeys.KeyPair, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	token, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return "", nil, fmtErr("credentials %q: %v", path, err)
	}
	kp, err := jwt.ParseDecoratedNKey(b)
	if err != nil {
		return "", nil, fmtErr("credentials %q: %v", path, err)
	}
	return token, kp, nil
}

// signLeafConnect fills CONNECT's jwt and sig from the remote's
// credentials and the hub's nonce.
func signLeafConnect(ci *leafConnectInfo, path, nonce string) error {
	token, kp, err := leafCreds(path)
	if err != nil {
		return err
	}
	defer kp.Wipe()
	sig, err := kp.Sign([]byte(nonce))
	if err != nil {
		return err
	}
	ci.JWT, ci.Sig = token, base64.RawURLEncoding.EncodeToString(sig)
	return nil
}

// signLeafNkey fills CONNECT's nkey and sig from a remote's nkey seed and
// the hub's nonce (as the reference's leaf does: no JWT).
func signLeafNkey(ci *leafConnectInfo, seed, nonce string) error {
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		return err
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return err
	}
	sig, err := kp.Sign([]byte(nonce))
	if err != nil {
		return err
	}
	ci.Nkey, ci.Sig = pub, base64.RawURLEncoding.EncodeToString(sig)
	return nil
}
