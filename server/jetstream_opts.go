package server

import (
	"os"
	"path/filepath"
)

// JetStreamStoreDir is where file streams live: store_dir from the
// jetstream block, else a "nats" folder in the system's temporary directory,
// as with the reference.
func (o *Options) JetStreamStoreDir() string {
	if o.StoreDir != "" {
		return o.StoreDir
	}
	return filepath.Join(os.TempDir(), "nats")
}

// StreamFileStoreConfig is the file store configuration the jetstream block
// gives one stream of an account: its directory
// <store_dir>/jetstream/<account>/streams/<stream> (the reference's layout),
// the sync policy, and the encryption settings (cipher, key, prev_key,
// encrypt_existing). The JetStream API opens every file stream with it.
func (o *Options) StreamFileStoreConfig(account, stream string) (FileStoreConfig, error) {
	fc := FileStoreConfig{
		Dir:             filepath.Join(o.JetStreamStoreDir(), "jetstream", account, "streams", stream),
		SyncInterval:    o.JetStreamSyncInterval,
		SyncAlways:      o.JetStreamSyncAlways,
		EncryptExisting: o.JetStreamEncryptExisting,
	}
	if o.JetStreamKey == "" {
		return fc, nil
	}
	cipher, err := ParseStoreCipher(o.JetStreamCipher)
	if err != nil {
		return fc, err
	}
	fc.Cipher, fc.Key = cipher, []byte(o.JetStreamKey)
	if o.JetStreamPrevKey != "" {
		fc.PrevKey = []byte(o.JetStreamPrevKey)
	}
	return fc, nil
}
